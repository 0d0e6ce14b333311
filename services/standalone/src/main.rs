//! `ghstats`: the whole product in one process (see the crate docs).

use std::process::ExitCode;

use clap::Parser;
use ghstats_runtime::cli::{ConfigArgs, Loaded, run};

/// ghstats in one process: gateway, scheduler and worker on memory backends.
/// `ghstats ctl ...` controls running services instead.
#[derive(Debug, Parser)]
#[command(name = "ghstats", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Control and inspect running services over gRPC.
    Ctl(ghstats_standalone::ctl::CtlArgs),
}

fn ctl(args: &ghstats_standalone::ctl::CtlArgs) -> ExitCode {
    match ghstats_runtime::cli::block_on(false, ghstats_standalone::ctl::run(args)) {
        Ok(Ok(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("ghstats ctl: {e}");
            ExitCode::FAILURE
        }
        Err(code) => code,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Ctl(args)) = &cli.command {
        return ctl(args);
    }
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
