//! The host side of the interfaces plugins import. Each interface lives in
//! its own module and implements the traits generated from `wit/` for the
//! per-call [`HostState`]. Every call is checked against the plugin's
//! effective permissions where the interface reaches outside the plugin.

pub mod log;
pub mod state;

use crate::runtime::HostState;
use crate::runtime::bindings::import_manifests::{self, drover::plugin::types};
use wasmtime::component::{HasSelf, Linker};

impl types::Host for HostState {}

/// Add every host interface to `linker`.
pub fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    import_manifests::ImportManifests::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}
