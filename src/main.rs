//! The `tenantry` command: serve, migrate, seed, create-super-admin, rotate-keys, db, audit.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use axum::serve::ListenerExt;
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
    /// Re-seal every secret at rest (IdP client secrets, provider tokens, TOTP
    /// seeds, webhook signing secrets) under the current ENCRYPTION_KEY;
    /// resumable and idempotent.
    RotateKeys {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
    },
    /// The embedded development PostgreSQL (used when DATABASE_URL is unset),
    /// which keeps running after tenantry exits.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Audit trail tools that need no database.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit export offline: recompute every row's
    /// hash and its link to the row before (exit code 1 at the first broken row).
    Verify {
        /// The export (`GET /api/v1/audit/export`); `-` reads standard input.
        #[arg(long)]
        file: PathBuf,
        /// `ndjson` or `csv`; by default from the file name (`.csv`), else NDJSON.
        #[arg(long)]
        format: Option<ExportFileFormat>,
        /// Accept chains that start after seq 1 (an export with `from=`).
        #[arg(long)]
        allow_partial: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFileFormat {
    Ndjson,
    Csv,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Whether it runs, its data dir, port and pid (exit code 3 when stopped).
    Status,
    /// Stop it cleanly (fast shutdown).
    Stop,
}

fn main() {
    tenantry::memory::no_transparent_huge_pages();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = tenantry::config::worker_threads_from_env() {
        runtime.worker_threads(workers);
    }
    let runtime = runtime
        .enable_all()
        .on_thread_park(tenantry::memory::collect_when_parking)
        .build()
        .expect("start the Tokio runtime");
    if let Err(err) = runtime.block_on(run()) {
        eprintln!("tenantry: {err:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Audit { command }) = &cli.command {
        return audit_command(command);
    }
    let config = Config::from_env()?;
    let _telemetry = telemetry::init(config.log_format, config.otel_endpoint.as_deref());
    if let Some(Command::Db { command }) = &cli.command {
        return db_command(command, &config).await;
    }
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
            for line in &config.unsafe_defaults {
                eprintln!("tenantry: WARNING (development only): {line}");
            }
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
        Command::Db { .. } | Command::Audit { .. } => unreachable!("handled before connecting"),
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
        Command::RotateKeys { batch_size } => rotate_keys(&config, &url, batch_size).await?,
    }
    Ok(())
}

/// Re-seals under the current key with a progress bar on stderr and the count
/// per table on stdout; fails when a value could not be opened.
async fn rotate_keys(config: &Config, url: &str, batch_size: i64) -> anyhow::Result<()> {
    let db = Db::connect(url, 2).await?;
    let secrets = tenantry::app::secret_box(config);
    eprintln!("rotate-keys: re-sealing under key id `{}`", secrets.current_id());
    let reports = tenantry::rotate_keys::run(&db, &secrets, batch_size, |p| {
        let filled = if p.total == 0 {
            20
        } else {
            (p.done * 20 / p.total.max(1)) as usize
        };
        eprintln!(
            "rotate-keys: {:<26} [{}{}] {}/{}",
            p.table,
            "#".repeat(filled.min(20)),
            ".".repeat(20 - filled.min(20)),
            p.done,
            p.total
        );
    })
    .await
    .context("re-sealing secrets at rest")?;
    let mut failed = 0;
    for r in &reports {
        println!("{}: {} re-sealed, {} failed", r.table, r.resealed, r.failed);
        failed += r.failed;
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} rows hold values no configured key opens; add their keys to ENCRYPTION_KEYS_PREVIOUS and run again"
        );
    }
    Ok(())
}

/// `tenantry audit verify`: prints the rows checked and each chain's head, or
/// the first broken row (and exits 1).
fn audit_command(command: &AuditCommand) -> anyhow::Result<()> {
    use tenantry::audit::verify::{FileFormat, VerifyError, verify};
    let AuditCommand::Verify {
        file,
        format,
        allow_partial,
    } = command;
    let format = match format {
        Some(ExportFileFormat::Csv) => FileFormat::Csv,
        Some(ExportFileFormat::Ndjson) => FileFormat::Ndjson,
        None if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => FileFormat::Csv,
        None => FileFormat::Ndjson,
    };
    let result = if file.as_os_str() == "-" {
        verify(std::io::stdin().lock(), format, *allow_partial)
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        verify(std::io::BufReader::with_capacity(1 << 16, f), format, *allow_partial)
    };
    match result {
        Ok(v) => {
            println!("audit verify: OK, {} rows checked, {} chain(s)", v.rows, v.heads.len());
            for h in &v.heads {
                println!("  tenant {}: head seq {} hash {}", h.tenant_id, h.seq, h.hash);
            }
            Ok(())
        }
        Err(VerifyError::Broken(b)) => {
            println!("audit verify: BROKEN at {b}");
            std::process::exit(1);
        }
        Err(e) => Err(e.into()),
    }
}

/// `tenantry db status|stop`, on the cluster in `TENANTRY_DATA_DIR/pg`.
async fn db_command(command: &DbCommand, config: &Config) -> anyhow::Result<()> {
    use tenantry::db::embedded;
    let dir = std::path::Path::new(&config.data_dir);
    if config.database_url.is_some() {
        eprintln!("tenantry: DATABASE_URL is set, so tenantry does not use this embedded cluster");
    }
    match command {
        DbCommand::Status => {
            let status = embedded::cluster_status(dir).await?;
            print!("{status}");
            if !status.running() {
                std::process::exit(3);
            }
        }
        DbCommand::Stop => {
            if embedded::stop_cluster(dir).await? {
                println!(
                    "embedded PostgreSQL stopped ({})",
                    dir.join("pg").join("data").display()
                );
            } else {
                println!(
                    "embedded PostgreSQL is not running ({})",
                    dir.join("pg").join("data").display()
                );
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
    // TCP_NODELAY, as HTTP servers set it: a response written in two parts
    // (headers, then a streamed body) must not wait for the client's ACK.
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?
        .tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
            }
        });
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(addr = %bind, workers, "tenantry listening");
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
