//! The registry of loaded plugins: at most one serving version per name.
//!
//! A load compiles off the async threads, inspects, links and asks the
//! component who it is; only a version that passes every check replaces the
//! serving one, in one atomic swap. Calls hold an `Arc` to the version they
//! started on, so in-flight calls finish on it and it is freed when the last
//! one ends. A failed load leaves the serving version in place and records
//! why.

use crate::config::{Config, Limits, PluginFileLimits};
use crate::permissions::Policy;
use crate::plugins::Manifest;
use crate::runtime::{Capability, Prepared, Runtime};
use crate::store::{PluginRow, Store, now_ms};
use crate::text::{error_line, one_line};
use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One loaded version of a plugin.
pub struct LoadedPlugin {
    pub prepared: Prepared,
    pub manifest: Manifest,
    pub sha256: String,
    pub wit_version: semver::Version,
    pub loaded_at: i64,
    /// Compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// Limits that were lowered to the operator's maxima.
    pub limit_notes: Vec<String>,
    /// Hash of wasm and manifest bytes: an unchanged pair is not reloaded.
    source_hash: String,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.prepared.name
    }
    pub fn capability(&self) -> Capability {
        self.prepared.capability
    }
}

/// What `drover plugin ls` and `GET /v1/plugins` show for one plugin.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PluginStatus {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    /// World name, e.g. `import-manifests`.
    pub capability: Option<String>,
    /// The `drover:plugin` package version it was built against.
    pub wit_version: Option<String>,
    /// `loaded` or `failed`.
    pub status: String,
    /// Why the last load failed; with status `loaded` the previous version
    /// is still serving.
    pub error: Option<String>,
    pub sha256: Option<String>,
    /// RFC 3339.
    pub loaded_at: Option<String>,
    pub limits: Option<Limits>,
    /// Requested permissions, one line per interface.
    pub permissions: Vec<String>,
    pub compiled_from_cache: Option<bool>,
}

pub struct Registry {
    runtime: Arc<Runtime>,
    db: Store,
    config: Arc<Config>,
    dir: PathBuf,
    plugins: RwLock<HashMap<String, Arc<LoadedPlugin>>>,
    load_attempts: AtomicU64,
}

/// Read a plugin's files and check them all the way to a callable plugin:
/// manifest, bytes, compile, world, WIT version, link, and `plugin-info`
/// matching the manifest. Shared by the registry and `drover plugin check`.
pub async fn prepare_plugin(
    runtime: &Arc<Runtime>,
    config: &Config,
    expected_name: Option<&str>,
    wasm: Vec<u8>,
    manifest_text: &str,
) -> Result<LoadedPlugin> {
    let manifest = Manifest::parse(manifest_text)?;
    if let Some(expected) = expected_name
        && manifest.name != expected
    {
        bail!(
            "manifest names the plugin {:?} but the files are {expected}.wasm and \
             {expected}.toml: rename the files or fix `name`",
            manifest.name
        );
    }
    let source_hash = source_hash(&wasm, manifest_text);
    let rt = runtime.clone();
    let compiled = tokio::task::spawn_blocking(move || rt.compile(&wasm))
        .await
        .map_err(|e| anyhow!("compiler task failed: {e}"))??;
    let inspection = runtime.inspect(&compiled.component)?;
    let (limits, limit_notes) = config.limits_for(&manifest.name, &manifest.limits);
    let granted = config
        .grants
        .get(&manifest.name)
        .map(|g| g.permissions.clone())
        .unwrap_or_default();
    let policy = Arc::new(Policy {
        plugin: manifest.name.clone(),
        requested: manifest.permissions.clone(),
        granted,
        config_source: config.source_display(),
    });
    let prepared = runtime.prepare(
        &manifest.name,
        &compiled.component,
        inspection.capability,
        limits,
        policy,
    )?;
    let info = runtime
        .plugin_info(&prepared)
        .await
        .context("calling plugin-info.info failed")?;
    if info.name != manifest.name || info.version != manifest.version {
        bail!(
            "the component says it is {} {} but its manifest says {} {}: rebuild the plugin or \
             fix the manifest so they match",
            one_line(&info.name, 64),
            one_line(&info.version, 64),
            manifest.name,
            manifest.version
        );
    }
    if info.description != manifest.description {
        bail!(
            "the component describes itself as {:?} but its manifest says {:?}: operators see the \
             description in `drover plugin ls`, so make the two the same (the SDK's \
             plugin_info!() reads it from Cargo.toml)",
            one_line(&info.description, 256),
            one_line(&manifest.description, 256),
        );
    }
    Ok(LoadedPlugin {
        prepared,
        manifest,
        sha256: compiled.sha256,
        wit_version: inspection.wit_version,
        loaded_at: now_ms(),
        from_cache: compiled.from_cache,
        limit_notes,
        source_hash,
    })
}

/// Read one file of the plugin directory, treating it as hostile: only a
/// regular file is read (a symlink is followed, and must lead to a regular
/// file), it is opened non-blocking so nothing can make the read wait on a
/// writer, it may be at most `max` bytes, and the loader stops waiting for
/// it after the configured deadline (the blocking thread reading it may stay
/// stuck on a file system that stopped answering; nothing waits for it).
/// `Ok(None)` when the file does not exist. Errors name the file and the
/// rule it broke, never its contents.
pub async fn read_plugin_file(
    path: &Path,
    max: u64,
    limits: &PluginFileLimits,
    setting: &'static str,
) -> Result<Option<Vec<u8>>> {
    let owned = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || read_bounded(&owned, max, setting));
    match tokio::time::timeout(limits.read_timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => bail!("reading {} failed: {e}", path.display()),
        Err(_) => bail!(
            "reading {} took longer than {} and was given up ([plugin_files] read_timeout): is it \
             on a file system that stopped answering?",
            path.display(),
            humantime::format_duration(limits.read_timeout)
        ),
    }
}

fn read_bounded(path: &Path, max: u64, setting: &str) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let kind_of = |meta: &std::fs::Metadata| {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a named pipe (FIFO)"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }
    };
    let not_regular = |meta: &std::fs::Metadata| {
        anyhow!(
            "{} is {}: only regular files (or symlinks to regular files) are loaded as plugins",
            path.display(),
            kind_of(meta)
        )
    };
    let too_big = |size: u64| {
        anyhow!(
            "{} is {size} bytes, over the limit of {max} bytes: if it is meant to be this big, \
             raise [plugin_files] {setting} in the daemon's config",
            path.display()
        )
    };
    // Follows a symlink, as the open below does.
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    // What was opened may not be what was looked at a moment ago.
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(Some(bytes))
}

/// Identity of a plugin's files: an unchanged pair is not reloaded.
fn source_hash(wasm: &[u8], manifest_text: &str) -> String {
    let mut h = Sha256::new();
    h.update(wasm);
    h.update(manifest_text.as_bytes());
    hex::encode(h.finalize())
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>, db: Store, config: Arc<Config>) -> Registry {
        let dir = config.plugin_dir.clone();
        Registry {
            runtime,
            db,
            config,
            dir,
            plugins: RwLock::new(HashMap::new()),
            load_attempts: AtomicU64::new(0),
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn store(&self) -> &Store {
        &self.db
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The serving version of `name`. Hold the `Arc` for the whole call.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().get(name).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<LoadedPlugin>>> {
        self.plugins.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<LoadedPlugin>>> {
        self.plugins.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Load (or reload) `<dir>/<name>.wasm` with its manifest. On success the
    /// new version serves from now on; on failure the previous version (if
    /// any) keeps serving and the reason is recorded.
    pub async fn load(&self, name: &str) -> Result<Arc<LoadedPlugin>, String> {
        self.load_attempts.fetch_add(1, Ordering::Relaxed);
        let result = self.try_load(name).await;
        let metrics = self.runtime.metrics();
        metrics.reload(name, if result.is_ok() { "loaded" } else { "failed" });
        match result {
            Ok(plugin) => Ok(plugin),
            Err(e) => {
                let message = error_line(&e);
                let serving = self.get(name).is_some();
                if let Err(db) = self.db.plugin_failed(name, &message, serving) {
                    tracing::error!(plugin = name, "cannot record load failure: {db:#}");
                }
                if serving {
                    tracing::warn!(
                        plugin = name,
                        "new version not loaded, previous version keeps serving: {message}"
                    );
                } else {
                    tracing::warn!(plugin = name, "plugin not loaded: {message}");
                }
                Err(message)
            }
        }
    }

    async fn try_load(&self, name: &str) -> Result<Arc<LoadedPlugin>> {
        crate::config::validate_plugin_name(name).context("the file name is the plugin name")?;
        let wasm_path = self.dir.join(format!("{name}.wasm"));
        let manifest_path = self.dir.join(format!("{name}.toml"));
        let files = &self.config.plugin_files;
        let wasm = read_plugin_file(
            &wasm_path,
            files.max_component_bytes,
            files,
            "max_component_mib",
        )
        .await?
        .with_context(|| format!("{} is gone", wasm_path.display()))?;
        let Some(manifest_bytes) = read_plugin_file(
            &manifest_path,
            files.max_manifest_bytes,
            files,
            "max_manifest_kib",
        )
        .await?
        else {
            bail!(
                "no manifest: put {name}.toml (name, version, description, permissions, limits) \
                 beside {name}.wasm"
            );
        };
        let manifest_text = String::from_utf8(manifest_bytes)
            .map_err(|_| anyhow!("{} is not UTF-8 text", manifest_path.display()))?;
        if let Some(current) = self.get(name)
            && source_hash(&wasm, &manifest_text) == current.source_hash
        {
            // The serving version is back (e.g. after a broken copy was
            // replaced): keep it, and clear the recorded failure.
            self.record_loaded(&current)?;
            return Ok(current);
        }
        let plugin = Arc::new(
            prepare_plugin(
                &self.runtime,
                &self.config,
                Some(name),
                wasm,
                &manifest_text,
            )
            .await?,
        );
        for note in &plugin.limit_notes {
            tracing::warn!(plugin = name, "limit capped: {note}");
        }
        self.record_loaded(&plugin)?;
        let previous = self.write().insert(name.to_string(), plugin.clone());
        tracing::info!(
            plugin = name,
            version = %plugin.manifest.version,
            capability = %plugin.capability(),
            sha256 = %plugin.sha256,
            from_cache = plugin.from_cache,
            replaced = previous.as_ref().map(|p| p.manifest.version.as_str()).unwrap_or("-"),
            "plugin loaded"
        );
        Ok(plugin)
    }

    /// Loads attempted since start, successful or not.
    pub fn load_attempts(&self) -> u64 {
        self.load_attempts.load(Ordering::Relaxed)
    }

    fn record_loaded(&self, plugin: &LoadedPlugin) -> Result<()> {
        self.db
            .plugin_loaded(&PluginRow {
                name: plugin.name().to_string(),
                version: Some(plugin.manifest.version.clone()),
                description: Some(plugin.manifest.description.clone()),
                sha256: Some(plugin.sha256.clone()),
                capability: Some(plugin.capability().to_string()),
                wit_version: Some(plugin.wit_version.to_string()),
                status: "loaded".into(),
                error: None,
                loaded_at: Some(plugin.loaded_at),
            })
            .context("cannot record the loaded plugin")
    }

    /// Stop serving `name`. Calls in flight keep their version alive until
    /// they end.
    pub fn unload(&self, name: &str) {
        let removed = self.write().remove(name);
        if let Err(e) = self.db.plugin_removed(name) {
            tracing::error!(plugin = name, "cannot record unload: {e:#}");
        }
        if let Some(p) = removed {
            tracing::info!(
                plugin = name,
                version = %p.manifest.version,
                in_flight = Arc::strong_count(&p) - 1,
                "plugin unloaded"
            );
        }
    }

    /// Plugin names present on disk (`*.wasm`).
    pub fn names_on_disk(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read plugin directory {}", self.dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "wasm")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Load everything in the directory; forget plugins that are gone.
    /// Returns the names that failed.
    pub async fn scan(&self) -> Result<Vec<String>> {
        let names = self.names_on_disk()?;
        self.db.plugins_retain(&names)?;
        let mut failed = Vec::new();
        for name in &names {
            if self.load(name).await.is_err() {
                failed.push(name.clone());
            }
        }
        Ok(failed)
    }

    /// Status of every known plugin, loaded or failed.
    pub fn statuses(&self) -> Result<Vec<PluginStatus>> {
        let rows = self.db.plugins()?;
        let loaded = self.read();
        Ok(rows
            .into_iter()
            .map(|row| {
                let live = loaded.get(&row.name);
                PluginStatus {
                    limits: live.map(|p| p.prepared.limits),
                    permissions: live
                        .map(|p| p.manifest.permissions.summary())
                        .unwrap_or_default(),
                    compiled_from_cache: live.map(|p| p.from_cache),
                    loaded_at: row.loaded_at.map(format_ms),
                    name: row.name,
                    version: row.version,
                    description: row.description,
                    capability: row.capability,
                    wit_version: row.wit_version,
                    status: row.status,
                    error: row.error,
                    sha256: row.sha256,
                }
            })
            .collect())
    }
}

/// Unix milliseconds → RFC 3339 (UTC, seconds).
pub fn format_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
