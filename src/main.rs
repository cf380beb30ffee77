//! The `tenantry` command: serve, migrate, seed, create-super-admin.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tenantry::{app::AppState, bootstrap, config::Config, db::Db, telemetry};

/// mimalloc instead of glibc's malloc: allocation was ~12 % of the server's CPU
/// on the list path (bench/RESULTS.md). Argon2's 19 MiB working buffers are
/// allocated once per hashing thread, so they no longer depend on the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tenantry", version, about = "Enterprise multi-tenant backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (default). Applies pending migrations first.
    Serve {
        /// Do not apply migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
        /// Also create the sample data (`tenantry seed`) when it is missing.
        #[arg(long)]
        seed: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Create sample data (two tenants, a user in each role, projects, documents).
    Seed,
    /// Create a super admin in the system tenant.
    CreateSuperAdmin {
        #[arg(long)]
        email: String,
        /// Read from SUPER_ADMIN_PASSWORD when set, else prompted on the terminal.
        #[arg(long, env = "SUPER_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("tenantry: {err:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let url = bootstrap::database_url(&config).await?;
    match cli.command.unwrap_or(Command::Serve {
        no_migrate: false,
        seed: false,
    }) {
        Command::Migrate => {
            Db::migrate(&url).await.context("applying migrations")?;
            println!("migrations applied");
        }
        Command::Serve { no_migrate, seed } => {
            if !no_migrate {
                Db::migrate(&url).await.context("applying migrations")?;
            }
            serve(config, &url, seed).await?;
        }
        Command::Seed => {
            Db::migrate(&url).await.context("applying migrations")?;
            let db = Db::connect(&url, 4).await?;
            let state = AppState::new(config, db).await?;
            tenantry::seed::run(&state).await?;
        }
        Command::CreateSuperAdmin { email, password } => {
            let password = match password {
                Some(p) => p,
                None => prompt_password()?,
            };
            Db::migrate(&url).await.context("applying migrations")?;
            let db = Db::connect(&url, 2).await?;
            if bootstrap::ensure_super_admin(&db, &email, &password).await? {
                println!("super admin {email} created");
            } else {
                println!("super admin {email} already exists; password left unchanged");
            }
        }
    }
    Ok(())
}

fn prompt_password() -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("Password for the new super admin: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn serve(config: Config, url: &str, seed: bool) -> anyhow::Result<()> {
    let db = Db::connect(url, config.database_max_connections).await?;
    bootstrap::ensure_configured_super_admin(&config, &db).await?;
    let bind = config.bind_addr;
    let state = AppState::new(config, db).await?;
    if seed {
        tenantry::seed::run(&state).await?;
    }
    let background = tenantry::jobs::spawn(&state);
    let app = tenantry::router::router(state);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(addr = %bind, "tenantry listening");
    eprintln!("tenantry: listening on http://{bind} (docs at http://{bind}/docs)");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    background.shutdown().await;
    tracing::info!("tenantry stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutdown signal received; draining in-flight requests");
}
