//! A valid WebAssembly component that implements no Drover world: it exports
//! `acme:widgets/spinner@1.0.0` and nothing of `drover:plugin`. The daemon
//! must refuse it with a message saying it is not a Drover plugin.

wit_bindgen::generate!({
    world: "widgets",
    path: "wit",
});

/// `pub` so that native builds, which leave out the exports, see it used.
pub struct Widget;

impl exports::acme::widgets::spinner::Guest for Widget {
    fn spin() -> u32 {
        42
    }
}

// Component exports only on wasm: native linkers reject their names.
#[cfg(target_arch = "wasm32")]
export!(Widget);
