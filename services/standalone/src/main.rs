//! `ghstats`: the whole product in one process (see the crate docs).

use std::process::ExitCode;

use clap::Parser;
use ghstats_runtime::cli::{ConfigArgs, Loaded, run};

/// ghstats in one process: gateway, scheduler and worker on memory backends.
#[derive(Debug, Parser)]
#[command(name = "ghstats", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli
        .config
        .load(|c| Ok(ghstats_standalone::standalone_config(c)))
    {
        Loaded::Run(c) => *c,
        Loaded::Exit(code) => return code,
    };
    run(
        ghstats_standalone::SERVICE,
        config,
        |config, shutdown| async move {
            let listeners = ghstats_standalone::Listeners::bind(&config).await?;
            ghstats_standalone::serve(config, listeners, shutdown).await
        },
    )
}
