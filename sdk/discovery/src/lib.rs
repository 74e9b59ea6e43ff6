//! # drover-sdk-discovery
//!
//! The `aks-discovery` world of the `drover:plugin` package, for plugins that
//! find AKS clusters. Depend on it next to `drover-sdk` (whose [`log`],
//! [`state`] and error types these bindings share), implement
//! [`plugin_info::Guest`] and [`discovery::Guest`], reach Azure Resource
//! Manager through [`azure`] — the host attaches the stored credential's
//! token and checks the operator's grants; the plugin never sees a secret —
//! and export with [`export!`].
//!
//! [`log`]: drover_sdk::log
//! [`state`]: drover_sdk::state
//!
//! ```no_run
//! use drover_sdk_discovery::discovery::{
//!     CredentialCheck, DiscoverRequest, DiscoveryResult, LookupItem, LookupRequest,
//! };
//! use drover_sdk_discovery::{azure, discovery, plugin_info};
//! use drover_sdk::{Error, PluginInfo};
//!
//! pub struct Finder;
//!
//! impl plugin_info::Guest for Finder {
//!     fn info() -> PluginInfo {
//!         drover_sdk::plugin_info!()
//!     }
//! }
//!
//! impl discovery::Guest for Finder {
//!     fn discover(request: DiscoverRequest) -> Result<DiscoveryResult, Error> {
//!         let info = azure::describe_credential(&request.credential)?;
//!         drover_sdk::log::info("discovering", &[("cloud", &info.cloud)]);
//!         Ok(DiscoveryResult { clusters: vec![], subscriptions: vec![], failures: vec![] })
//!     }
//!     fn check_credential(credential: String) -> Result<CredentialCheck, Error> {
//!         Err(Error::Unsupported(format!("not checking {credential}")))
//!     }
//!     fn lookup(_: LookupRequest) -> Result<Vec<LookupItem>, Error> {
//!         Ok(vec![])
//!     }
//! }
//!
//! #[cfg(target_arch = "wasm32")]
//! drover_sdk_discovery::export!(Finder);
//! # fn main() {}
//! ```

wit_bindgen::generate!({
    world: "aks-discovery",
    path: "../wit",
    with: {
        "drover:plugin/types@0.1.1": drover_sdk::base::drover::plugin::types,
        "drover:plugin/log@0.1.1": drover_sdk::base::drover::plugin::log,
        "drover:plugin/state@0.1.1": drover_sdk::base::drover::plugin::state,
    },
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "drover_sdk_discovery",
});

/// The host's Azure Resource Manager interface.
pub use self::drover::plugin::azure;
/// The interfaces a plugin of this world implements.
pub use self::exports::drover::plugin::{discovery, plugin_info};
