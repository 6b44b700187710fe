//! The `herald` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Herald delivers every alert to many targets at once (Rootly, PagerDuty,
/// Slack, webhooks, other Alertmanagers) through sandboxed WebAssembly adapters.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
struct Cli {
    /// Log filter (e.g. `info`, `herald=debug`); overrides RUST_LOG.
    #[arg(long, global = true, env = "HERALD_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: load plugins and targets, serve the HTTP API, hot
    /// reload on file changes and SIGHUP, drain and exit 0 on SIGTERM/SIGINT.
    Serve {
        /// The daemon config (TOML); see config/herald.toml and the README.
        #[arg(
            long,
            short,
            env = "HERALD_CONFIG",
            default_value = "config/herald.toml"
        )]
        config: PathBuf,
        /// Listen address, overriding `[server] listen` (e.g. 0.0.0.0:9300).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check the config, every plugin and every target without starting
    /// anything; print each problem with its file and key. Exits 1 on problems.
    CheckConfig {
        /// The daemon config (TOML).
        #[arg(
            long,
            short,
            env = "HERALD_CONFIG",
            default_value = "config/herald.toml"
        )]
        config: PathBuf,
    },
    /// A capture server: prints every request it receives and answers like
    /// the real targets would (PagerDuty, Slack, Rootly, Alertmanager,
    /// webhooks), for trying Herald and for plugin authors.
    Sink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9099")]
        listen: std::net::SocketAddr,
        /// Print auth headers and key fields instead of masking them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Publish one example alert to local mock targets through the webhook
    /// plugin and print what each target received and the per-target result.
    Demo {
        /// Directory holding the built adapters (`make plugins` fills it).
        #[arg(long, default_value = "target/plugins")]
        plugins: PathBuf,
    },
    /// Work with adapter plugins without running the daemon.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run golden cases (YAML/JSON files or directories of them) against a
    /// compiled adapter, with no network. Exits non-zero when any case fails.
    Test {
        /// The adapter component (`.wasm`).
        plugin: PathBuf,
        /// Case files, or directories of `*.yaml`, `*.yml`, `*.json` cases.
        #[arg(required = true)]
        cases: Vec<PathBuf>,
    },
    /// Show an adapter's WIT version, kinds, version, description, exports,
    /// imports, size and sha256.
    Inspect {
        /// The adapter component (`.wasm`).
        plugin: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Logs to stderr: `--log`/HERALD_LOG wins, then RUST_LOG, then `default`.
fn init_tracing(filter: Option<&str>, default: &str, json: bool) {
    let filter = filter
        .map(tracing_subscriber::EnvFilter::new)
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = cli.log.clone();
    match run(cli.command, log).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command, log: Option<String>) -> anyhow::Result<ExitCode> {
    if !matches!(command, Command::Serve { .. }) {
        init_tracing(log.as_deref(), "warn", false);
    }
    match command {
        Command::Serve { config, listen } => serve(&config, listen, log).await,
        Command::CheckConfig { config } => {
            let report = herald::config::check_config(&config).await;
            println!("{}", report.render());
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sink {
            listen,
            show_secrets,
        } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!("herald sink listening on http://{listen} (Ctrl-C to stop)");
            herald::sink::run(
                listener,
                show_secrets,
                |text| println!("{text}"),
                shutdown_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { plugins } => {
            let ok = herald::demo::run(&plugins)
                .await
                .context("the demo could not run")?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugin(PluginCommand::Test { plugin, cases }) => {
            let report = herald::plugin::testkit::run_files(&plugin, &cases).await?;
            println!("{}", report.render().trim_end());
            Ok(if report.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugin(PluginCommand::Inspect { plugin, json }) => {
            let info = herald::plugin::testkit::inspect(&plugin).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("{}", info.render().trim_end());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(
    path: &std::path::Path,
    listen: Option<std::net::SocketAddr>,
    log: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut config = match herald::config::DaemonConfig::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "herald: the config has problems; nothing was started (try `herald check-config`)"
            );
            return Ok(ExitCode::from(2));
        }
    };
    init_tracing(
        log.as_deref(),
        &config.log.level,
        config.log.format == herald::config::LogFormat::Json,
    );
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    let addr = config.server.listen;
    let daemon = herald::daemon::Daemon::build(config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!("herald listening on http://{}", listener.local_addr()?);
    spawn_sighup_reload(daemon.reloader.clone());
    daemon.serve(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads plugins and targets, as a file change would.
fn spawn_sighup_reload(reloader: std::sync::Arc<herald::daemon::Reloader>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; use POST /api/v1/reload");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading plugins and targets");
            let report = reloader.reload().await;
            tracing::info!(?report, "reload finished");
        }
    });
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}
