//! The plugin manifest, `<name>.toml` beside `<name>.wasm`: who the plugin
//! says it is, what it requests, and the limits it asks for.

use crate::config::{LimitSettings, validate_plugin_name};
use crate::permissions::Permissions;
use anyhow::{Context, Result};
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
        let manifest: Manifest = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        validate_plugin_name(&manifest.name).context("manifest `name`")?;
        semver::Version::parse(&manifest.version).with_context(|| {
            format!(
                "manifest `version` {:?} is not a semantic version such as \"1.2.3\"",
                manifest.version
            )
        })?;
        manifest.limits.validate("manifest [limits]")?;
        Ok(manifest)
    }
}

/// A manifest that does not parse, said without quoting the file: it may be
/// anything (a symlink to someone else's file, a secret), and the reason
/// ends up in `plugin ls`, the API and the log.
fn syntax_error(text: &str, e: &toml::de::Error) -> anyhow::Error {
    let position = e.span().map(|span| {
        let before = &text[..text.floor_char_boundary(span.start)];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.len() - start + 1;
        // Name the key when the line is `key = …` with a plain key: that
        // much helps and cannot quote anything but a TOML identifier.
        let key = text[start..]
            .lines()
            .next()
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim())
            .filter(|k| {
                !k.is_empty()
                    && k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .map(|k| format!(" (key `{k}`)"))
            .unwrap_or_default();
        format!(" at line {line}, column {column}{key}")
    });
    anyhow::anyhow!(
        "manifest is not valid{}: {}",
        position.unwrap_or_default(),
        crate::text::one_line(e.message().trim(), 300)
    )
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
            ("this is not toml", "not valid at line 1, column 6"),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", Manifest::parse(text).unwrap_err());
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_syntax_error_never_quotes_the_file() {
        let secret = "root:x:0:0:root:/root:/bin/bash\nsecret-line = ";
        let err = format!("{:#}", Manifest::parse(secret).unwrap_err());
        assert!(err.contains("line 1"), "{err}");
        assert!(
            !err.contains("root:x") && !err.contains("/bin/bash"),
            "{err}"
        );
    }
}
