//! `locust serve`: one long-running service where many tenants (teams) submit tests, each run
//! sealed off from the others by its own sandboxed instances, grants and quotas.
//!
//! - [`tenants`]: the tenants file (who, token hashes, quotas, grants).
//! - [`store`]: runs, their statistics and components, in SQLite under `--data-dir`.
//! - [`runs`]: submission checks, per-tenant queues, each run a [`crate::run::session::TestSession`].
//! - [`api`]: the versioned JSON API and the pages.
//! - [`workers`]: the worker port, where workers wait for runs.

pub mod api;
pub mod runs;
pub mod store;
pub mod tenants;
pub mod workers;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// `locust serve`: run tests for many tenants in one process.
#[derive(Debug, Parser)]
#[command(name = "locust serve", version, max_term_width = 100)]
pub struct ServeOptions {
    /// The tenants file (TOML): each tenant's name, token hash, quotas and granted hosts.
    #[arg(long, env = "LOCUST_TENANTS", value_name = "FILE")]
    pub tenants: PathBuf,

    /// Where runs, results and components are kept (created if missing).
    #[arg(long = "data-dir", env = "LOCUST_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Host to bind the API and pages to (`*` for every interface).
    #[arg(
        long = "web-host",
        env = "LOCUST_WEB_HOST",
        default_value = "127.0.0.1"
    )]
    pub web_host: String,

    /// Port of the API and pages.
    #[arg(
        long = "web-port",
        short = 'P',
        env = "LOCUST_WEB_PORT",
        default_value_t = 8089
    )]
    pub web_port: u16,

    /// Open a port for workers (`locust --worker --master-host SERVICE --master-port PORT`);
    /// runs then execute on the workers waiting there (0 picks a free port). Without it, runs
    /// execute in the service process.
    #[arg(long = "master-bind-port", env = "LOCUST_MASTER_BIND_PORT")]
    pub master_bind_port: Option<u16>,

    /// Interface of the worker port (`*` for every interface).
    #[arg(
        long = "master-bind-host",
        env = "LOCUST_MASTER_BIND_HOST",
        default_value = "*"
    )]
    pub master_bind_host: String,

    /// Token workers must present (`--master-token` on the workers).
    #[arg(long = "master-token", env = "LOCUST_MASTER_TOKEN")]
    pub master_token: Option<String>,

    /// Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    #[arg(
        long = "loglevel",
        short = 'L',
        env = "LOCUST_LOGLEVEL",
        default_value = "INFO"
    )]
    pub loglevel: String,

    /// Write the log to this file instead of stderr.
    #[arg(long = "logfile", env = "LOCUST_LOGFILE")]
    pub logfile: Option<PathBuf>,
}

/// Serve until SIGINT or SIGTERM; live runs are then stopped and marked interrupted with their
/// statistics. A second signal exits at once (the next start marks them).
pub async fn run(options: ServeOptions) -> anyhow::Result<u8> {
    let tenants = tenants::Tenants::load(&options.tenants)?;
    if tenants.is_empty() {
        anyhow::bail!(
            "the tenants file {} names no tenant; add a [[tenant]] with name and token-sha256",
            options.tenants.display()
        );
    }
    let store = store::Store::open(&options.data_dir)?;
    let count = tenants.len();
    let pool = match options.master_bind_port {
        Some(port) => {
            let pool = workers::WorkerPool::listen(
                &options.master_bind_host,
                port,
                options.master_token.as_deref(),
            )
            .await?;
            tracing::info!(target: "locust.serve", "workers connect to port {} (waiting for workers on {})", pool.address().port(), pool.address());
            Some(pool)
        }
        None => None,
    };
    let service = runs::Service::new(tenants, store, pool);
    let host = if options.web_host == "*" {
        "0.0.0.0"
    } else {
        options.web_host.as_str()
    };
    let listener = tokio::net::TcpListener::bind((host, options.web_port))
        .await
        .with_context(|| format!("could not listen on {host}:{}", options.web_port))?;
    let address = listener.local_addr()?;
    let app = api::router(service.clone());
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(target: "locust.serve", "the API stopped: {error}");
        }
    });
    tracing::info!(target: "locust.serve", "serving {count} tenant(s) at http://{address} (data in {})", options.data_dir.display());
    let signal = crate::headless::shutdown_signal().await;
    tracing::info!(target: "locust.serve", "Got {signal}: stopping the live runs.");
    tokio::select! {
        () = service.shut_down() => {}
        signal = crate::headless::shutdown_signal() => {
            tracing::warn!(target: "locust.serve", "Got {signal} while stopping: exiting now; the next start marks the cut-off runs interrupted.");
        }
    }
    server.abort();
    tracing::info!(target: "locust.serve", "Shutting down, bye.");
    Ok(0)
}
