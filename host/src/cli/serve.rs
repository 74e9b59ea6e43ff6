//! `drover serve`: the daemon.

use super::{LogFormat, ServeArgs};
use crate::api::{self, AppState};
use crate::config::{Config, Overrides};
use crate::config::{create_private_dir, write_private_file};
use crate::metrics::Metrics;
use crate::plugins::{Registry, watcher};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::secrets::Vault;
use crate::secrets::credentials::Credentials;
use crate::store::Store;
use crate::task::AbortOnDrop;
use crate::tls;
use crate::workflows::{self, Operations};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// File names inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
pub const DAEMON_FILE: &str = "daemon.json";
const LOCK_FILE: &str = "drover.lock";
const DATABASE_FILE: &str = "drover.db";
/// How long shutdown waits for running operation steps.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let started = Instant::now();
    init_tracing(args.log_format);
    let config = Config::load(
        args.config.as_deref(),
        &Overrides {
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            plugin_dir: args.plugin_dir.clone(),
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            server_url: args.server_url.clone(),
        },
    )?;
    create_private_dir(&config.data_dir)?;
    std::fs::create_dir_all(&config.plugin_dir).with_context(|| {
        format!(
            "cannot create plugin directory {}",
            config.plugin_dir.display()
        )
    })?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let first_start = !config.data_dir.join(DATABASE_FILE).exists();
    let db = Store::open(&config.data_dir.join(DATABASE_FILE))?;
    if first_start {
        let installed = crate::plugins::bundled::install(&config.plugin_dir)?;
        if !installed.is_empty() {
            tracing::info!(plugins = ?installed, "first start: installed the first-party plugins");
        }
    }
    let token_path = config.data_dir.join(ADMIN_TOKEN_FILE);
    let admin_token = admin_token(&token_path)?;
    api::auth::register_admin_token(&db, &admin_token)?;
    let vault = Arc::new(Vault::open(&config.data_dir)?);
    let tls = tls::prepare(&config)?;

    let credentials = Credentials::new(db.clone(), vault);
    let azure = Arc::new(crate::azure::Azure::new(
        credentials.clone(),
        crate::azure::AzureSettings::from_config(&config.azure)?,
    )?);
    let metrics = Metrics::new();
    let runtime = Arc::new(Runtime::new(
        RuntimeOptions {
            azure: Some(azure.clone()),
            ..RuntimeOptions::from_config(&config, metrics.clone())
        },
        db.clone(),
        crate::host_api::link,
    )?);
    tracing::info!(pooling = runtime.pooling(), "wasm runtime ready");
    let config = Arc::new(config);
    let registry = Arc::new(Registry::new(runtime, db.clone(), config.clone()));
    let aks = Arc::new(crate::aks::Aks::new(registry.clone(), db.clone()));
    let operations = Operations::new(
        db.clone(),
        workflows::DEFAULT_CONCURRENCY,
        vec![
            Arc::new(workflows::SelfTest),
            Arc::new(workflows::AksDiscover::new(aks.clone())),
        ],
    );

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another program using it? Pick another with --listen",
                config.listen
            )
        })?;
    let scheme = if tls.server.is_some() {
        "https"
    } else {
        "http"
    };
    let local = listener.local_addr()?;
    // A wildcard address is not something to dial: name this machine.
    let url = if local.ip().is_unspecified() {
        format!("{scheme}://localhost:{}", local.port())
    } else {
        format!("{scheme}://{local}")
    };
    let ca_checksum = tls.ca_checksum();
    let ready = Arc::new(AtomicBool::new(false));
    let imports = Arc::new(crate::imports::Imports::new(
        db.clone(),
        registry.clone(),
        config.import.clone(),
        &url,
        ca_checksum.clone(),
    ));
    let _sweeper = imports.spawn_sweeper();
    let _audit_pruner = spawn_audit_pruner(db.clone(), config.audit_retention);
    let app = api::router(AppState {
        imports: imports.clone(),
        aks,
        registry: registry.clone(),
        credentials,
        operations: operations.clone(),
        store: db.clone(),
        metrics,
        tls: Arc::new(api::TlsInfo {
            mode: tls.mode,
            ca_checksum: ca_checksum.clone(),
            ca_pem: tls.ca_pem.clone(),
        }),
        ready: ready.clone(),
        request_timeout: config.request_timeout,
    });
    // One shutdown signal for everything that must stop: the server, and
    // the initial plugin scan if it is still going.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        api::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let server = match tls.server.clone() {
        Some(server_config) => {
            tokio::spawn(api::serve_tls(listener, server_config, app, stopped()))
        }
        None => {
            let stop = stopped();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            })
        }
    };
    write_private_file(
        &config.data_dir.join(DAEMON_FILE),
        // The CLI on this machine finds the daemon, and the CA to trust for
        // it (generated, or the operator's `[tls] ca`), here.
        serde_json::json!({ "url": url, "pid": std::process::id(), "ca_pem": tls.ca_pem })
            .to_string()
            .as_bytes(),
    )?;

    // Every read in the scan has a deadline, but a directory full of stalled
    // files could still take a while: a shutdown does not wait for it.
    let scanned = tokio::select! {
        scanned = registry.scan() => Some(scanned?),
        () = stopped() => None,
    };
    let _watcher = match scanned {
        Some(failed) => {
            operations.resume_all()?;
            let watcher = watcher::spawn(registry.clone(), failed)?;
            ready.store(true, Ordering::Release);
            Some(watcher)
        }
        None => {
            tracing::warn!("stopped before the plugin directory was loaded");
            None
        }
    };
    let loaded = registry
        .statuses()?
        .iter()
        .filter(|s| s.status == "loaded")
        .count();
    tracing::info!(
        url = %url,
        plugins = loaded,
        startup_ms = started.elapsed().as_millis() as u64,
        "drover is serving"
    );
    // The banner is for whoever started the daemon. A supervisor that reads
    // the first line and closes the pipe must not take the daemon down with
    // it, so write errors are ignored rather than panicking like println!.
    let mut banner = format!("drover listening on {url}\n");
    banner += &format!("  admin token: {}\n", token_path.display());
    if let Some(sum) = &ca_checksum {
        banner += &format!("  ca checksum: {sum} (`drover ca` shows the CA)\n");
    }
    banner += &format!("  agents dial: {}\n", imports.server_url());
    banner += &format!("  plugins:     {}\n", config.plugin_dir.display());
    banner += &format!("  data:        {}\n", config.data_dir.display());
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);

    // The server returns once a shutdown signal arrived and in-flight
    // requests (and the plugin calls inside them) have finished.
    let served = server.await;
    let unfinished = operations.drain(DRAIN_DEADLINE).await;
    if unfinished > 0 {
        tracing::warn!(
            unfinished,
            "operations still running at the drain deadline; they resume on the next start"
        );
    }
    db.checkpoint().context("cannot checkpoint the database")?;
    match served {
        Ok(Ok(())) => {
            tracing::info!("drover stopped");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => Err(e).context("the API server failed"),
        Err(e) => bail!("the API server task failed: {e}"),
    }
}

pub(super) fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    // Colour only for a person at a terminal: a log file or the journal gets
    // plain text (and NO_COLOR is honoured).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Delete audit entries older than `retention` now and every hour.
fn spawn_audit_pruner(db: Store, retention: std::time::Duration) -> AbortOnDrop<()> {
    AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = crate::store::now_ms()
                .saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
            match db.audit_prune(cutoff) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    retention = %humantime::format_duration(retention),
                    "pruned the audit log"
                ),
                Err(e) => tracing::error!("cannot prune the audit log: {e:#}"),
            }
        }
    }))
}

/// Hold an exclusive lock on the data directory for the daemon's lifetime.
fn lock_data_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another drover daemon (pid {}) is using the data directory {}: stop it, or \
                 start this one with a different --data-dir",
                holder.trim(),
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// Read the admin token, creating it (mode 0600) on first start.
fn admin_token(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read_to_string(path) {
        Ok(token) => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "admin token was readable by others; setting mode 0600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            let token = token.trim().to_string();
            if token.len() < 32 {
                bail!(
                    "the admin token in {} is too short to be safe: delete the file and restart \
                     to create a new one",
                    path.display()
                );
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private_file(path, format!("{token}\n").as_bytes())?;
            tracing::info!(path = %path.display(), "created the admin token");
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
