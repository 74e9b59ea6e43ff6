//! The first-party plugins built into the binary, installed into the plugin
//! directory on the daemon's first start (a data directory without a
//! database). Later starts never touch the directory: a plugin the operator
//! removed stays removed.

use anyhow::{Context, Result};
use std::path::Path;

/// One embedded plugin.
pub struct Bundled {
    pub name: &'static str,
    pub wasm: &'static [u8],
    pub manifest: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// Write every bundled plugin whose files are absent; returns the names
/// installed.
pub fn install(plugin_dir: &Path) -> Result<Vec<&'static str>> {
    let mut installed = Vec::new();
    for plugin in BUNDLED {
        let wasm = plugin_dir.join(format!("{}.wasm", plugin.name));
        let manifest = plugin_dir.join(format!("{}.toml", plugin.name));
        if wasm.exists() || manifest.exists() {
            continue;
        }
        // Manifest first, then the component by rename, so the watcher never
        // sees a half-written .wasm.
        std::fs::write(&manifest, plugin.manifest)
            .with_context(|| format!("cannot write {}", manifest.display()))?;
        let partial = plugin_dir.join(format!(".{}.wasm.partial", plugin.name));
        std::fs::write(&partial, plugin.wasm)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &wasm)
            .with_context(|| format!("cannot write {}", wasm.display()))?;
        installed.push(plugin.name);
    }
    Ok(installed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_once_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let installed = super::install(dir.path()).unwrap();
        assert_eq!(installed, vec!["import-manifests", "aks-discovery"]);
        let wasm = dir.path().join("import-manifests.wasm");
        assert!(std::fs::read(&wasm).unwrap().starts_with(b"\0asm"));
        std::fs::write(&wasm, b"operator's own").unwrap();
        assert!(super::install(dir.path()).unwrap().is_empty());
        assert_eq!(std::fs::read(&wasm).unwrap(), b"operator's own");
    }
}
