//! The plugin runtime: one wasmtime engine for the daemon, components
//! compiled once (and cached on disk), and one fresh `Store` + instance per
//! call from a cached `InstancePre`.
//!
//! Every call runs under three limits, each with a default and a per-plugin
//! setting capped by the operator's maxima: a CPU deadline (epoch ticks while
//! guest code runs), a memory cap (the store's resource limiter) and a
//! wall-clock timeout around the whole call, host awaits included. Hitting a
//! limit, a trap or a guest panic fails that one call with a [`CallError`]
//! naming plugin, cause and limit; nothing else is affected.

pub mod bindings;
pub mod output;

use crate::config::{Limits, create_private_dir, write_private_file};
use crate::metrics::Metrics;
use crate::permissions::Policy;
use crate::store::Store;
use anyhow::{Context, Result, anyhow, bail};
use bindings::aks_discovery::{AksDiscovery, AksDiscoveryPre};
use bindings::import_manifests::{ImportManifests, ImportManifestsPre};
use output::{GuestOutput, Stream};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "drover:plugin";
/// Its version. Plugins built against this version or an older one of the
/// same series are accepted; see [`wit_compatible`].
pub const WIT_VERSION: semver::Version = semver::Version::new(0, 1, 1);

/// Length of one epoch tick; the CPU deadline is counted in ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// Log records one call may write through the `log` interface before the
/// rest are counted and dropped.
pub const LOG_RECORDS_PER_CALL: u32 = 1_000;

/// Instances that may run at once (the pooling allocator's slots).
const MAX_CONCURRENT_INSTANCES: u32 = 128;

/// What a plugin does, read from the interfaces its component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// World `import-manifests`, export `drover:plugin/manifests`.
    ImportManifests,
    /// World `aks-discovery`, export `drover:plugin/discovery`.
    AksDiscovery,
}

impl Capability {
    pub const ALL: &[Capability] = &[Capability::ImportManifests, Capability::AksDiscovery];

    /// The world's name in `wit/worlds.wit`.
    pub fn world(self) -> &'static str {
        match self {
            Capability::ImportManifests => "import-manifests",
            Capability::AksDiscovery => "aks-discovery",
        }
    }

    /// The interface whose export identifies the world.
    fn export_interface(self) -> &'static str {
        match self {
            Capability::ImportManifests => "manifests",
            Capability::AksDiscovery => "discovery",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// Whether a plugin built against `version` of the WIT package can run here:
/// the same series (same major, or same minor while major is 0) and not newer
/// than this host.
pub fn wit_compatible(version: &semver::Version) -> bool {
    let host = &WIT_VERSION;
    let same_series = if host.major == 0 {
        version.major == 0 && version.minor == host.minor
    } else {
        version.major == host.major
    };
    same_series && version <= host && version.pre.is_empty()
}

fn supported_range() -> String {
    if WIT_VERSION.major == 0 {
        format!("{WIT_PACKAGE}@0.{}.0 to @{WIT_VERSION}", WIT_VERSION.minor)
    } else {
        format!("{WIT_PACKAGE}@{}.0.0 to @{WIT_VERSION}", WIT_VERSION.major)
    }
}

/// Per-call store data: the WASI context, limit bookkeeping, and what the
/// host interfaces need to serve this plugin.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: CallLimits,
    /// The plugin this call belongs to.
    pub plugin: Arc<str>,
    /// The daemon's database (for the `state` interface).
    pub db: Store,
    /// Azure Resource Manager (for the `azure` interface); None where the
    /// daemon has no Azure access (offline `plugin check`, some tests).
    pub azure: Option<Arc<crate::azure::Azure>>,
    /// The plugin's effective permissions.
    pub policy: Arc<Policy>,
    /// `log` records this call may still write.
    pub log_budget: u32,
    /// `log` records dropped over the budget.
    pub log_dropped: u64,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory cap and CPU deadline for one call, recording which one was hit.
struct CallLimits {
    memory_cap: usize,
    memory_hit: Option<usize>,
    cpu_ticks_max: u64,
    cpu_ticks_used: u64,
    cpu_hit: bool,
}

impl wasmtime::ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_hit = Some(desired);
            // Trap instead of failing the grow: a Rust guest would otherwise
            // abort somewhere deep in its allocator.
            return Err(wasmtime::Error::msg("memory cap reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(
        "plugin {plugin:?} ran past its CPU deadline of {limit_ms} ms and was stopped; \
         raise `cpu_ms` in its manifest or [plugins.{plugin}.limits] if it needs more"
    )]
    Cpu { plugin: String, limit_ms: u64 },
    #[error(
        "plugin {plugin:?} tried to grow its memory to {requested} bytes, over its cap of \
         {limit_mib} MiB, and was stopped; raise `memory_mib` if it needs more"
    )]
    Memory {
        plugin: String,
        limit_mib: u64,
        requested: usize,
    },
    #[error(
        "plugin {plugin:?} did not finish within its wall-clock timeout of {limit_ms} ms and \
         was stopped; raise `timeout_ms` if it needs more"
    )]
    Timeout { plugin: String, limit_ms: u64 },
    #[error("plugin {plugin:?} panicked: {message}")]
    Panic { plugin: String, message: String },
    #[error("plugin {plugin:?} trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin {plugin:?} could not be started: {message}")]
    Instantiate { plugin: String, message: String },
    #[error("plugin {plugin:?} returned an error: {}", bindings::describe(error))]
    Plugin {
        plugin: String,
        error: bindings::WitError,
    },
}

impl CallError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Cpu { .. } => "cpu-limit",
            CallError::Memory { .. } => "memory-limit",
            CallError::Timeout { .. } => "timeout",
            CallError::Panic { .. } => "panic",
            CallError::Trap { .. } => "trap",
            CallError::Instantiate { .. } => "instantiate",
            CallError::Plugin { .. } => "plugin-error",
        }
    }
}

/// A component compiled for this engine.
pub struct Compiled {
    pub component: Component,
    pub sha256: String,
    /// True when it came from the on-disk compile cache.
    pub from_cache: bool,
}

/// What the component's imports and exports say about it.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub capability: Capability,
    pub wit_version: semver::Version,
}

/// A component linked against the host and ready to instantiate.
#[derive(Clone)]
pub enum WorldPre {
    ImportManifests(ImportManifestsPre<HostState>),
    AksDiscovery(AksDiscoveryPre<HostState>),
}

/// A live instance for one call.
pub enum WorldInstance {
    ImportManifests(ImportManifests),
    AksDiscovery(AksDiscovery),
}

/// The future a call body returns: borrows the store and instance.
pub type CallFuture<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// Everything needed to call one loaded plugin.
#[derive(Clone)]
pub struct Prepared {
    pub name: Arc<str>,
    pub capability: Capability,
    pub pre: WorldPre,
    pub limits: Limits,
    pub policy: Arc<Policy>,
}

pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Operator maxima: the pooling allocator's slots are sized for them.
    pub max_limits: Limits,
    /// Use the pooling allocator when the machine has the address space.
    pub pooling: bool,
    /// Where call counts, latencies and limit hits are recorded.
    pub metrics: Metrics,
    /// Azure access for the `azure` host interface.
    pub azure: Option<Arc<crate::azure::Azure>>,
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    db: Store,
    cache_dir: Option<PathBuf>,
    fingerprint: String,
    pooling: bool,
    metrics: Metrics,
    azure: Option<Arc<crate::azure::Azure>>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Build the engine and linker. `link` adds the host interfaces.
    pub fn new(
        options: RuntimeOptions,
        db: Store,
        link: impl FnOnce(&mut Linker<HostState>) -> Result<()>,
    ) -> Result<Runtime> {
        let (engine, pooling) = build_engine(&options)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        link(&mut linker)?;
        if let Some(dir) = &options.cache_dir {
            create_private_dir(dir)?;
        }
        let fingerprint = engine_fingerprint(&engine);
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(Runtime {
            engine,
            linker,
            db,
            cache_dir: options.cache_dir,
            fingerprint,
            pooling,
            metrics: options.metrics,
            azure: options.azure,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Compile `bytes`, or load them from the compile cache. Blocking and
    /// CPU-heavy: call it off the async threads.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled> {
        check_header(bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let cached = self
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{sha256}-{}.cwasm", self.fingerprint)));
        if let Some(path) = cached.as_ref().filter(|p| p.exists()) {
            // Read into memory rather than mmap: a cache file truncated behind
            // the daemon's back must not be able to crash it with SIGBUS.
            let loaded = std::fs::read(path)
                .map_err(wasmtime::Error::from)
                .and_then(|code| {
                    // SAFETY: cache files are written only by `write_cache`, into
                    // a 0700 directory inside the daemon's data directory, and
                    // their names carry the engine's compatibility fingerprint;
                    // wasmtime still checks the header and version it embeds.
                    unsafe { Component::deserialize(&self.engine, &code) }
                });
            match loaded {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        sha256,
                        from_cache: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "discarding unusable compile cache entry: {e}");
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| anyhow!("not a valid WebAssembly component: {}", root_message(&e)))?;
        if let Some(path) = cached
            && let Err(e) = write_cache(&component, &path)
        {
            tracing::warn!(path = %path.display(), "cannot write compile cache: {e:#}");
        }
        Ok(Compiled {
            component,
            sha256,
            from_cache: false,
        })
    }

    /// Which world the component implements and which WIT version it was
    /// built against.
    pub fn inspect(&self, component: &Component) -> Result<Inspection> {
        let ty = component.component_type();
        let mut versions = BTreeSet::new();
        let mut exported = Vec::new();
        let mut other_exports = Vec::new();
        for (name, _) in ty.exports(&self.engine) {
            match parse_drover_name(name) {
                Some((iface, version)) => {
                    versions.insert(version);
                    exported.push(iface.to_string());
                }
                None => other_exports.push(name.to_string()),
            }
        }
        for (name, _) in ty.imports(&self.engine) {
            if let Some((_, version)) = parse_drover_name(name) {
                versions.insert(version);
            }
        }
        if let Some(bad) = versions.iter().find(|v| !wit_compatible(v)) {
            bail!(
                "incompatible WIT version: the plugin was built against {WIT_PACKAGE}@{bad}, \
                 this daemon supports {}; rebuild it with a drover-sdk for WIT {WIT_VERSION}, \
                 or upgrade the daemon",
                supported_range()
            );
        }
        if versions.len() > 1 {
            bail!(
                "the component mixes WIT versions {}: rebuild it against one version",
                versions
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let known: Vec<&str> = Capability::ALL
            .iter()
            .map(|c| c.export_interface())
            .collect();
        let capability = Capability::ALL
            .iter()
            .copied()
            .find(|c| exported.iter().any(|e| e == c.export_interface()));
        let Some(capability) = capability else {
            let found = if exported.is_empty() && other_exports.is_empty() {
                "nothing".to_string()
            } else {
                exported
                    .iter()
                    .map(|e| format!("{WIT_PACKAGE}/{e}"))
                    .chain(other_exports)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            bail!(
                "implements no known Drover world: it exports {found}; a plugin exports \
                 {WIT_PACKAGE}/plugin-info and one capability interface ({})",
                Capability::ALL
                    .iter()
                    .zip(&known)
                    .map(|(c, i)| format!("{WIT_PACKAGE}/{i} for world {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if !exported.iter().any(|e| e == "plugin-info") {
            bail!(
                "exports {WIT_PACKAGE}/{} but not {WIT_PACKAGE}/plugin-info, which every plugin must export",
                capability.export_interface()
            );
        }
        let wit_version = versions.into_iter().next().unwrap_or(WIT_VERSION);
        Ok(Inspection {
            capability,
            wit_version,
        })
    }

    /// Link the component against the host interfaces.
    pub fn prepare(
        &self,
        name: &str,
        component: &Component,
        capability: Capability,
        limits: Limits,
        policy: Arc<Policy>,
    ) -> Result<Prepared> {
        let instance_pre = self.linker.instantiate_pre(component).map_err(|e| {
            anyhow!(
                "cannot link against this daemon's host interfaces: {}",
                root_message(&e)
            )
        })?;
        let pre = match capability {
            Capability::ImportManifests => WorldPre::ImportManifests(
                ImportManifestsPre::new(instance_pre)
                    .map_err(|e| anyhow!("does not match world import-manifests: {e}"))?,
            ),
            Capability::AksDiscovery => WorldPre::AksDiscovery(
                AksDiscoveryPre::new(instance_pre)
                    .map_err(|e| anyhow!("does not match world aks-discovery: {e}"))?,
            ),
        };
        Ok(Prepared {
            name: name.into(),
            capability,
            pre,
            limits,
            policy,
        })
    }

    /// Run `f` on a fresh instance of `plugin` under its limits.
    pub async fn invoke<R>(
        &self,
        plugin: &Prepared,
        f: impl for<'a> FnOnce(
            &'a mut wasmtime::Store<HostState>,
            &'a WorldInstance,
        ) -> CallFuture<'a, R>,
    ) -> Result<R, CallError> {
        let started = std::time::Instant::now();
        let result = self.invoke_inner(plugin, f).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.metrics
            .plugin_call(&plugin.name, outcome, started.elapsed().as_secs_f64());
        result
    }

    async fn invoke_inner<R>(
        &self,
        plugin: &Prepared,
        f: impl for<'a> FnOnce(
            &'a mut wasmtime::Store<HostState>,
            &'a WorldInstance,
        ) -> CallFuture<'a, R>,
    ) -> Result<R, CallError> {
        let name = plugin.name.clone();
        let stdout = GuestOutput::new(name.clone(), Stream::Stdout);
        let stderr = GuestOutput::new(name.clone(), Stream::Stderr);
        // Deny-all WASI: no preopened directories, no environment, no
        // arguments, no sockets, no name lookups.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let limits = plugin.limits;
        let data = HostState {
            wasi,
            table: ResourceTable::new(),
            limits: CallLimits {
                memory_cap: limits.memory_bytes(),
                memory_hit: None,
                cpu_ticks_max: limits.cpu_ms.div_ceil(TICK.as_millis() as u64).max(1),
                cpu_ticks_used: 0,
                cpu_hit: false,
            },
            plugin: name.clone(),
            db: self.db.clone(),
            azure: self.azure.clone(),
            policy: plugin.policy.clone(),
            log_budget: LOG_RECORDS_PER_CALL,
            log_dropped: 0,
        };
        let mut store = wasmtime::Store::new(&self.engine, data);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        // Called once per tick while guest code runs: count the tick, trap
        // past the deadline, otherwise yield so the wall-clock timeout (and
        // the rest of the daemon) gets a turn.
        store.epoch_deadline_callback(|mut ctx| {
            let l = &mut ctx.data_mut().limits;
            l.cpu_ticks_used += 1;
            if l.cpu_ticks_used >= l.cpu_ticks_max {
                l.cpu_hit = true;
                return Err(wasmtime::Error::msg("CPU deadline reached"));
            }
            Ok(UpdateDeadline::Yield(1))
        });

        let pre = plugin.pre.clone();
        let outcome = tokio::time::timeout(Duration::from_millis(limits.timeout_ms), async {
            let instance = match &pre {
                WorldPre::ImportManifests(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(WorldInstance::ImportManifests),
                WorldPre::AksDiscovery(pre) => pre
                    .instantiate_async(&mut store)
                    .await
                    .map(WorldInstance::AksDiscovery),
            };
            match instance {
                Ok(instance) => Ok(f(&mut store, &instance).await),
                Err(e) => Err(e),
            }
        })
        .await;
        stdout.finish();
        stderr.finish();
        let state = store.data();
        if state.log_dropped > 0 {
            tracing::warn!(
                target: "plugin",
                plugin = &*name,
                dropped = state.log_dropped,
                "plugin wrote more than {LOG_RECORDS_PER_CALL} log records in one call; the rest were dropped"
            );
        }
        let plugin_name = name.to_string();
        match outcome {
            Err(_elapsed) => Err(CallError::Timeout {
                plugin: plugin_name,
                limit_ms: limits.timeout_ms,
            }),
            Ok(Err(e)) => {
                let message = root_message(&e);
                if state.limits.memory_hit.is_some() || state.limits.cpu_hit {
                    Err(classify_trap(
                        &plugin_name,
                        &limits,
                        &state.limits,
                        &e,
                        &stderr,
                    ))
                } else {
                    Err(CallError::Instantiate {
                        plugin: plugin_name,
                        message,
                    })
                }
            }
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(classify_trap(
                &plugin_name,
                &limits,
                &state.limits,
                &e,
                &stderr,
            )),
        }
    }

    /// Call `plugin-info.info`.
    pub async fn plugin_info(&self, plugin: &Prepared) -> Result<bindings::PluginInfo, CallError> {
        self.invoke(plugin, |store, instance| {
            Box::pin(async move {
                match instance {
                    WorldInstance::ImportManifests(i) => {
                        i.drover_plugin_plugin_info().call_info(store).await
                    }
                    WorldInstance::AksDiscovery(i) => {
                        i.drover_plugin_plugin_info().call_info(store).await
                    }
                }
            })
        })
        .await
    }

    /// Call `manifests.render` on an `import-manifests` plugin.
    pub async fn render_manifests(
        &self,
        plugin: &Prepared,
        request: &bindings::import_manifests::exports::drover::plugin::manifests::RenderRequest,
    ) -> Result<
        Vec<bindings::import_manifests::exports::drover::plugin::manifests::Manifest>,
        CallError,
    > {
        let request = request.clone();
        let result = self
            .invoke(plugin, |store, instance| {
                Box::pin(async move {
                    match instance {
                        WorldInstance::ImportManifests(i) => {
                            i.drover_plugin_manifests()
                                .call_render(store, &request)
                                .await
                        }
                        _ => Err(wrong_world("import-manifests")),
                    }
                })
            })
            .await?;
        result.map_err(|error| CallError::Plugin {
            plugin: plugin.name.to_string(),
            error,
        })
    }
}

/// Calls into an `aks-discovery` plugin.
impl Runtime {
    async fn discovery_call<R: Send + 'static>(
        &self,
        plugin: &Prepared,
        call: impl for<'a> FnOnce(
            &'a mut wasmtime::Store<HostState>,
            &'a bindings::aks_discovery::exports::drover::plugin::discovery::Guest,
        ) -> CallFuture<'a, Result<R, bindings::WitError>>
        + Send
        + 'static,
    ) -> Result<R, CallError> {
        let result = self
            .invoke(plugin, move |store, instance| match instance {
                WorldInstance::AksDiscovery(i) => call(store, i.drover_plugin_discovery()),
                _ => Box::pin(async { Err(wrong_world("aks-discovery")) }),
            })
            .await?;
        result.map_err(|error| CallError::Plugin {
            plugin: plugin.name.to_string(),
            error,
        })
    }

    /// Call `discovery.discover`.
    pub async fn discover(
        &self,
        plugin: &Prepared,
        request: bindings::aks_discovery::exports::drover::plugin::discovery::DiscoverRequest,
    ) -> Result<
        bindings::aks_discovery::exports::drover::plugin::discovery::DiscoveryResult,
        CallError,
    > {
        self.discovery_call(plugin, move |store, d| {
            Box::pin(async move { d.call_discover(store, &request).await })
        })
        .await
    }

    /// Call `discovery.check-credential`.
    pub async fn check_credential(
        &self,
        plugin: &Prepared,
        credential: String,
    ) -> Result<
        bindings::aks_discovery::exports::drover::plugin::discovery::CredentialCheck,
        CallError,
    > {
        self.discovery_call(plugin, move |store, d| {
            Box::pin(async move { d.call_check_credential(store, &credential).await })
        })
        .await
    }

    /// Call `discovery.lookup`.
    pub async fn lookup(
        &self,
        plugin: &Prepared,
        request: bindings::aks_discovery::exports::drover::plugin::discovery::LookupRequest,
    ) -> Result<
        Vec<bindings::aks_discovery::exports::drover::plugin::discovery::LookupItem>,
        CallError,
    > {
        self.discovery_call(plugin, move |store, d| {
            Box::pin(async move { d.call_lookup(store, &request).await })
        })
        .await
    }
}

fn wrong_world(world: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("this plugin does not implement world {world}"))
}

fn classify_trap(
    plugin: &str,
    limits: &Limits,
    seen: &CallLimits,
    error: &wasmtime::Error,
    stderr: &GuestOutput,
) -> CallError {
    let plugin = plugin.to_string();
    if seen.cpu_hit {
        return CallError::Cpu {
            plugin,
            limit_ms: limits.cpu_ms,
        };
    }
    if let Some(requested) = seen.memory_hit {
        return CallError::Memory {
            plugin,
            limit_mib: limits.memory_mib,
            requested,
        };
    }
    // A Rust guest's panic prints its message to stderr, then traps on
    // `unreachable`.
    let tail = stderr.tail();
    if let Some(start) = tail.iter().position(|l| l.contains("panicked at")) {
        let message = tail[start..].join(" ").trim().to_string();
        return CallError::Panic { plugin, message };
    }
    let mut message = root_message(error);
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        message = format!("{trap}");
    }
    if let Some(last) = tail.last() {
        message = format!("{message} (last stderr line: {last})");
    }
    CallError::Trap { plugin, message }
}

/// The innermost message of an error chain, on one line.
fn root_message(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    text.lines().next().unwrap_or_default().to_string()
}

fn check_header(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        bail!(
            "not a WebAssembly file ({} bytes, starting {}): was it truncated or overwritten?",
            bytes.len(),
            if shown.is_empty() {
                "with nothing".to_string()
            } else {
                shown.join(" ")
            }
        );
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        bail!(
            "this is a core WebAssembly module, not a component: build the plugin for \
             the wasm32-wasip2 target (`cargo build --target wasm32-wasip2`)"
        );
    }
    Ok(())
}

/// `drover:plugin/<interface>@<version>` → (interface, version).
fn parse_drover_name(name: &str) -> Option<(&str, semver::Version)> {
    let rest = name.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
    let (iface, version) = rest.split_once('@')?;
    Some((iface, semver::Version::parse(version).ok()?))
}

fn build_engine(options: &RuntimeOptions) -> Result<(Engine, bool)> {
    let base = || {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        config
    };
    if options.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
            .total_core_instances(MAX_CONCURRENT_INSTANCES * 8)
            .total_memories(MAX_CONCURRENT_INSTANCES * 2)
            .total_tables(MAX_CONCURRENT_INSTANCES * 8)
            .total_stacks(MAX_CONCURRENT_INSTANCES)
            .max_memory_size(options.max_limits.memory_bytes());
        let mut config = base();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => tracing::warn!(
                "pooling allocator unavailable ({}); falling back to on-demand allocation",
                root_message(&e)
            ),
        }
    }
    let engine = Engine::new(&base()).map_err(|e| anyhow!("cannot create the wasm engine: {e}"))?;
    Ok((engine, false))
}

/// Feeds `Hash` output into sha256, for a fingerprint stable across runs of
/// the same binary.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    "wasmtime-48.0.8".hash(&mut h);
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

fn write_cache(component: &Component, path: &Path) -> Result<()> {
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_private_file(&tmp, &bytes)?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename into {}", path.display()))?;
    Ok(())
}

/// Advances the engine's epoch every [`TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("drover-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_versions_of_the_same_series_up_to_the_host_are_compatible() {
        let v = |s| semver::Version::parse(s).unwrap();
        assert!(wit_compatible(&v("0.1.0")));
        assert!(wit_compatible(&v("0.1.1")));
        assert!(!wit_compatible(&v("0.1.2")));
        assert!(!wit_compatible(&v("0.2.0")));
        assert!(!wit_compatible(&v("0.0.9")));
        assert!(!wit_compatible(&v("1.1.0")));
        assert!(!wit_compatible(&v("0.1.0-rc1")));
    }

    #[test]
    fn drover_names_parse() {
        let (iface, v) = parse_drover_name("drover:plugin/manifests@0.1.0").unwrap();
        assert_eq!((iface, v.to_string().as_str()), ("manifests", "0.1.0"));
        assert!(parse_drover_name("wasi:cli/stdout@0.2.0").is_none());
        assert!(parse_drover_name("drover:plugin/x").is_none());
    }

    #[test]
    fn headers_are_checked_before_compiling() {
        let e = check_header(b"hello world").unwrap_err().to_string();
        assert!(e.contains("not a WebAssembly file"), "{e}");
        let e = check_header(b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
