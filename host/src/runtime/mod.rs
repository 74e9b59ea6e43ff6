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
use tokio::sync::Semaphore;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;
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
/// Bytes of `log` records (message and fields) one call may write.
pub const LOG_BYTES_PER_CALL: usize = 256 * 1024;
/// The longest error message a plugin may return; longer ones are cut with
/// a marker.
pub const MAX_ERROR_MESSAGE: usize = 4096;

/// The host's limit on the native stack wasm code may use.
const MAX_WASM_STACK: usize = 512 * 1024;

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

    /// The largest result a call of this world may return unless the
    /// operator says otherwise (`[limits.result_kib]`), in KiB: an import
    /// is a handful of objects; a discovery may list thousands of clusters.
    pub fn default_result_kib(self) -> u64 {
        match self {
            Capability::ImportManifests => 1024,
            Capability::AksDiscovery => 64 * 1024,
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
    /// What this call may still write through `log`.
    pub log: LogBudget,
    /// Host calls this call made that are audited when it ends, as counts.
    pub audit: AuditTally,
}

/// Audit rows one call may write one by one; further audited host calls
/// are counted into one summary row per interface and verb.
pub const AUDIT_ROWS_PER_CALL: u32 = 256;

/// The host calls of one call that are audited as counts rather than one row
/// each: reads (one row per interface and verb, whatever their number), and
/// anything past [`AUDIT_ROWS_PER_CALL`]. Written when the call ends, so a
/// plugin cannot flood the audit log however many calls it makes.
#[derive(Debug)]
pub struct AuditTally {
    rows_left: u32,
    counts: std::collections::BTreeMap<(&'static str, String), Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    denied: u64,
    failed: u64,
    /// Distinct subjects (keys, paths), counted up to a bound.
    subjects: std::collections::HashSet<u64>,
    /// Calls past the per-call row limit (not reads).
    overflow: bool,
    duration_us: u64,
}

/// Distinct subjects counted per tally; more are reported as "at least".
const TALLY_SUBJECTS: usize = 10_000;

impl Default for AuditTally {
    fn default() -> Self {
        AuditTally {
            rows_left: AUDIT_ROWS_PER_CALL,
            counts: Default::default(),
        }
    }
}

/// How a host call's outcome counts in a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl AuditTally {
    /// Take one of the call's individual audit rows; false once they are
    /// used up (count the call with [`AuditTally::count`] then).
    pub fn take_row(&mut self) -> bool {
        if self.rows_left == 0 {
            return false;
        }
        self.rows_left -= 1;
        true
    }

    /// Count one host call into its interface's and verb's summary row.
    /// `overflow` marks a call that would have had a row of its own.
    pub fn count(
        &mut self,
        interface: &'static str,
        verb: &str,
        subject: &str,
        outcome: Outcome,
        overflow: bool,
        duration_us: u64,
    ) {
        let t = self
            .counts
            .entry((interface, verb.to_string()))
            .or_default();
        t.calls += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Denied => t.denied += 1,
            Outcome::Failed => t.failed += 1,
        }
        t.overflow |= overflow;
        t.duration_us = t.duration_us.saturating_add(duration_us);
        if t.subjects.len() < TALLY_SUBJECTS {
            let mut h = std::hash::DefaultHasher::new();
            subject.hash(&mut h);
            t.subjects.insert(h.finish());
        }
    }

    /// One row per interface and verb counted, written when the call ends.
    fn flush(&mut self, db: &Store, plugin: &str) {
        for ((interface, verb), t) in std::mem::take(&mut self.counts) {
            let distinct = if t.subjects.len() >= TALLY_SUBJECTS {
                format!("at least {TALLY_SUBJECTS}")
            } else {
                t.subjects.len().to_string()
            };
            let subject = if t.overflow {
                format!(
                    "{} calls past the per-call limit of {AUDIT_ROWS_PER_CALL} audit rows, on \
                     {distinct} distinct subjects",
                    t.calls
                )
            } else {
                format!("{} calls on {distinct} distinct subjects", t.calls)
            };
            let status = match (t.denied, t.failed) {
                (0, 0) => "ok".to_string(),
                (d, f) => format!("{d} denied, {f} failed"),
            };
            let entry = crate::store::NewAudit {
                actor_kind: "plugin",
                actor: plugin,
                action: interface,
                subject: &subject,
                verb: &verb,
                allowed: t.denied == 0,
                status: &status,
                duration_us: t.duration_us,
            };
            if let Err(e) = db.audit_record(&entry) {
                tracing::error!(plugin, "cannot write the audit log: {e:#}");
            }
        }
    }
}

/// The `log` records one call may still write, and what was dropped.
#[derive(Debug)]
pub struct LogBudget {
    records_left: u32,
    bytes_left: usize,
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            records_left: LOG_RECORDS_PER_CALL,
            bytes_left: LOG_BYTES_PER_CALL,
            dropped: 0,
        }
    }
}

impl LogBudget {
    /// Take room for one record of `bytes`; false (and counted as dropped)
    /// when the call is over its record or byte budget.
    pub fn take(&mut self, bytes: usize) -> bool {
        if !self.has_room(bytes) {
            self.reject();
            return false;
        }
        self.records_left -= 1;
        self.bytes_left -= bytes;
        true
    }

    /// Whether one more record of `bytes` fits.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.records_left > 0 && bytes <= self.bytes_left
    }

    /// Count a record dropped for want of room.
    pub fn reject(&mut self) {
        self.dropped += 1;
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for HostState {
    /// However the call ended (even abandoned mid-way), what it counted is
    /// audited.
    fn drop(&mut self) {
        self.audit.flush(&self.db, &self.plugin);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory cap, CPU deadline and wall clock for one call, recording which
/// one was hit.
struct CallLimits {
    memory_cap: usize,
    memory_hit: Option<usize>,
    cpu_ticks_max: u64,
    cpu_ticks_used: u64,
    cpu_hit: bool,
    /// Checked at every tick too, so a call stopped for its wall clock is
    /// stopped on time even when its task waits for a thread.
    wall_deadline: std::time::Instant,
    wall_hit: bool,
    /// Set at every tick (the first one matters): the call is CPU-bound and
    /// belongs on the guest threads.
    on_cpu: Arc<AtomicBool>,
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
    #[error(
        "plugin {plugin:?} overflowed its stack ({message}) and was stopped: runaway recursion? \
         A Rust guest's own stack is fixed when it is built (1 MiB unless linked with `-C \
         link-arg=-zstack-size=BYTES`)"
    )]
    StackOverflow { plugin: String, message: String },
    #[error("plugin {plugin:?} is busy: {message}")]
    Busy { plugin: String, message: String },
    #[error(
        "plugin {plugin:?} returned a result of more than {limit_kib} KiB, the limit for world \
         {world}, and it was discarded; raise [limits.result_kib] {world} in the daemon's config \
         if results this large are expected"
    )]
    OutputTooLarge {
        plugin: String,
        world: &'static str,
        limit_kib: u64,
    },
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
            CallError::StackOverflow { .. } => "stack-overflow",
            CallError::Busy { .. } => "busy",
            CallError::OutputTooLarge { .. } => "output-limit",
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
    /// One permit per call that may run at once (`limits.concurrency`).
    /// They belong to this loaded version: while a reload is under way, the
    /// old version's last calls do not hold up the new version (its load
    /// check included); the daemon's guest memory budget bounds both.
    slots: Arc<Semaphore>,
    /// This plugin's gauges of calls in flight and waiting.
    gauges: Arc<CallGauges>,
}

/// A plugin's gauges in `/metrics`, looked up once per loaded version.
struct CallGauges {
    in_flight: prometheus_client::metrics::gauge::Gauge,
    waiting: prometheus_client::metrics::gauge::Gauge,
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
    /// Memory (MiB) the calls running at once may reserve between them:
    /// each reserves its plugin's `memory_mib` while it runs.
    pub guest_memory_mib: u64,
    /// The largest result per world, in KiB (`[limits.result_kib]`); worlds
    /// not named keep their default.
    pub result_kib: std::collections::BTreeMap<String, u64>,
    /// Threads that run guest code; default: one per CPU.
    pub guest_threads: Option<usize>,
}

impl RuntimeOptions {
    /// Options for a daemon with `config`: its maxima, memory budget and
    /// result limits.
    pub fn from_config(config: &crate::config::Config, metrics: Metrics) -> RuntimeOptions {
        RuntimeOptions {
            cache_dir: Some(config.data_dir.join("cache")),
            max_limits: config.max_limits,
            pooling: true,
            metrics,
            azure: None,
            guest_memory_mib: config.guest_memory_mib,
            result_kib: config.result_kib.clone(),
            guest_threads: None,
        }
    }
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
    /// Guest memory (MiB) not reserved by running calls.
    memory: Arc<Semaphore>,
    guest_memory_mib: u64,
    /// `[limits.result_kib]`: the operator's largest result per world, in
    /// KiB (see [`Runtime::result_limit`]).
    result_kib: std::collections::BTreeMap<String, u64>,
    pool: GuestPool,
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
        for world in options.result_kib.keys() {
            if !Capability::ALL.iter().any(|c| c.world() == world) {
                bail!(
                    "[limits.result_kib] names {world:?}, which is not a world of this daemon; \
                     known worlds: {}",
                    Capability::ALL
                        .iter()
                        .map(|c| c.world())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        let permits = usize::try_from(options.guest_memory_mib)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        options
            .metrics
            .guest_memory_budget_mib
            .set(i64::try_from(options.guest_memory_mib).unwrap_or(i64::MAX));
        let ticker = EpochTicker::start(engine.clone())?;
        let pool = GuestPool::start(options.guest_threads)?;
        Ok(Runtime {
            engine,
            linker,
            db,
            cache_dir: options.cache_dir,
            fingerprint,
            pooling,
            metrics: options.metrics,
            azure: options.azure,
            memory: Arc::new(Semaphore::new(permits)),
            guest_memory_mib: options.guest_memory_mib,
            result_kib: options.result_kib,
            pool,
            _ticker: ticker,
        })
    }

    /// The largest result a call of `capability`'s world may return, in
    /// bytes: the operator's `[limits.result_kib]`, or the world's default.
    fn result_limit(&self, capability: Capability) -> usize {
        let kib = self
            .result_kib
            .get(capability.world())
            .copied()
            .unwrap_or(capability.default_result_kib());
        usize::try_from(kib.saturating_mul(1024)).unwrap_or(usize::MAX)
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
        let label = crate::metrics::PluginLabels {
            plugin: name.to_string(),
        };
        let gauges = Arc::new(CallGauges {
            in_flight: self
                .metrics
                .plugin_calls_in_flight
                .get_or_create(&label)
                .clone(),
            waiting: self
                .metrics
                .plugin_calls_waiting
                .get_or_create(&label)
                .clone(),
        });
        Ok(Prepared {
            name: name.into(),
            capability,
            pre,
            gauges,
            slots: Arc::new(Semaphore::new(
                usize::try_from(limits.concurrency)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            )),
            limits,
            policy,
        })
    }

    /// Run `f` on a fresh instance of `plugin` under its limits: on the
    /// caller's task until it has used one epoch tick of CPU, then on the
    /// guest threads (apart from the API's). The call first waits, up to its
    /// wall-clock timeout, for one of the plugin's concurrency slots and for
    /// its memory cap to fit in the daemon's guest memory budget, else it
    /// fails as busy; once admitted it has its whole wall-clock timeout to
    /// run. Its result must fit its world's result limit.
    pub async fn invoke<R, F>(self: &Arc<Self>, plugin: &Prepared, f: F) -> Result<R, CallError>
    where
        R: CallResult + Send + 'static,
        F: for<'a> FnOnce(
                &'a mut wasmtime::Store<HostState>,
                &'a WorldInstance,
            ) -> CallFuture<'a, R>
            + Send
            + 'static,
    {
        let started = std::time::Instant::now();
        let result = match self.admit(plugin).await {
            Err(e) => Err(e),
            Ok(admission) => {
                // The wall clock runs from admission.
                let deadline =
                    std::time::Instant::now() + Duration::from_millis(plugin.limits.timeout_ms);
                let moved = Arc::new(AtomicBool::new(false));
                let runtime = self.clone();
                let prepared = plugin.clone();
                let on_cpu = moved.clone();
                let call = async move {
                    let _admission = admission;
                    runtime.invoke_inner(&prepared, deadline, on_cpu, f).await
                };
                self.run_call(Box::pin(call), &moved, plugin).await
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.metrics
            .plugin_call(&plugin.name, outcome, started.elapsed().as_secs_f64());
        result
    }

    /// Run a call where it costs least: on the caller's task while it is
    /// quick (most calls are over in microseconds, and a hand-over to another
    /// thread costs more than that), and on the guest threads from the moment
    /// it has used a whole epoch tick of CPU (`moved` is set by the deadline
    /// callback), so CPU-bound guests never hold the API's threads for longer
    /// than one tick.
    async fn run_call<R: Send + 'static>(
        &self,
        mut call: std::pin::Pin<Box<dyn std::future::Future<Output = Result<R, CallError>> + Send>>,
        moved: &AtomicBool,
        plugin: &Prepared,
    ) -> Result<R, CallError> {
        let inline = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            std::task::Poll::Ready(result) => std::task::Poll::Ready(Some(result)),
            std::task::Poll::Pending if moved.load(Ordering::Acquire) => {
                std::task::Poll::Ready(None)
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        })
        .await;
        if let Some(result) = inline {
            return result;
        }
        // The call's log lines belong to the caller: its span and its
        // subscriber go with it onto the guest threads.
        let call = call.in_current_span().with_current_subscriber();
        match crate::task::AbortOnDrop(self.pool.spawn(call)).join().await {
            Ok(result) => result,
            Err(e) => Err(CallError::Trap {
                plugin: plugin.name.to_string(),
                message: format!("the call's task ended abnormally: {e}"),
            }),
        }
    }

    /// Wait for a concurrency slot of `plugin` and for its memory cap to fit
    /// the guest memory budget, at most the call's wall-clock timeout.
    async fn admit(&self, plugin: &Prepared) -> Result<Admission, CallError> {
        let mib =
            u32::try_from(plugin.limits.memory_mib.min(self.guest_memory_mib)).unwrap_or(u32::MAX);
        // Most calls find room at once: no timer, no gauge for waiting.
        let slot = match plugin.slots.clone().try_acquire_owned() {
            Ok(slot) => match self.memory.clone().try_acquire_many_owned(mib) {
                Ok(memory) => return Ok(self.admitted(plugin, slot, memory, mib)),
                Err(_) => Some(slot),
            },
            Err(_) => None,
        };
        let wait = Duration::from_millis(plugin.limits.timeout_ms);
        let deadline = tokio::time::Instant::now() + wait;
        let waiting = plugin.gauges.waiting.clone();
        waiting.inc();
        let _waiting = Defer(Some(move || {
            waiting.dec();
        }));
        let busy = |message: String| CallError::Busy {
            plugin: plugin.name.to_string(),
            message,
        };
        let slot = match slot {
            Some(slot) => slot,
            None => match tokio::time::timeout_at(deadline, plugin.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(slot)) => slot,
                Ok(Err(_)) | Err(_) => {
                    return Err(busy(format!(
                        "{} of its calls are already running, its concurrency limit, and this \
                         call waited {} for one to finish; try again, or raise `concurrency` in \
                         its manifest or [plugins.{}.limits]",
                        plugin.limits.concurrency,
                        humantime::format_duration(wait),
                        plugin.name
                    )));
                }
            },
        };
        let memory = match tokio::time::timeout_at(
            deadline,
            self.memory.clone().acquire_many_owned(mib),
        )
        .await
        {
            Ok(Ok(memory)) => memory,
            Ok(Err(_)) | Err(_) => {
                return Err(busy(format!(
                    "the daemon's guest memory budget of {} MiB is reserved by other calls, and \
                     this call, which may use {mib} MiB, waited {} for room; try again, or raise \
                     [limits] guest_memory_mib in the daemon's config",
                    self.guest_memory_mib,
                    humantime::format_duration(wait),
                )));
            }
        };
        Ok(self.admitted(plugin, slot, memory, mib))
    }

    fn admitted(
        &self,
        plugin: &Prepared,
        slot: tokio::sync::OwnedSemaphorePermit,
        memory: tokio::sync::OwnedSemaphorePermit,
        mib: u32,
    ) -> Admission {
        plugin.gauges.in_flight.inc();
        self.metrics
            .guest_memory_reserved_mib
            .inc_by(i64::from(mib));
        Admission {
            _slot: slot,
            _memory: memory,
            in_flight: plugin.gauges.in_flight.clone(),
            reserved: self.metrics.guest_memory_reserved_mib.clone(),
            mib,
        }
    }

    async fn invoke_inner<R: CallResult>(
        &self,
        plugin: &Prepared,
        deadline: std::time::Instant,
        on_cpu: Arc<AtomicBool>,
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
                wall_deadline: deadline,
                wall_hit: false,
                on_cpu,
            },
            plugin: name.clone(),
            db: self.db.clone(),
            azure: self.azure.clone(),
            policy: plugin.policy.clone(),
            log: LogBudget::default(),
            audit: AuditTally::default(),
        };
        let mut store = wasmtime::Store::new(&self.engine, data);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        // Called once per tick while guest code runs: count the tick, trap
        // past the CPU deadline or the wall clock, otherwise yield so the
        // wall-clock timeout (and other calls) get a turn.
        store.epoch_deadline_callback(|mut ctx| {
            let l = &mut ctx.data_mut().limits;
            l.cpu_ticks_used += 1;
            if l.cpu_ticks_used >= l.cpu_ticks_max {
                l.cpu_hit = true;
                return Err(wasmtime::Error::msg("CPU deadline reached"));
            }
            if std::time::Instant::now() >= l.wall_deadline {
                l.wall_hit = true;
                return Err(wasmtime::Error::msg("wall-clock timeout reached"));
            }
            l.on_cpu.store(true, Ordering::Release);
            Ok(UpdateDeadline::Yield(1))
        });

        let pre = plugin.pre.clone();
        let outcome = tokio::time::timeout_at(deadline.into(), async {
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
        if state.log.dropped() > 0 {
            tracing::warn!(
                target: "plugin",
                plugin = &*name,
                dropped = state.log.dropped(),
                "plugin went over its per-call log limit ({LOG_RECORDS_PER_CALL} records, \
                 {} KiB); the records past it were dropped",
                LOG_BYTES_PER_CALL / 1024
            );
        }
        let plugin_name = name.to_string();
        let timed_out = || CallError::Timeout {
            plugin: plugin_name.clone(),
            limit_ms: limits.timeout_ms,
        };
        match outcome {
            Err(_elapsed) => Err(timed_out()),
            Ok(Err(_)) | Ok(Ok(Err(_))) if state.limits.wall_hit => Err(timed_out()),
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
            Ok(Ok(Ok(value))) => {
                let limit = self.result_limit(plugin.capability);
                if value.larger_than(limit) {
                    return Err(CallError::OutputTooLarge {
                        plugin: plugin_name,
                        world: plugin.capability.world(),
                        limit_kib: (limit / 1024) as u64,
                    });
                }
                Ok(value)
            }
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
    pub async fn plugin_info(
        self: &Arc<Self>,
        plugin: &Prepared,
    ) -> Result<bindings::PluginInfo, CallError> {
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
        self: &Arc<Self>,
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
        result.map_err(|error| plugin_error(plugin, error))
    }
}

/// Calls into an `aks-discovery` plugin.
impl Runtime {
    async fn discovery_call<R: serde::Serialize + Send + 'static>(
        self: &Arc<Self>,
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
        result.map_err(|error| plugin_error(plugin, error))
    }

    /// Call `discovery.discover`.
    pub async fn discover(
        self: &Arc<Self>,
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
        self: &Arc<Self>,
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
        self: &Arc<Self>,
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

/// What an admitted call holds while it runs: its concurrency slot and its
/// share of the guest memory budget, given back (and the gauges updated)
/// when it ends.
struct Admission {
    _slot: tokio::sync::OwnedSemaphorePermit,
    _memory: tokio::sync::OwnedSemaphorePermit,
    in_flight: prometheus_client::metrics::gauge::Gauge,
    reserved: prometheus_client::metrics::gauge::Gauge,
    mib: u32,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.in_flight.dec();
        self.reserved.dec_by(i64::from(self.mib));
    }
}

/// Runs a closure when dropped.
struct Defer<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Defer<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The threads guest code runs on: a runtime of their own, so a storm of
/// CPU-bound calls cannot starve the API, the agent endpoints or the
/// daemon's timers. Its threads run at a lower scheduling priority, so the
/// kernel prefers the API's threads when both want a core.
struct GuestPool {
    handle: tokio::runtime::Handle,
    /// Taken only when the pool is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl GuestPool {
    fn start(threads: Option<usize>) -> Result<GuestPool> {
        let threads = threads
            .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
            .unwrap_or(2)
            .max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("drover-guest")
            // Guest tasks run a whole epoch tick between yields: look at the
            // timers after every few of them, so a call's wall clock is
            // enforced on time even when every thread is busy.
            .event_interval(2)
            // …and at the queue of new calls, so one starts promptly too.
            .global_queue_interval(2)
            .enable_all()
            .on_thread_start(lower_thread_priority)
            .build()
            .context("cannot start the threads that run plugins")?;
        Ok(GuestPool {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }
}

impl Drop for GuestPool {
    fn drop(&mut self) {
        // Dropping a runtime may block, which is not allowed on an async
        // thread (where the last `Arc<Runtime>` may well be dropped).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Nice the calling thread by 10 (Linux applies `setpriority` to the
/// calling thread). Lowering one's own priority needs no privilege; if it
/// fails anyway the thread simply runs at normal priority.
fn lower_thread_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; `who = 0` is
    // the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// What a call returns, measured against its world's result limit: a
/// plugin's answer, not its error (errors are cut to [`MAX_ERROR_MESSAGE`]
/// instead).
pub trait CallResult {
    /// Whether the answer, written as JSON, is longer than `limit` bytes.
    fn larger_than(&self, limit: usize) -> bool;
}

impl<T: serde::Serialize> CallResult for Result<T, bindings::WitError> {
    fn larger_than(&self, limit: usize) -> bool {
        self.as_ref().is_ok_and(|v| json_size_exceeds(v, limit))
    }
}

impl CallResult for bindings::PluginInfo {
    fn larger_than(&self, limit: usize) -> bool {
        json_size_exceeds(self, limit)
    }
}

/// Whether `value`, written as JSON, is longer than `limit` bytes. Stops
/// counting at the limit.
fn json_size_exceeds<T: serde::Serialize>(value: &T, limit: usize) -> bool {
    struct Counter {
        left: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.left {
                self.left = 0;
                return Err(std::io::Error::other("over the limit"));
            }
            self.left -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter { left: limit }, value).is_err()
}

/// A plugin's own error as a [`CallError`], its messages cut to
/// [`MAX_ERROR_MESSAGE`] with a marker.
fn plugin_error(plugin: &Prepared, error: bindings::WitError) -> CallError {
    CallError::Plugin {
        plugin: plugin.name.to_string(),
        error: bindings::clip_error(error, MAX_ERROR_MESSAGE),
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
        let joined = tail[start..].join(" ");
        let message = crate::text::clip(joined.trim(), MAX_ERROR_MESSAGE).into_owned();
        return CallError::Panic { plugin, message };
    }
    let trap = error.downcast_ref::<wasmtime::Trap>();
    match trap {
        Some(wasmtime::Trap::StackOverflow) => {
            return CallError::StackOverflow {
                plugin,
                message: format!(
                    "the host's limit of {} KiB of wasm call stack",
                    MAX_WASM_STACK / 1024
                ),
            };
        }
        Some(wasmtime::Trap::MemoryOutOfBounds) if runaway_recursion(error) => {
            return CallError::StackOverflow {
                plugin,
                message: "its own stack in linear memory ran past the start of its memory".into(),
            };
        }
        _ => {}
    }
    let mut message = root_message(error);
    if let Some(trap) = trap {
        message = format!("{trap}");
    }
    if let Some(last) = tail.last() {
        message = format!("{message} (last stderr line: {last})");
    }
    CallError::Trap { plugin, message }
}

/// Whether the trap's backtrace looks like runaway recursion: at least 16
/// frames deep, and nine in ten of them one or two functions. A Rust
/// guest keeps its stack at the start of its linear memory, so overflowing it
/// traps as an out-of-bounds access rather than as a stack overflow.
fn runaway_recursion(error: &wasmtime::Error) -> bool {
    let Some(trace) = error.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return false;
    };
    let frames = trace.frames();
    if frames.len() < 16 {
        return false;
    }
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for f in frames {
        *counts.entry(f.func_index()).or_default() += 1;
    }
    let mut top: Vec<usize> = counts.into_values().collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    top.iter().take(2).sum::<usize>() * 10 >= frames.len() * 9
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
        config.max_wasm_stack(MAX_WASM_STACK);
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
