//! The host side of the interfaces plugins import. Each interface lives in
//! its own module and implements the traits generated from `wit/` for the
//! per-call [`HostState`]. Every call is checked against the plugin's
//! effective permissions where the interface reaches outside the plugin.

pub mod azure;
pub mod log;
pub mod state;

use crate::runtime::bindings::WitError;
use crate::runtime::bindings::import_manifests::{self, drover::plugin::types};
use crate::runtime::{HostState, Outcome};
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

/// Run one synchronous host-interface call for a plugin and audit it (see
/// [`record_audit`]).
pub fn audited<T>(
    state: &mut HostState,
    interface: &'static str,
    verb: &str,
    subject: &str,
    reach: Reach,
    call: impl FnOnce(&HostState) -> Result<T, WitError>,
) -> Result<T, WitError> {
    let started = std::time::Instant::now();
    let result = call(state);
    record_audit(state, interface, verb, subject, reach, &result, started);
    result
}

/// Audit one host-interface call a plugin made: plugin, interface,
/// subject, verb, whether it was allowed, the outcome and how long it took.
/// A call that changes or reaches something, and any call that was denied,
/// gets a row of its own (up to [`crate::runtime::AUDIT_ROWS_PER_CALL`] per
/// plugin call, then it is counted); an allowed read (`Reach::Read`) is
/// counted, and each plugin call writes one row per interface and verb of
/// reads when it ends, so reads cannot flood the audit log. `subject` must
/// never carry a secret. For async calls, where [`audited`] cannot wrap the
/// work.
pub fn record_audit<T>(
    state: &mut HostState,
    interface: &'static str,
    verb: &str,
    subject: &str,
    reach: Reach,
    result: &Result<T, WitError>,
    started: std::time::Instant,
) {
    let duration_us = started.elapsed().as_micros() as u64;
    let outcome = match result {
        Ok(_) => Outcome::Ok,
        Err(WitError::Denied(_)) => Outcome::Denied,
        Err(_) => Outcome::Failed,
    };
    let counted = reach == Reach::Read && outcome != Outcome::Denied;
    if counted || !state.audit.take_row() {
        let overflow = !counted;
        state
            .audit
            .count(interface, verb, subject, outcome, overflow, duration_us);
        return;
    }
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
        allowed: outcome != Outcome::Denied,
        status,
        duration_us,
    };
    if let Err(e) = state.db.audit_record(&entry) {
        tracing::error!(plugin = &*state.plugin, "cannot write the audit log: {e:#}");
    }
}

/// What a host call does, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Reads the plugin's own data or what the operator configured:
    /// counted, one row per plugin call (a denied read gets its own row).
    Read,
    /// Changes something, or reaches beyond the daemon: a row of its own.
    Act,
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
