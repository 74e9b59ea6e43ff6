//! # drover-sdk
//!
//! Everything a Drover plugin author depends on. A plugin is a WebAssembly
//! component built for `wasm32-wasip2` that implements one *world* of the
//! `drover:plugin` WIT package (shipped inside this crate, in `wit/`). This
//! crate re-exports the bindings for each world, the macro that exports your
//! implementation, and typed helpers for the host interfaces every world
//! imports: [`log`] and [`state`].
//!
//! A plugin crate needs only this dependency:
//!
//! ```toml
//! [package]
//! name = "hello-import"
//! version = "0.1.0"
//! description = "Renders a namespace for every imported cluster"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! # Not on crates.io: from a clone of the Drover repository beside this crate
//! # (or `{ git = "<drover repository URL>", tag = "v0.1.0" }`).
//! drover-sdk = { path = "../drover/sdk" }
//! ```
//!
//! A complete `import-manifests` plugin:
//!
//! ```no_run
//! use drover_sdk::import_manifests::manifests::{self, Manifest, RenderRequest};
//! use drover_sdk::import_manifests::plugin_info;
//! use drover_sdk::{Error, PluginInfo, log, state};
//!
//! // `pub`: native builds (tests, clippy) leave out the export, and the type
//! // must not look unused there.
//! pub struct HelloImport;
//!
//! impl plugin_info::Guest for HelloImport {
//!     fn info() -> PluginInfo {
//!         // name, version and description from Cargo.toml; they must match
//!         // the plugin's manifest, hello-import.toml.
//!         drover_sdk::plugin_info!()
//!     }
//! }
//!
//! impl manifests::Guest for HelloImport {
//!     fn render(request: RenderRequest) -> Result<Vec<Manifest>, Error> {
//!         if request.cluster_id.is_empty() {
//!             return Err(Error::InvalidInput("cluster-id is empty".into()));
//!         }
//!         let namespace = if request.namespace.is_empty() {
//!             "drover-system".to_string()
//!         } else {
//!             request.namespace.clone()
//!         };
//!         // Count renders per cluster in the plugin's private state.
//!         let key = format!("renders/{}", request.cluster_id);
//!         let renders: u64 = state::get(&key)?.unwrap_or(0);
//!         state::set(&key, &(renders + 1))?;
//!         log::info("rendering", &[("cluster", &request.cluster_id)]);
//!
//!         let body = drover_sdk::serde_json::json!({
//!             "apiVersion": "v1",
//!             "kind": "Namespace",
//!             "metadata": { "name": namespace },
//!         });
//!         Ok(vec![Manifest {
//!             api_version: "v1".into(),
//!             kind: "Namespace".into(),
//!             name: namespace,
//!             namespace: None,
//!             body: body.to_string(),
//!         }])
//!     }
//! }
//!
//! // Only wasm builds export: on native targets the export names (with `:`,
//! // `/`, `@`) upset the linker's version script.
//! #[cfg(target_arch = "wasm32")]
//! drover_sdk::import_manifests::export!(HelloImport);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`, check it
//! with `drover plugin check target/wasm32-wasip2/release/hello_import.wasm
//! --manifest hello-import.toml`, then copy both into the daemon's plugin
//! directory as `hello-import.wasm` and `hello-import.toml` (the file stem is
//! the plugin's name; cargo names the build output with `_`).
//! The plugin author's guide (`examples/README.md`) walks through each step.
//!
//! ## Compatibility
//!
//! [`WIT_VERSION`] is the version of the `drover:plugin` package this SDK was
//! built against. A daemon loads plugins built against its own package
//! version or an older one of the same series (`0.1.x` for `0.1`); a plugin
//! built against a newer package than the daemon knows is refused with the
//! versions named. See `ARCHITECTURE.md` for the full policy.

/// Version of the `drover:plugin` WIT package these bindings were generated from.
pub const WIT_VERSION: &str = "0.1.1";

pub use serde_json;
#[doc(hidden)]
pub use wit_bindgen;

/// Bindings of the host interfaces shared by every world (`types`, `log`,
/// `state`). The world modules below reuse these types, so helpers written
/// against them work in any world.
pub mod base {
    wit_bindgen::generate!({
        world: "base",
        path: "wit",
        default_bindings_module: "drover_sdk::base",
    });
}

/// The `import-manifests` world: implement [`plugin_info::Guest`] and
/// [`manifests::Guest`], then call [`export!`](crate::import_manifests::export).
///
/// [`plugin_info::Guest`]: import_manifests::plugin_info::Guest
/// [`manifests::Guest`]: import_manifests::manifests::Guest
pub mod import_manifests {
    wit_bindgen::generate!({
        world: "import-manifests",
        path: "wit",
        with: {
            "drover:plugin/types@0.1.1": crate::base::drover::plugin::types,
            "drover:plugin/log@0.1.1": crate::base::drover::plugin::log,
            "drover:plugin/state@0.1.1": crate::base::drover::plugin::state,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "drover_sdk::import_manifests",
    });

    /// Shorter paths to the two interfaces a plugin of this world implements.
    pub use self::exports::drover::plugin::{manifests, plugin_info};
}

// The `aks-discovery` world lives in the `drover-sdk-discovery` crate: two
// worlds with public export macros in one crate would define the shared
// `plugin-info` export macro twice.

pub use base::drover::plugin::types::{Error, PluginInfo, UpstreamError};

/// `PluginInfo` from the calling crate's `Cargo.toml`: `name`, `version`
/// and `description`. Keep them equal to the plugin's manifest.
#[macro_export]
macro_rules! plugin_info {
    () => {
        $crate::PluginInfo {
            name: ::core::env!("CARGO_PKG_NAME").to_string(),
            version: ::core::env!("CARGO_PKG_VERSION").to_string(),
            description: ::core::env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    };
}

/// Structured logging into the daemon's log, tagged with the plugin's name.
///
/// ```no_run
/// drover_sdk::log::info("rendered", &[("objects", "6"), ("cluster", "c-1")]);
/// ```
pub mod log {
    pub use crate::base::drover::plugin::log::Level;
    use crate::base::drover::plugin::log::{Field, log};

    /// Log `message` at `level` with structured `fields`.
    pub fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<Field> = fields
            .iter()
            .map(|(key, value)| Field {
                key: (*key).to_string(),
                value: (*value).to_string(),
            })
            .collect();
        log(level, message, &fields);
    }

    pub fn trace(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Trace, message, fields)
    }
    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Debug, message, fields)
    }
    pub fn info(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Info, message, fields)
    }
    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Warn, message, fields)
    }
    pub fn error(message: &str, fields: &[(&str, &str)]) {
        emit(Level::Error, message, fields)
    }
}

/// The plugin's private key/value store, with values kept as JSON.
///
/// Every call runs in a fresh instance, so this is the only memory a plugin
/// has between calls. The host enforces quotas (see `wit/state.wit`); a write
/// over quota fails with [`Error::InvalidInput`] and changes nothing.
pub mod state {
    use crate::Error;
    use crate::base::drover::plugin::state as raw;
    use serde::{Serialize, de::DeserializeOwned};

    /// The value under `key`, decoded from JSON.
    pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
        match raw::get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::Internal(format!(
                    "state key {key:?} does not hold the expected JSON: {e}"
                ))
            }),
        }
    }

    /// Store `value` under `key` as JSON.
    pub fn set<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::InvalidInput(format!("cannot encode state key {key:?}: {e}")))?;
        raw::set(key, &bytes)
    }

    /// Remove `key`; true if it existed.
    pub fn delete(key: &str) -> Result<bool, Error> {
        raw::delete(key)
    }

    /// Keys starting with `prefix`, in byte order.
    pub fn keys(prefix: &str) -> Result<Vec<String>, Error> {
        raw::list_keys(prefix)
    }

    /// The raw bytes under `key`.
    pub fn get_bytes(key: &str) -> Result<Option<Vec<u8>>, Error> {
        raw::get(key)
    }

    /// Store raw bytes under `key`.
    pub fn set_bytes(key: &str, value: &[u8]) -> Result<(), Error> {
        raw::set(key, value)
    }
}
