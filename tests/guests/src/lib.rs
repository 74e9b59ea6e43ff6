//! Paths to Drover's test plugins, built from source for `wasm32-wasip2` with
//! the workspace's `plugin` profile by this crate's build script.
//!
//! Add this crate as a dev-dependency and load the components from these
//! paths:
//!
//! ```no_run
//! let bytes = std::fs::read(drover_guests::ADVERSARY_V1).unwrap();
//! ```
//!
//! The files live in this crate's `OUT_DIR`; copy them (under the plugin's
//! name, e.g. `adversary.wasm`) into a test's plugin directory rather than
//! pointing a daemon at them directly. Building needs the `wasm32-wasip2`
//! target (`rustup target add wasm32-wasip2`).

mod generated {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The first-party plugin `plugins/import-manifests`: plugin
/// `import-manifests` 0.1.0, world `import-manifests`; the daemon bundles it.
pub const IMPORT_MANIFESTS: &str = generated::IMPORT_MANIFESTS;

/// Its manifest, `plugins/import-manifests/import-manifests.toml` in the
/// source tree.
pub const IMPORT_MANIFESTS_MANIFEST: &str = generated::IMPORT_MANIFESTS_MANIFEST;

/// The first-party plugin `plugins/aks-discovery`: plugin `aks-discovery`
/// 0.1.0, world `aks-discovery`; the daemon bundles it.
pub const AKS_DISCOVERY: &str = generated::AKS_DISCOVERY;

/// Its manifest, `plugins/aks-discovery/aks-discovery.toml` in the source tree.
pub const AKS_DISCOVERY_MANIFEST: &str = generated::AKS_DISCOVERY_MANIFEST;

/// The example plugin, `examples/example-import`: plugin `example-import`
/// 0.1.0, world `import-manifests`. Its manifest is [`EXAMPLE_IMPORT_MANIFEST`].
pub const EXAMPLE_IMPORT: &str = generated::EXAMPLE_IMPORT;

/// The example plugin's manifest, `examples/example-import/example-import.toml`
/// in the source tree (not a copy).
pub const EXAMPLE_IMPORT_MANIFEST: &str = generated::EXAMPLE_IMPORT_MANIFEST;

/// `tests/guests/adversary`: plugin `adversary` 1.0.0, world
/// `import-manifests`, whose `render` misbehaves as `request.cluster_name`
/// asks (`loop`, `memory-bomb`, `read-passwd`, `open-socket`, `read-env`,
/// `panic`, `log-flood`, `log-inject`, `log-bytes`, `state-*`, `sleep`,
/// `stack-overflow`, `big-error`, `big-output`, `secret-*`, `ok`; see its
/// crate docs). It
/// has no manifest on disk: tests write `adversary.toml` themselves.
pub const ADVERSARY_V1: &str = generated::ADVERSARY_V1;

/// The same adversary built with feature `v2`: plugin `adversary` 2.0.0, for
/// upgrade and hot-reload tests. Reports carry the version as their `name`.
pub const ADVERSARY_V2: &str = generated::ADVERSARY_V2;

/// `tests/guests/no-world`: a valid component that exports
/// `acme:widgets/spinner@1.0.0` and implements no Drover world; the daemon
/// must refuse it.
pub const NO_WORLD: &str = generated::NO_WORLD;

/// `tests/guests/future-wit`: plugin `future-wit` 0.1.0 built against
/// `drover:plugin@0.9.0` (world `import-manifests` exporting `plugin-info` and
/// a different `manifests`); a 0.1 daemon must refuse it, naming the versions.
pub const FUTURE_WIT: &str = generated::FUTURE_WIT;

/// `tests/guests/older-wit`: plugin `older-wit` 0.1.0 built against
/// `drover:plugin@0.1.0` (a snapshot of that package in its `wit/`), world
/// `import-manifests`; a 0.1.1 daemon must load and call it.
pub const OLDER_WIT: &str = generated::OLDER_WIT;

#[cfg(test)]
mod tests {
    #[test]
    fn every_guest_was_built() {
        for path in [
            super::IMPORT_MANIFESTS,
            super::AKS_DISCOVERY,
            super::EXAMPLE_IMPORT,
            super::ADVERSARY_V1,
            super::ADVERSARY_V2,
            super::NO_WORLD,
            super::FUTURE_WIT,
            super::OLDER_WIT,
        ] {
            let bytes = std::fs::read(path).unwrap();
            // A component, not a core module: magic, then version 0x0d layer 1.
            assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "{path}");
        }
        assert!(std::path::Path::new(super::EXAMPLE_IMPORT_MANIFEST).is_file());
    }
}
