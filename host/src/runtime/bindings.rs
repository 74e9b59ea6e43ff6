//! Host-side bindings generated from `wit/`, one module per world. Shared
//! interfaces (`types`, `log`, `state`) are generated once, in the
//! `import_manifests` world, and reused by later worlds with `with:`.

/// The `import-manifests` world.
pub mod import_manifests {
    wasmtime::component::bindgen!({
        world: "import-manifests",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `aks-discovery` world: imports `azure`, exports `discovery`.
pub mod aks_discovery {
    wasmtime::component::bindgen!({
        world: "aks-discovery",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "drover:plugin/types": super::import_manifests::drover::plugin::types,
            "drover:plugin/log": super::import_manifests::drover::plugin::log,
            "drover:plugin/state": super::import_manifests::drover::plugin::state,
        },
    });
}

pub use import_manifests::drover::plugin::types::{Error as WitError, PluginInfo, UpstreamError};

/// An operator-facing rendering of a WIT `error` (the generated `Display`
/// is the `Debug` form).
pub fn describe(error: &WitError) -> String {
    match error {
        WitError::Denied(m) => format!("denied: {m}"),
        WitError::NotFound(m) => format!("not found: {m}"),
        WitError::InvalidInput(m) => format!("invalid input: {m}"),
        WitError::Upstream(u) => format!("upstream {} {}: {}", u.status, u.code, u.message),
        WitError::Timeout(m) => format!("timeout: {m}"),
        WitError::Unsupported(m) => format!("unsupported: {m}"),
        WitError::Internal(m) => format!("internal: {m}"),
    }
}
