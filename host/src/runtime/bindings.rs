//! Host-side bindings generated from `wit/`, one module per world. Shared
//! interfaces (`types`, `log`, `state`) are generated once, in the
//! `import_manifests` world, and reused by later worlds with `with:`.

/// The `import-manifests` world.
pub mod import_manifests {
    wasmtime::component::bindgen!({
        world: "import-manifests",
        path: "../sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        // Results are measured as JSON against their world's size limit.
        additional_derives: [serde::Serialize],
    });
}

/// The `aks-discovery` world: imports `azure`, exports `discovery`.
pub mod aks_discovery {
    wasmtime::component::bindgen!({
        world: "aks-discovery",
        path: "../sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize],
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

/// `error` with every message cut to `max` bytes (with a marker saying how
/// much was cut): a plugin's error text is relayed to people and logs.
pub fn clip_error(error: WitError, max: usize) -> WitError {
    let clip = |mut s: String| {
        crate::text::clip_owned(&mut s, max);
        s
    };
    match error {
        WitError::Denied(m) => WitError::Denied(clip(m)),
        WitError::NotFound(m) => WitError::NotFound(clip(m)),
        WitError::InvalidInput(m) => WitError::InvalidInput(clip(m)),
        WitError::Upstream(u) => WitError::Upstream(UpstreamError {
            status: u.status,
            code: clip_code(u.code),
            message: clip(u.message),
        }),
        WitError::Timeout(m) => WitError::Timeout(clip(m)),
        WitError::Unsupported(m) => WitError::Unsupported(clip(m)),
        WitError::Internal(m) => WitError::Internal(clip(m)),
    }
}

/// An upstream error code is an identifier: keep it short.
fn clip_code(mut code: String) -> String {
    crate::text::clip_owned(&mut code, 128);
    code
}
