//! The host side of the interfaces plugins import. Each interface lives in
//! its own module and implements the traits generated from `wit/` for the
//! per-call [`HostState`]. Every call is checked against the plugin's
//! effective permissions where the interface reaches outside the plugin.

pub mod azure;
pub mod log;
pub mod state;

use crate::runtime::HostState;
use crate::runtime::bindings::WitError;
use crate::runtime::bindings::import_manifests::{self, drover::plugin::types};
use crate::store::NewAudit;
use wasmtime::component::{HasSelf, Linker};

impl types::Host for HostState {}

/// A stable label for a WIT error, for the audit log and metrics.
pub fn error_code(e: &WitError) -> &'static str {
    match e {
        WitError::Denied(_) => "denied",
        WitError::NotFound(_) => "not-found",
        WitError::InvalidInput(_) => "invalid-input",
        WitError::Upstream(_) => "upstream",
        WitError::Timeout(_) => "timeout",
        WitError::Unsupported(_) => "unsupported",
        WitError::Internal(_) => "internal",
    }
}

/// Run one host-interface call for a plugin and write it to the audit log:
/// plugin, interface, subject, verb, whether it was allowed, the outcome
/// and how long it took. `subject` must never carry a secret.
pub fn audited<T>(
    state: &HostState,
    interface: &str,
    verb: &str,
    subject: &str,
    call: impl FnOnce() -> Result<T, WitError>,
) -> Result<T, WitError> {
    let started = std::time::Instant::now();
    let result = call();
    record_audit(state, interface, verb, subject, &result, started);
    result
}

/// Write one finished host call to the audit log (for async calls, where
/// [`audited`] cannot wrap the work).
pub fn record_audit<T>(
    state: &HostState,
    interface: &str,
    verb: &str,
    subject: &str,
    result: &Result<T, WitError>,
    started: std::time::Instant,
) {
    let status = match result {
        Ok(_) => "ok",
        Err(e) => error_code(e),
    };
    let entry = NewAudit {
        actor_kind: "plugin",
        actor: &state.plugin,
        action: interface,
        subject,
        verb,
        allowed: !matches!(result, Err(WitError::Denied(_))),
        status,
        duration_us: started.elapsed().as_micros() as u64,
    };
    if let Err(e) = state.db.audit_record(&entry) {
        tracing::error!(plugin = &*state.plugin, "cannot write the audit log: {e:#}");
    }
}

/// Add every host interface to `linker`.
pub fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    import_manifests::ImportManifests::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    crate::runtime::bindings::aks_discovery::drover::plugin::azure::add_to_linker::<_, HasSelf<_>>(
        linker,
        |s| s,
    )?;
    Ok(())
}
