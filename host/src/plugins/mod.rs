//! Plugins on disk: manifests, the registry of loaded versions, and the
//! watcher that hot-reloads the plugin directory.

pub mod bundled;
pub mod manifest;
pub mod registry;
pub mod watcher;

pub use manifest::Manifest;
pub use registry::{LoadedPlugin, PluginStatus, Registry};
