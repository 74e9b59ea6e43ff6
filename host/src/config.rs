//! Operator configuration: where the daemon keeps its data, where it listens,
//! the limits plugins run under and what each plugin is granted.
//!
//! Every field has an embedded default, so `drover serve` with no flags and no
//! file runs. A config file (`--config`) overrides the defaults and command-line
//! flags override the file.

use crate::permissions::Permissions;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7600";

/// Per-call resource limits. In a manifest or config every field is optional;
/// what is missing comes from the level below (plugin manifest → operator
/// default), and the result is capped by the operator's maxima.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Guest execution deadline per call, in milliseconds (counted in 10 ms
    /// epoch ticks while guest code runs).
    pub cpu_ms: Option<u64>,
    /// Linear memory cap per call, in MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock timeout of a call once it runs, host awaits included, in
    /// ms; a call may first wait as long again for a concurrency slot and
    /// guest memory.
    pub timeout_ms: Option<u64>,
    /// Calls of this plugin (of one loaded version) that may run at once;
    /// more wait for a slot.
    pub concurrency: Option<u64>,
}

impl LimitSettings {
    /// Every limit that is set must be greater than 0; `what` names where
    /// they were set (`[limits.max]`, a manifest's `[limits]`…).
    pub fn validate(&self, what: &str) -> Result<()> {
        for (name, v) in [
            ("cpu_ms", self.cpu_ms),
            ("memory_mib", self.memory_mib),
            ("timeout_ms", self.timeout_ms),
            ("concurrency", self.concurrency),
        ] {
            if v == Some(0) {
                bail!("{what} {name} must be greater than 0");
            }
        }
        Ok(())
    }
}

/// Resolved limits for one plugin.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Limits {
    pub cpu_ms: u64,
    pub memory_mib: u64,
    pub timeout_ms: u64,
    /// Calls that may run at once; a call waits up to `timeout_ms` for a
    /// slot, then fails as busy.
    pub concurrency: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        cpu_ms: 2_000,
        memory_mib: 64,
        timeout_ms: 10_000,
        concurrency: 8,
    };
    pub const MAX: Limits = Limits {
        cpu_ms: 60_000,
        memory_mib: 512,
        timeout_ms: 300_000,
        concurrency: 64,
    };

    /// `over` on top of `self`, field by field.
    pub fn overlay(self, over: &LimitSettings) -> Limits {
        Limits {
            cpu_ms: over.cpu_ms.unwrap_or(self.cpu_ms),
            memory_mib: over.memory_mib.unwrap_or(self.memory_mib),
            timeout_ms: over.timeout_ms.unwrap_or(self.timeout_ms),
            concurrency: over.concurrency.unwrap_or(self.concurrency),
        }
    }

    /// Cap every field at `max`; returns the capped limits and a note per
    /// field that was lowered.
    pub fn capped(self, max: &Limits) -> (Limits, Vec<String>) {
        let mut notes = Vec::new();
        let mut cap = |name: &str, v: u64, m: u64| {
            if v > m {
                notes.push(format!("{name} {v} lowered to the operator maximum {m}"));
                m
            } else {
                v
            }
        };
        let limits = Limits {
            cpu_ms: cap("cpu_ms", self.cpu_ms, max.cpu_ms),
            memory_mib: cap("memory_mib", self.memory_mib, max.memory_mib),
            timeout_ms: cap("timeout_ms", self.timeout_ms, max.timeout_ms),
            concurrency: cap("concurrency", self.concurrency, max.concurrency),
        };
        (limits, notes)
    }

    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

/// Guest memory all plugin calls together may reserve, by default.
pub const DEFAULT_GUEST_MEMORY_MIB: u64 = 1024;

/// `[limits]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    #[serde(default)]
    default: LimitSettings,
    #[serde(default)]
    max: LimitSettings,
    /// Daemon-wide: the memory caps of all calls running at once may add up
    /// to this; a call that does not fit waits, then fails as busy.
    guest_memory_mib: Option<u64>,
    /// The largest result one call may return, per world, in KiB.
    #[serde(default)]
    result_kib: BTreeMap<String, u64>,
}

/// `[plugin_files]`: how the plugin directory is read. Only regular files
/// (or symlinks to regular files) are loaded, each within a size cap and a
/// read deadline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginFilesSection {
    max_component_mib: Option<u64>,
    max_manifest_kib: Option<u64>,
    read_timeout: Option<String>,
}

/// Resolved `[plugin_files]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginFileLimits {
    /// Largest `<name>.wasm` read, in bytes.
    pub max_component_bytes: u64,
    /// Largest `<name>.toml` read, in bytes.
    pub max_manifest_bytes: u64,
    /// How long reading one file may take.
    pub read_timeout: Duration,
}

impl Default for PluginFileLimits {
    fn default() -> Self {
        PluginFileLimits {
            max_component_bytes: 64 << 20,
            max_manifest_bytes: 64 << 10,
            read_timeout: Duration::from_secs(10),
        }
    }
}

impl PluginFilesSection {
    fn resolve(self) -> Result<PluginFileLimits> {
        let d = PluginFileLimits::default();
        let positive = |field: &str, v: Option<u64>| -> Result<Option<u64>> {
            if v == Some(0) {
                bail!("[plugin_files] {field} must be greater than 0");
            }
            Ok(v)
        };
        let read_timeout = duration_setting(
            "[plugin_files] read_timeout",
            self.read_timeout.as_deref(),
            d.read_timeout,
            Duration::from_millis(1),
        )?;
        Ok(PluginFileLimits {
            max_component_bytes: positive("max_component_mib", self.max_component_mib)?
                .map_or(d.max_component_bytes, |m| m.saturating_mul(1 << 20)),
            max_manifest_bytes: positive("max_manifest_kib", self.max_manifest_kib)?
                .map_or(d.max_manifest_bytes, |k| k.saturating_mul(1 << 10)),
            read_timeout,
        })
    }
}

/// `[api]`: how the API answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    request_timeout: Option<String>,
}

/// How long an API request may take by default (plugin calls are bounded
/// by their own limits instead).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `[audit]`: how long the audit log is kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    retention: Option<String>,
}

/// Audit entries older than this are deleted, by default.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// `[plugins.<name>]` in the config file: what the operator grants one plugin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSection {
    #[serde(default)]
    azure: Option<crate::permissions::AzureRule>,
    #[serde(default)]
    kubernetes: Option<crate::permissions::KubernetesRule>,
    #[serde(default)]
    shell: Option<crate::permissions::ShellRule>,
    /// Operator overrides of the plugin's own limit requests.
    #[serde(default)]
    limits: LimitSettings,
}

/// `[tls]`: the API's certificate. Without `cert`/`key`, a daemon listening
/// beyond loopback makes its own CA and server certificate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain for the API.
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    pub key: Option<PathBuf>,
    /// PEM of the CA that signed `cert`, so its checksum can be published.
    pub ca: Option<PathBuf>,
    /// Extra DNS names or IPs for the generated server certificate.
    #[serde(default)]
    pub names: Vec<String>,
}

/// `[import]`: how clusters are imported and when their agents count as gone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportSection {
    server_url: Option<String>,
    agent_image: Option<String>,
    token_ttl: Option<String>,
    disconnect_after: Option<String>,
    plugin: Option<String>,
}

/// Resolved import settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// The URL agents dial. None: the daemon's own URL.
    pub server_url: Option<String>,
    /// The agent image the import manifests run, unless a cluster sets its own.
    pub agent_image: String,
    /// Default lifetime of a registration token.
    pub token_ttl: Duration,
    /// A cluster whose agent has not checked in for this long is Disconnected.
    pub disconnect_after: Duration,
    /// The `import-manifests` plugin that renders the YAML.
    pub plugin: String,
}

/// The agent image built from this repository's `Dockerfile`, at this version.
pub const DEFAULT_AGENT_IMAGE: &str =
    concat!("ghcr.io/drover-dev/drover:", env!("CARGO_PKG_VERSION"));

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            server_url: None,
            agent_image: DEFAULT_AGENT_IMAGE.to_string(),
            token_ttl: Duration::from_secs(24 * 3600),
            disconnect_after: Duration::from_secs(120),
            plugin: "import-manifests".to_string(),
        }
    }
}

impl ImportSection {
    fn resolve(self, server_url_override: Option<String>) -> Result<ImportSettings> {
        let defaults = ImportSettings::default();
        let duration = |field: &str, text: Option<String>, default: Duration| {
            duration_setting(
                &format!("[import] {field}"),
                text.as_deref(),
                default,
                Duration::from_secs(1),
            )
        };
        let server_url = match server_url_override.or(self.server_url) {
            Some(url) => Some(validate_server_url(&url)?),
            None => None,
        };
        let agent_image = self.agent_image.unwrap_or(defaults.agent_image);
        if agent_image.trim().is_empty() || agent_image.chars().any(char::is_whitespace) {
            bail!(
                "[import] agent_image = {agent_image:?} is not an image reference such as \"registry.example.com/drover:0.1.0\""
            );
        }
        let plugin = self.plugin.unwrap_or(defaults.plugin);
        validate_plugin_name(&plugin).context("[import] plugin")?;
        Ok(ImportSettings {
            plugin,
            server_url,
            agent_image,
            token_ttl: duration("token_ttl", self.token_ttl, defaults.token_ttl)?,
            disconnect_after: duration(
                "disconnect_after",
                self.disconnect_after,
                defaults.disconnect_after,
            )?,
        })
    }
}

/// An http(s) URL with a host and nothing after the authority but an optional `/`.
pub fn validate_server_url(url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(authority) if !authority.is_empty() && !authority.contains(['/', '?', '#', ' ']) => {
            Ok(trimmed.to_string())
        }
        _ => bail!(
            "server URL {url:?} is not a URL such as \"https://drover.example.com:7600\": agents \
             dial it, so give scheme, host and port only"
        ),
    }
}

/// `[azure]`: how the host reaches Azure.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// PEM file of an extra CA to trust for Entra and ARM.
    pub ca_file: Option<PathBuf>,
    /// Concurrent ARM requests per credential (default 8).
    pub max_concurrency: Option<usize>,
    /// How long `azure-default` waits for a managed identity (default 5s).
    pub managed_identity_timeout: Option<String>,
    /// How long one ARM request may take (default 60s); a slower answer is
    /// retried, then reported as a timeout.
    pub request_timeout: Option<String>,
    /// Clouds beyond AzurePublicCloud, AzureChinaCloud and AzureUSGovernmentCloud.
    #[serde(default)]
    pub clouds: BTreeMap<String, CloudConfig>,
}

/// `[azure.clouds.<name>]`: a cloud's endpoints.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// Entra authority, e.g. `https://login.microsoftonline.com`.
    pub authority_host: String,
    /// ARM endpoint, e.g. `https://management.azure.com`.
    pub resource_manager: String,
    /// Token audience for ARM; the resource manager URL when unset.
    pub audience: Option<String>,
}

impl AzureConfig {
    fn validate(&self) -> Result<()> {
        for (name, cloud) in &self.clouds {
            for (field, url) in [
                ("authority_host", &cloud.authority_host),
                ("resource_manager", &cloud.resource_manager),
            ] {
                if !url.starts_with("https://") {
                    bail!(
                        "[azure.clouds.{name}] {field} = {url:?}: Azure endpoints must be https:// URLs"
                    );
                }
            }
        }
        if self.max_concurrency == Some(0) {
            bail!("[azure] max_concurrency must be at least 1");
        }
        for (field, value) in [
            ("managed_identity_timeout", &self.managed_identity_timeout),
            ("request_timeout", &self.request_timeout),
        ] {
            if let Some(t) = value {
                humantime::parse_duration(t).with_context(|| {
                    format!("[azure] {field} = {t:?} is not a duration such as \"5s\"")
                })?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    azure: AzureConfig,
    listen: Option<String>,
    #[serde(default)]
    tls: TlsSettings,
    #[serde(default)]
    import: ImportSection,
    data_dir: Option<PathBuf>,
    plugin_dir: Option<PathBuf>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    plugin_files: PluginFilesSection,
    #[serde(default)]
    audit: AuditSection,
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    plugins: BTreeMap<String, PluginSection>,
}

/// What the operator grants one plugin, and limit overrides.
#[derive(Debug, Clone, Default)]
pub struct PluginGrant {
    pub permissions: Permissions,
    pub limits: LimitSettings,
}

/// The daemon's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
    pub default_limits: Limits,
    pub max_limits: Limits,
    /// Memory all plugin calls running at once may reserve, in MiB.
    pub guest_memory_mib: u64,
    /// `[limits.result_kib]`: the largest result per world (by world name), in KiB.
    pub result_kib: BTreeMap<String, u64>,
    /// How plugin files are read.
    pub plugin_files: PluginFileLimits,
    /// Audit entries older than this are deleted.
    pub audit_retention: Duration,
    /// How long an API request may take (plugin calls: their own limits).
    pub request_timeout: Duration,
    pub grants: BTreeMap<String, PluginGrant>,
    pub tls: TlsSettings,
    pub import: ImportSettings,
    pub azure: AzureConfig,
    /// The file this came from, named in permission denials.
    pub source: Option<PathBuf>,
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub plugin_dir: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub server_url: Option<String>,
}

impl Config {
    /// Embedded defaults, then `file` if given, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config> {
        let mut parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                Self::parse_file(&text)
                    .with_context(|| format!("config file {} is invalid", path.display()))?
            }
            None => ConfigFile::default(),
        };
        let listen = match (overrides.listen, &parsed.listen) {
            (Some(addr), _) => addr,
            (None, Some(text)) => text.parse().with_context(|| {
                format!("listen = {text:?} is not an address such as \"127.0.0.1:7600\"")
            })?,
            (None, None) => DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
        };
        let data_dir = match overrides.data_dir.clone().or(parsed.data_dir) {
            Some(dir) => dir,
            None => default_data_dir()?,
        };
        let plugin_dir = overrides
            .plugin_dir
            .clone()
            .or(parsed.plugin_dir)
            .unwrap_or_else(|| data_dir.join("plugins"));
        parsed.limits.max.validate("[limits.max]")?;
        let max_limits = Limits::MAX.overlay(&parsed.limits.max);
        parsed.limits.default.validate("[limits.default]")?;
        let default_limits = Limits::DEFAULT.overlay(&parsed.limits.default);
        let (default_limits, notes) = default_limits.capped(&max_limits);
        if !notes.is_empty() {
            bail!(
                "[limits.default] exceeds [limits.max]: {}",
                notes.join("; ")
            );
        }
        let guest_memory_mib = parsed
            .limits
            .guest_memory_mib
            .unwrap_or(DEFAULT_GUEST_MEMORY_MIB);
        if guest_memory_mib < max_limits.memory_mib {
            bail!(
                "[limits] guest_memory_mib = {guest_memory_mib} is below [limits.max] memory_mib = \
                 {}: a plugin allowed that much could never run; raise guest_memory_mib or lower \
                 the maximum",
                max_limits.memory_mib
            );
        }
        for (world, kib) in &parsed.limits.result_kib {
            if *kib == 0 {
                bail!("[limits.result_kib] {world} must be greater than 0");
            }
        }
        let plugin_files = parsed.plugin_files.resolve()?;
        let request_timeout = duration_setting(
            "[api] request_timeout",
            parsed.api.request_timeout.as_deref(),
            DEFAULT_REQUEST_TIMEOUT,
            Duration::from_secs(1),
        )?;
        let audit_retention = duration_setting(
            "[audit] retention",
            parsed.audit.retention.as_deref(),
            DEFAULT_AUDIT_RETENTION,
            Duration::from_secs(3600),
        )?;
        if overrides.tls_cert.is_some() {
            parsed.tls.cert = overrides.tls_cert.clone();
        }
        if overrides.tls_key.is_some() {
            parsed.tls.key = overrides.tls_key.clone();
        }
        let import = parsed.import.resolve(overrides.server_url.clone())?;
        parsed.azure.validate()?;
        let mut grants = BTreeMap::new();
        for (name, section) in parsed.plugins {
            validate_plugin_name(&name).with_context(|| format!("[plugins.{name}]"))?;
            section
                .limits
                .validate(&format!("[plugins.{name}.limits]"))?;
            let permissions = Permissions {
                azure: section.azure,
                kubernetes: section.kubernetes,
                shell: section.shell,
            };
            grants.insert(
                name,
                PluginGrant {
                    permissions,
                    limits: section.limits,
                },
            );
        }
        Ok(Config {
            listen,
            data_dir,
            plugin_dir,
            default_limits,
            max_limits,
            guest_memory_mib,
            result_kib: parsed.limits.result_kib,
            plugin_files,
            audit_retention,
            request_timeout,
            grants,
            tls: parsed.tls,
            import,
            azure: parsed.azure,
            source: file.map(Path::to_path_buf),
        })
    }

    fn parse_file(text: &str) -> Result<ConfigFile> {
        Ok(toml::from_str(text)?)
    }

    /// Where permission denials tell the operator to add a grant.
    pub fn source_display(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "the daemon's config file (start `drover serve --config FILE`)".to_string(),
        }
    }

    /// The limits one plugin runs under: operator override → manifest request
    /// → operator default, capped by the operator maxima. Returns notes for
    /// every field that was capped.
    pub fn limits_for(&self, plugin: &str, requested: &LimitSettings) -> (Limits, Vec<String>) {
        let mut limits = self.default_limits.overlay(requested);
        if let Some(grant) = self.grants.get(plugin) {
            limits = limits.overlay(&grant.limits);
        }
        limits.capped(&self.max_limits)
    }
}

/// A duration setting such as `90s` or `24h`: `default` when unset, and at
/// least `min`.
fn duration_setting(
    setting: &str,
    text: Option<&str>,
    default: Duration,
    min: Duration,
) -> Result<Duration> {
    let Some(t) = text else {
        return Ok(default);
    };
    let d = humantime::parse_duration(t).with_context(|| {
        format!("{setting} = {t:?} is not a duration such as \"90s\" or \"24h\"")
    })?;
    if d < min {
        bail!(
            "{setting} = {t:?} is too short: use at least {}",
            humantime::format_duration(min)
        );
    }
    Ok(d)
}

/// A plugin name: 1–64 characters of lowercase ASCII letters, digits and
/// `-`, starting with a letter. It is also the file stem on disk.
pub fn validate_plugin_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "{name:?} is not a valid plugin name: use 1-64 lowercase letters, digits and '-', \
             starting with a letter"
        );
    }
    Ok(())
}

/// [`is_valid_object_name`] as the OpenAPI document's `pattern` says it.
pub const OBJECT_NAME_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";

/// Names of credentials and tokens: 1–64 ASCII letters, digits, `-`, `_`
/// or `.`.
pub fn is_valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// `$XDG_DATA_HOME/drover`, else `$HOME/.local/share/drover`.
pub fn default_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("drover"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/drover")),
        None => bail!("neither XDG_DATA_HOME nor HOME is set: pass --data-dir"),
    }
}

/// Create `dir` (and parents) readable only by the daemon's user.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Write `bytes` to a new file readable only by the daemon's user.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = Config::load(
            None,
            &Overrides {
                data_dir: Some("/tmp/d".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(cfg.plugin_dir, PathBuf::from("/tmp/d/plugins"));
        assert_eq!(cfg.default_limits, Limits::DEFAULT);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::parse_file("listn = \"1.2.3.4:5\"").unwrap_err();
        assert!(format!("{err:#}").contains("listn"), "{err:#}");
        let err = Config::parse_file("[plugins.x.azure]\ncredential = [\"a\"]").unwrap_err();
        assert!(format!("{err:#}").contains("credential"), "{err:#}");
    }

    #[test]
    fn limits_resolve_override_then_manifest_then_default_and_cap_at_max() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits.max]\nmemory_mib = 100\n[limits.default]\ncpu_ms = 500\n\
             [plugins.p.limits]\ntimeout_ms = 7000\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&path), &Overrides::default()).unwrap();
        let requested = LimitSettings {
            cpu_ms: None,
            memory_mib: Some(300),
            timeout_ms: Some(1000),
            concurrency: None,
        };
        let (limits, notes) = cfg.limits_for("p", &requested);
        assert_eq!(limits.cpu_ms, 500);
        assert_eq!(limits.memory_mib, 100);
        assert_eq!(limits.timeout_ms, 7000);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("memory_mib 300"), "{notes:?}");
    }

    #[test]
    fn default_above_max_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[limits.max]\ncpu_ms = 10\n").unwrap();
        let err = Config::load(Some(&path), &Overrides::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("exceeds [limits.max]"),
            "{err:#}"
        );
    }

    #[test]
    fn the_object_name_pattern_says_what_the_check_does() {
        let pattern = regex::Regex::new(OBJECT_NAME_PATTERN).unwrap();
        for name in [
            "prod",
            "a.b_c-d",
            "",
            "x".repeat(64).as_str(),
            "x".repeat(65).as_str(),
            "bad name",
            "é",
            "a/b",
        ] {
            assert_eq!(
                pattern.is_match(name),
                is_valid_object_name(name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_zero_limit_is_a_config_error_wherever_it_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, expected) in [
            (
                "[limits.max]
cpu_ms = 0
",
                "[limits.max] cpu_ms",
            ),
            (
                "[limits.default]
memory_mib = 0
",
                "[limits.default] memory_mib",
            ),
            (
                "[plugins.p.limits]
concurrency = 0
",
                "[plugins.p.limits] concurrency",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Config::load(Some(&path), &Overrides::default()).unwrap_err();
            assert!(
                format!("{err:#}").contains(&format!("{expected} must be greater than 0")),
                "{text}: {err:#}"
            );
        }
    }
}
