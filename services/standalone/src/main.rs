//! `ghstats`: the whole product in one process (see the crate docs).

use std::process::ExitCode;

use clap::Parser;
use ghstats_runtime::cli::{ConfigArgs, Loaded, run, run_service};

/// ghstats in one process: gateway, scheduler and worker on memory backends.
/// `ghstats ctl ...` controls running services instead; `ghstats scheduler`,
/// `ghstats worker` and `ghstats gateway` run one service, as its own binary does.
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
    /// Run only the scheduler, exactly as `ghstats-scheduler` does.
    Scheduler(ServiceArgs),
    /// Run only a worker, exactly as `ghstats-worker` does.
    Worker(ServiceArgs),
    /// Run only a gateway, exactly as `ghstats-gateway` does.
    Gateway(ServiceArgs),
}

/// The flags of one service.
#[derive(Debug, clap::Args)]
struct ServiceArgs {
    #[command(flatten)]
    config: ConfigArgs,
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
    match &cli.command {
        Some(Command::Ctl(args)) => return ctl(args),
        Some(Command::Scheduler(args)) => {
            use ghstats_scheduler as s;
            return run_service(
                s::SERVICE,
                &args.config,
                s::check_config,
                s::listen_addrs,
                s::serve,
            );
        }
        Some(Command::Worker(args)) => {
            use ghstats_worker as w;
            return run_service(
                w::SERVICE,
                &args.config,
                w::check_config,
                w::listen_addrs,
                w::serve,
            );
        }
        Some(Command::Gateway(args)) => {
            use ghstats_gateway as g;
            return run_service(
                g::SERVICE,
                &args.config,
                g::check_config,
                g::listen_addrs,
                g::serve,
            );
        }
        None => {}
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
