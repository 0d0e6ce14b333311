//! The command line every binary shares (`--config`, `--check-config`,
//! `--dump-config`) and the process lifecycle around a service's `serve`:
//! runtime, telemetry, signals, graceful drain and exit codes.
//!
//! Exit codes: 0 after a clean shutdown, 64 for a bad config (with one
//! message on stderr), 1 when the service fails while running.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use ghstats_config::{Config, ConfigError};

use crate::ServeError;
use ghstats_core::Shutdown;

/// Exit status for a bad config (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

/// Config flags, flattened into each binary's own clap parser.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// YAML config file; without it, defaults plus GHSTATS__* overrides.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the config, print a one-line summary and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Print the effective config (secrets redacted) and exit.
    #[arg(long, conflicts_with = "check_config")]
    pub dump_config: bool,
    /// GET this URL (e.g. http://127.0.0.1:8081/readyz), exit 0 on a 2xx
    /// answer and 1 otherwise: the container health check of images that
    /// have no shell or curl.
    #[arg(long, value_name = "URL", conflicts_with_all = ["check_config", "dump_config"])]
    pub probe: Option<String>,
}

/// What to do after reading the flags.
#[derive(Debug)]
pub enum Loaded {
    Run(Box<Config>),
    Exit(ExitCode),
}

impl ConfigArgs {
    /// Loads the config and answers `--check-config` / `--dump-config`.
    /// `prepare` checks what this binary needs beyond the schema and may
    /// adjust the config; checks and dumps show the prepared config.
    pub fn load(&self, prepare: impl FnOnce(Config) -> Result<Config, ConfigError>) -> Loaded {
        if let Some(url) = &self.probe {
            return Loaded::Exit(ghstats_core::probe::probe(url));
        }
        let loaded = match &self.config {
            Some(path) => ghstats_config::load_file(path),
            None => ghstats_config::load_str("", "defaults", std::env::vars()),
        }
        .and_then(prepare);
        let config = match loaded {
            Ok(c) => c,
            Err(e) => return Loaded::Exit(config_error(&e)),
        };
        if self.check_config {
            println!("config ok: {}", config.summary());
            return Loaded::Exit(ExitCode::SUCCESS);
        }
        if self.dump_config {
            print!("{}", config.to_redacted_yaml());
            return Loaded::Exit(ExitCode::SUCCESS);
        }
        Loaded::Run(Box::new(config))
    }
}

/// Prints a config error the one way and returns exit status 64.
pub fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("config error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// Makes rustls use `ring` (no OpenSSL, no aws-lc); idempotent.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs `task` to completion on a new Tokio runtime (multi-threaded for
/// services, current-thread for short commands), with the crypto provider
/// installed; `Err` when the runtime cannot start (said on stderr).
pub fn block_on<T>(multi_thread: bool, task: impl Future<Output = T>) -> Result<T, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    install_crypto_provider();
    Ok(runtime.block_on(task))
}

/// Runs `service` to completion: builds the runtime, starts telemetry and
/// the signal listener, awaits `serve`, then drains tracked tasks within
/// `server.shutdown_grace_period`.
pub fn run<F, Fut>(service: &str, config: Config, serve: F) -> ExitCode
where
    F: FnOnce(Config, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), ServeError>>,
{
    let outcome = block_on(true, async move {
        let telemetry = match crate::telemetry::init(service, &config) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), config = %config.summary(), "starting");
        let grace = config.server.shutdown_grace_period.get();
        let shutdown = Shutdown::new();
        shutdown.listen_for_signals();
        let result = serve(config, shutdown.clone()).await;
        shutdown.trigger();
        shutdown.drain(grace).await;
        let code = match result {
            Ok(()) => {
                tracing::info!(service, "stopped");
                ExitCode::SUCCESS
            }
            Err(ServeError::Config(e)) => {
                tracing::error!(service, error = %e, "bad config");
                config_error(&e)
            }
            Err(e) => {
                tracing::error!(service, error = %e, "stopped with an error");
                eprintln!("{service}: {e}");
                ExitCode::FAILURE
            }
        };
        telemetry.shutdown();
        code
    });
    outcome.unwrap_or_else(|code| code)
}

/// The whole `main` of a service binary: flags, config, listeners, `serve`.
pub fn run_service<Fut>(
    service: &'static str,
    args: &ConfigArgs,
    extra_check: impl FnOnce(&Config) -> Result<(), ConfigError>,
    listen_addrs: fn(&Config) -> (std::net::SocketAddr, std::net::SocketAddr),
    serve: fn(Config, crate::ServiceListeners, Shutdown) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), ServeError>>,
{
    let config = match args.load(|c| extra_check(&c).map(|()| c)) {
        Loaded::Run(c) => *c,
        Loaded::Exit(code) => return code,
    };
    run(service, config, move |config, shutdown| async move {
        let (http, grpc) = listen_addrs(&config);
        let listeners = crate::ServiceListeners::bind(http, grpc).await?;
        serve(config, listeners, shutdown).await
    })
}

/// Writes the `main` of a service binary whose lib crate `$krate` exports
/// `SERVICE`, `check_config`, `listen_addrs` and `serve`. The calling crate
/// depends on `clap`.
#[macro_export]
macro_rules! service_main {
    ($krate:ident, $bin:literal, $about:literal) => {
        #[derive(Debug, clap::Parser)]
        #[command(name = $bin, version, about = $about)]
        struct Cli {
            #[command(flatten)]
            config: $crate::cli::ConfigArgs,
        }

        fn main() -> std::process::ExitCode {
            let cli = <Cli as clap::Parser>::parse();
            $crate::cli::run_service(
                $krate::SERVICE,
                &cli.config,
                $krate::check_config,
                $krate::listen_addrs,
                $krate::serve,
            )
        }
    };
}
