//! How a cluster is imported: the options behind its import YAML, and
//! their validation. Every option is checked here, before it is stored or
//! rendered, against Kubernetes' own syntax (DNS-1123 names, quantities,
//! image references, label keys and values, proxy URLs). Each rule is one
//! regular expression that checks the value; the field's `pattern` in the
//! OpenAPI document is a copy of it (the schema attribute takes only a
//! literal), and `the_documented_patterns_are_the_enforced_ones` keeps the
//! two equal, so the document says exactly what the server accepts.

use super::ImportError;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use utoipa::ToSchema;

/// A DNS-1123 label: namespaces, cluster names.
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// A DNS-1123 subdomain (at most 253 characters): Secret and PriorityClass names.
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
/// A Kubernetes quantity without a sign: `100m`, `0.5`, `128Mi`, `1G`, `1e3`.
pub const QUANTITY: &str =
    r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$";
/// An image reference: `[host[:port]/]path[:tag][@algorithm:digest]`.
pub const IMAGE: &str = concat!(
    r"^(",
    r"(localhost|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+)",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/",
    r")?",
    r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*",
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?",
    r"(@[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
);
/// `HTTP_PROXY`/`HTTPS_PROXY`: an http(s) URL with a host name or IPv4
/// address (not an IPv6 literal: give such a proxy a name), an optional user
/// and port, and nothing after the authority.
pub const PROXY_URL: &str = concat!(
    r"^https?://([-A-Za-z0-9._~%!$&'()*+,;=:]+@)?",
    r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/?$"
);
/// `NO_PROXY`: comma-separated hosts, domains (`.example.com`), IPs and CIDRs.
pub const NO_PROXY: &str = r"^ *[A-Za-z0-9.*:/\[\]-]+( *, *[A-Za-z0-9.*:/\[\]-]+)* *$";
/// A label key (and so a taint key): an optional DNS subdomain prefix and
/// `/`, then a name of up to 63 characters.
pub const LABEL_KEY: &str = concat!(
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?",
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
);
/// A label value (and so a taint value); may be empty.
pub const LABEL_VALUE: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";

/// Compile one of the patterns above (they are constants: compiling cannot
/// fail, and a unit test proves it).
fn compiled(pattern: &'static str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?} does not compile: {e}"))
}

macro_rules! matcher {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| compiled($pattern));
    };
}
matcher!(DNS_LABEL_RE, DNS_LABEL);
matcher!(DNS_SUBDOMAIN_RE, DNS_SUBDOMAIN);
matcher!(QUANTITY_RE, QUANTITY);
matcher!(IMAGE_RE, IMAGE);
matcher!(PROXY_URL_RE, PROXY_URL);
matcher!(NO_PROXY_RE, NO_PROXY);
matcher!(LABEL_KEY_RE, LABEL_KEY);
matcher!(LABEL_VALUE_RE, LABEL_VALUE);

/// What the agent's service account may do, as the CLI's `--rbac` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[derive(clap::ValueEnum)]
pub enum RbacPreset {
    /// Bind the built-in `cluster-admin` ClusterRole.
    #[default]
    ClusterAdmin,
    /// get/list/watch on everything but Secrets, as the built-in `view` role.
    ReadOnly,
    /// Exactly the rules in a file (`--rbac-rules`).
    Custom,
}

impl RbacPreset {
    pub fn as_str(self) -> &'static str {
        match self {
            RbacPreset::ClusterAdmin => "cluster-admin",
            RbacPreset::ReadOnly => "read-only",
            RbacPreset::Custom => "custom",
        }
    }
}

/// What the agent's service account may do: `"cluster-admin"`,
/// `"read-only"`, or `{"custom": [rules…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rbac {
    /// Bind the built-in `cluster-admin` ClusterRole.
    #[default]
    ClusterAdmin,
    /// get/list/watch on the core resources but Secrets and on the built-in
    /// API groups (custom resources need `custom`).
    ReadOnly,
    /// A ClusterRole with exactly these rules (at least one).
    Custom(Rules),
}

impl Rbac {
    pub fn preset(&self) -> RbacPreset {
        match self {
            Rbac::ClusterAdmin => RbacPreset::ClusterAdmin,
            Rbac::ReadOnly => RbacPreset::ReadOnly,
            Rbac::Custom(_) => RbacPreset::Custom,
        }
    }
}

/// A ClusterRole's rules: at least one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules(pub Vec<PolicyRule>);

impl utoipa::PartialSchema for Rules {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name("PolicyRule"))
            .min_items(Some(1))
            .into()
    }
}

impl ToSchema for Rules {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            PolicyRule::name().into(),
            <PolicyRule as utoipa::PartialSchema>::schema(),
        ));
        PolicyRule::schemas(schemas);
    }
}

/// One RBAC rule, as in a ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyRule {
    /// `""` is the core group.
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[schema(min_items = 1)]
    pub resources: Vec<String>,
    #[schema(min_items = 1)]
    pub verbs: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[derive(clap::ValueEnum)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

/// How the agent checks the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[derive(clap::ValueEnum)]
pub enum AgentTlsMode {
    /// Trust only the CA whose checksum the manifests carry.
    Strict,
    /// Trust the operating system's certificate store.
    SystemStore,
    /// Do not verify (lab use only).
    Insecure,
}

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub const ALL: [TaintEffect; 3] = [
        TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute,
    ];

    /// The effect Kubernetes spells `s`.
    pub fn parse(s: &str) -> Option<TaintEffect> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// Tolerate the taint `key[=value]:effect`: with a value the toleration is
/// `Equal`, without one `Exists`, as `kubectl taint` writes taints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    #[schema(
        pattern = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
        max_length = 317
    )]
    pub key: String,
    #[serde(default)]
    #[schema(pattern = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

/// How a cluster is imported: everything in its import YAML but the
/// server's address and the token. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ImportOptions {
    /// Namespace for the agent; `drover-system` when unset.
    #[schema(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub namespace: Option<String>,
    pub rbac: Rbac,
    /// Agent image; the daemon's `[import] agent_image` when unset.
    #[schema(
        pattern = r"^((localhost|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+)(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$",
        max_length = 512
    )]
    pub agent_image: Option<String>,
    pub pull_policy: PullPolicy,
    /// Default: `strict` when the server publishes a CA checksum, else
    /// `system-store`. `strict` on a server without a CA is a conflict (409).
    pub tls_mode: Option<AgentTlsMode>,
    #[schema(
        pattern = r"^https?://([-A-Za-z0-9._~%!$&'()*+,;=:]+@)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/?$",
        max_length = 2048
    )]
    pub http_proxy: Option<String>,
    #[schema(
        pattern = r"^https?://([-A-Za-z0-9._~%!$&'()*+,;=:]+@)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?/?$",
        max_length = 2048
    )]
    pub https_proxy: Option<String>,
    #[schema(
        pattern = r"^ *[A-Za-z0-9.*:/\[\]-]+( *, *[A-Za-z0-9.*:/\[\]-]+)* *$",
        max_length = 4096
    )]
    pub no_proxy: Option<String>,
    /// Secrets in the agent's namespace (DNS-1123 subdomains).
    #[schema(schema_with = secret_names)]
    pub image_pull_secrets: Vec<String>,
    #[schema(
        pattern = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
    )]
    pub cpu_request: Option<String>,
    #[schema(
        pattern = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
    )]
    pub memory_request: Option<String>,
    #[schema(
        pattern = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
    )]
    pub cpu_limit: Option<String>,
    #[schema(
        pattern = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
    )]
    pub memory_limit: Option<String>,
    /// Added to the control-plane taints the agent tolerates by default.
    pub tolerations: Vec<Toleration>,
    #[schema(
        pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$",
        max_length = 253
    )]
    pub priority_class: Option<String>,
}

/// `image_pull_secrets` in the OpenAPI document: Secret names.
fn secret_names() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(DNS_SUBDOMAIN))
                .max_length(Some(253)),
        )
        .build()
}

impl ImportOptions {
    /// Refuse what Kubernetes (or the agent) would refuse, naming the option.
    /// Every rule here is also in the OpenAPI document. `ca_published`: whether
    /// the server has a CA checksum for `strict` TLS; without one, `strict`
    /// conflicts with how the server is set up.
    pub fn check(&self, ca_published: bool) -> Result<(), ImportError> {
        let invalid = |m: String| Err(ImportError::Invalid(m));
        if let Rbac::Custom(rules) = &self.rbac {
            if rules.0.is_empty() {
                return invalid(
                    "rbac is custom but no rules are given: pass the ClusterRole's rules".into(),
                );
            }
            for (i, rule) in rules.0.iter().enumerate() {
                if rule.verbs.is_empty() || rule.resources.is_empty() {
                    return invalid(format!(
                        "rbac rule {} has no {}: every rule needs at least one resource and one \
                         verb",
                        i + 1,
                        if rule.verbs.is_empty() {
                            "verbs"
                        } else {
                            "resources"
                        }
                    ));
                }
            }
        }
        const SUBDOMAIN: &str = "at most 253 lowercase letters, digits, '-' and '.', starting \
                                 and ending with a letter or digit";
        const CPU: &str = "a Kubernetes quantity such as 100m or 0.5";
        const MEMORY: &str = "a Kubernetes quantity such as 128Mi or 1G";
        const PROXY: &str = "a proxy URL such as http://proxy.example.com:3128";
        // (option, value, rule, most characters beyond what the rule says, what it must be)
        type Check<'a> = (&'a str, Option<&'a str>, &'a Regex, Option<usize>, &'a str);
        let checks: [Check<'_>; 9] = [
            (
                "namespace",
                self.namespace.as_deref(),
                &DNS_LABEL_RE,
                None,
                "a Kubernetes namespace name: at most 63 lowercase letters, digits and '-', \
                 starting and ending with a letter or digit",
            ),
            (
                "image",
                self.agent_image.as_deref(),
                &IMAGE_RE,
                Some(512),
                "an image reference such as registry.example.com/team/drover:0.1.0",
            ),
            (
                "http proxy",
                self.http_proxy.as_deref(),
                &PROXY_URL_RE,
                Some(2048),
                PROXY,
            ),
            (
                "https proxy",
                self.https_proxy.as_deref(),
                &PROXY_URL_RE,
                Some(2048),
                PROXY,
            ),
            (
                "no proxy",
                self.no_proxy.as_deref(),
                &NO_PROXY_RE,
                Some(4096),
                "a comma-separated list of hosts, domains, IPs and CIDRs, e.g. \
                 localhost,.svc,10.0.0.0/8",
            ),
            (
                "cpu request",
                self.cpu_request.as_deref(),
                &QUANTITY_RE,
                None,
                CPU,
            ),
            (
                "cpu limit",
                self.cpu_limit.as_deref(),
                &QUANTITY_RE,
                None,
                CPU,
            ),
            (
                "memory request",
                self.memory_request.as_deref(),
                &QUANTITY_RE,
                None,
                MEMORY,
            ),
            (
                "memory limit",
                self.memory_limit.as_deref(),
                &QUANTITY_RE,
                None,
                MEMORY,
            ),
        ];
        for (option, value, rule, max, what) in checks {
            if let Some(value) = value {
                check_field(option, value, rule, max, what)?;
            }
        }
        for secret in &self.image_pull_secrets {
            check_field(
                "image pull secret",
                secret,
                &DNS_SUBDOMAIN_RE,
                Some(253),
                &format!("a Secret name: {SUBDOMAIN}"),
            )?;
        }
        if let Some(class) = &self.priority_class {
            check_field(
                "priority class",
                class,
                &DNS_SUBDOMAIN_RE,
                Some(253),
                &format!("a PriorityClass name: {SUBDOMAIN}"),
            )?;
        }
        for t in &self.tolerations {
            check_field(
                "toleration key",
                &t.key,
                &LABEL_KEY_RE,
                Some(317),
                "a label key such as node-role.kubernetes.io/control-plane",
            )?;
            if let Some(value) = &t.value {
                check_field(
                    "toleration value",
                    value,
                    &LABEL_VALUE_RE,
                    None,
                    "a label value: at most 63 letters, digits, '-', '_' and '.', starting and \
                     ending with a letter or digit",
                )?;
            }
        }
        if self.tls_mode == Some(AgentTlsMode::Strict) && !ca_published {
            return Err(ImportError::Conflict(
                "tls mode strict trusts only the server's own CA, but this server publishes \
                 none (it serves plain HTTP, or an operator certificate without [tls] ca): use \
                 system-store, or give the daemon [tls] ca"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `option`'s `value` must match `rule` and have at most `max` characters
/// (where the rule alone does not bound it); else it is said not to be
/// `what`.
fn check_field(
    option: &str,
    value: &str,
    rule: &Regex,
    max: Option<usize>,
    what: &str,
) -> Result<(), ImportError> {
    if max.is_some_and(|max| value.chars().count() > max) || !rule.is_match(value) {
        return Err(ImportError::Invalid(format!(
            "{option} {:?} is not {what}",
            one_line(value)
        )));
    }
    Ok(())
}

/// Option values are repeated in errors: escaped and cut short.
fn one_line(s: &str) -> String {
    crate::text::one_line(s, 200)
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    DNS_LABEL_RE.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(options: ImportOptions, expected: &str) {
        let e = options.check(true).unwrap_err().to_string();
        assert!(e.contains(expected), "expected {expected:?} in: {e}");
    }

    #[test]
    fn every_option_is_checked_with_kubernetes_rules() {
        let o = ImportOptions::default;
        refused(
            ImportOptions {
                cpu_request: Some("lots".into()),
                ..o()
            },
            "cpu request \"lots\"",
        );
        refused(
            ImportOptions {
                memory_limit: Some("12 Gigs".into()),
                ..o()
            },
            "memory limit \"12 Gigs\" is not a Kubernetes quantity",
        );
        refused(
            ImportOptions {
                agent_image: Some("UPPER CASE:?".into()),
                ..o()
            },
            "image \"UPPER CASE:?\"",
        );
        refused(
            ImportOptions {
                image_pull_secrets: vec!["Bad Secret!".into()],
                ..o()
            },
            "image pull secret \"Bad Secret!\"",
        );
        refused(
            ImportOptions {
                https_proxy: Some("not a url".into()),
                ..o()
            },
            "https proxy \"not a url\"",
        );
        refused(
            ImportOptions {
                no_proxy: Some("a b".into()),
                ..o()
            },
            "no proxy",
        );
        refused(
            ImportOptions {
                namespace: Some("Team_A".into()),
                ..o()
            },
            "namespace",
        );
        refused(
            ImportOptions {
                priority_class: Some("High!".into()),
                ..o()
            },
            "priority class",
        );
        refused(
            ImportOptions {
                tolerations: vec![Toleration {
                    key: "a b".into(),
                    value: None,
                    effect: TaintEffect::NoSchedule,
                }],
                ..o()
            },
            "toleration key \"a b\"",
        );
        refused(
            ImportOptions {
                rbac: Rbac::Custom(Rules(vec![])),
                ..o()
            },
            "no rules",
        );
        let strict = ImportOptions {
            tls_mode: Some(AgentTlsMode::Strict),
            ..o()
        };
        assert!(strict.check(true).is_ok());
        let e = strict.check(false).unwrap_err();
        assert!(matches!(e, ImportError::Conflict(_)), "{e}");
        assert!(e.to_string().contains("publishes none"), "{e}");
        // What is valid passes.
        let good = ImportOptions {
            namespace: Some("team-a".into()),
            agent_image: Some(
                "registry.example.com:5000/team/drover:0.1.0@sha256:0123456789abcdef0123456789abcdef"
                    .into(),
            ),
            image_pull_secrets: vec!["regcred".into()],
            https_proxy: Some("http://user:pass@proxy.example.com:3128".into()),
            no_proxy: Some("localhost,.svc,10.0.0.0/8,[fd00::1]".into()),
            cpu_request: Some("100m".into()),
            cpu_limit: Some("0.5".into()),
            memory_request: Some("64Mi".into()),
            memory_limit: Some("1G".into()),
            priority_class: Some("system-cluster-critical".into()),
            tolerations: vec![Toleration {
                key: "node-role.kubernetes.io/control-plane".into(),
                value: Some("".into()),
                effect: TaintEffect::NoSchedule,
            }],
            ..o()
        };
        good.check(false).unwrap();
    }

    #[test]
    fn images_and_quantities_follow_the_kubernetes_grammar() {
        for image in [
            "drover",
            "ghcr.io/drover-dev/drover:0.1.0",
            "localhost/drover",
            "localhost:5000/drover",
            "docker.io/library/busybox:1.36",
        ] {
            assert!(IMAGE_RE.is_match(image), "{image}");
        }
        for image in [
            "",
            "Drover",
            "ghcr.io/Drover",
            "a b",
            "x:",
            "x@sha256:zz",
            "host.example:99999/x",
        ] {
            assert!(!IMAGE_RE.is_match(image), "{image:?}");
        }
        for q in ["100m", "1Ki", "1e3", ".5", "1.", "2", "64Mi"] {
            assert!(QUANTITY_RE.is_match(q), "{q}");
        }
        for q in ["", "lots", "-1", "1.2.3", "12 Gigs", "1Kb", "m", "1e9999"] {
            assert!(!QUANTITY_RE.is_match(q), "{q:?}");
        }
    }
}
