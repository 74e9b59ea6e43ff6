//! `future-wit`: a plugin built against `drover:plugin@0.9.0`, a WIT package
//! newer than any 0.1 daemon knows. The daemon must refuse it, naming both
//! package versions.

wit_bindgen::generate!({
    world: "import-manifests",
    path: "wit",
});

use exports::drover::plugin::{manifests, plugin_info};

/// `pub` so that native builds, which leave out the exports, see it used.
pub struct FutureWit;

impl plugin_info::Guest for FutureWit {
    fn info() -> plugin_info::InfoRecord {
        plugin_info::InfoRecord {
            name: "future-wit".into(),
            version: "0.1.0".into(),
            description: "Built against drover:plugin@0.9.0, for Drover's test suite".into(),
        }
    }
}

impl manifests::Guest for FutureWit {
    fn render(cluster_id: String) -> Vec<String> {
        vec![format!("namespace for {cluster_id}")]
    }
}

// Component exports only on wasm: native linkers reject their names.
#[cfg(target_arch = "wasm32")]
export!(FutureWit);
