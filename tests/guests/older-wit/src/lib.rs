//! `older-wit`: a plugin built against `drover:plugin@0.1.0` (its own copy of
//! that package in `wit/`), before the package gained the `azure` interface
//! and the `aks-discovery` world. A 0.1.1 daemon must still load and call it.

wit_bindgen::generate!({
    world: "import-manifests",
    path: "wit",
});

use exports::drover::plugin::manifests::{self, Manifest, RenderRequest};
use exports::drover::plugin::plugin_info;

/// `pub` so that native builds, which leave out the exports, see it used.
pub struct OlderWit;

impl plugin_info::Guest for OlderWit {
    fn info() -> plugin_info::InfoRecord {
        plugin_info::InfoRecord {
            name: "older-wit".into(),
            version: "0.1.0".into(),
            description: "Built against drover:plugin@0.1.0, for Drover's test suite".into(),
        }
    }
}

impl manifests::Guest for OlderWit {
    fn render(request: RenderRequest) -> Result<Vec<Manifest>, drover::plugin::types::Error> {
        // Uses a 0.1.0 host import too: the log interface.
        drover::plugin::log::log(drover::plugin::log::Level::Info, "older-wit renders", &[]);
        let name = format!("older-{}", request.cluster_id);
        Ok(vec![Manifest {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: name.clone(),
            namespace: None,
            body: format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{name}\"}}}}"
            ),
        }])
    }
}

// Component exports only on wasm: native linkers reject their names.
#[cfg(target_arch = "wasm32")]
export!(OlderWit);
