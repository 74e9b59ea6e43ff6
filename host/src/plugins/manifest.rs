//! The plugin manifest, `<name>.toml` beside `<name>.wasm`: who the plugin
//! says it is, what it requests, and the limits it asks for.

use crate::config::{LimitSettings, validate_plugin_name};
use crate::permissions::Permissions;
use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// What the plugin requests; the operator grants in the daemon's config.
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default)]
    pub limits: LimitSettings,
}

impl Manifest {
    /// Parse and validate a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest> {
        let manifest: Manifest = toml::from_str(text).context("manifest is not valid")?;
        validate_plugin_name(&manifest.name).context("manifest `name`")?;
        semver::Version::parse(&manifest.version).with_context(|| {
            format!(
                "manifest `version` {:?} is not a semantic version such as \"1.2.3\"",
                manifest.version
            )
        })?;
        for (field, value) in [
            ("cpu_ms", manifest.limits.cpu_ms),
            ("memory_mib", manifest.limits.memory_mib),
            ("timeout_ms", manifest.limits.timeout_ms),
        ] {
            if value == Some(0) {
                bail!("manifest [limits] {field} must be greater than 0");
            }
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(
            r#"
            name = "aks-discovery"
            version = "0.1.0"
            description = "Finds AKS clusters"
            [permissions.azure]
            credentials = ["*"]
            methods = ["GET"]
            [limits]
            cpu_ms = 500
            "#,
        )
        .unwrap();
        assert_eq!(m.name, "aks-discovery");
        assert_eq!(m.permissions.azure.unwrap().methods, vec!["GET"]);
        assert_eq!(m.limits.cpu_ms, Some(500));
        assert_eq!(m.limits.memory_mib, None);
    }

    #[test]
    fn rejects_bad_manifests_with_the_reason() {
        let cases = [
            ("version = \"1.0.0\"", "name"),
            (
                "name = \"Bad_Name\"\nversion = \"1.0.0\"",
                "not a valid plugin name",
            ),
            ("name = \"p\"\nversion = \"one\"", "not a semantic version"),
            (
                "name = \"p\"\nversion = \"1.0.0\"\ncolour = \"red\"",
                "colour",
            ),
            (
                "name = \"p\"\nversion = \"1.0.0\"\n[permissions.ssh]",
                "ssh",
            ),
            (
                "name = \"p\"\nversion = \"1.0.0\"\n[limits]\ncpu_ms = 0",
                "greater than 0",
            ),
            (
                "name = \"p\"\nversion = \"1.0.0\"\n[limits]\ncpu_ms = -1",
                "cpu_ms",
            ),
            ("this is not toml", "not valid"),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", Manifest::parse(text).unwrap_err());
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
