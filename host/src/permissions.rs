//! The permissions engine: a plugin's manifest *requests*, the operator's
//! config *grants*, and the host *enforces* at every host call. A call is
//! allowed only when both a requested rule and a granted rule cover it
//! (effective = requested ∩ granted); anything not covered is denied. A denial
//! names the missing entry and where to add it.
//!
//! Patterns: `*` matches any run of characters except `/`, `**` matches any
//! run including `/`, everything else matches itself. Azure methods and
//! resource paths compare case-insensitively, as ARM does.

use serde::{Deserialize, Serialize};

/// Azure: which stored credentials, subscriptions, ARM methods and
/// resource-provider paths (e.g. `/subscriptions/*/providers/Microsoft.ContainerService/**`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AzureRule {
    #[serde(default)]
    pub credentials: Vec<String>,
    #[serde(default)]
    pub subscriptions: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
}

/// Kubernetes: which clusters, verbs, kinds and namespaces (`""` or `*` for
/// cluster-scoped objects).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesRule {
    #[serde(default)]
    pub clusters: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// Shell: which targets (`local`, or a node name) and which programs (argv[0];
/// no shell interpretation unless `sh` itself is listed).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShellRule {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub programs: Vec<String>,
}

/// A set of rules: `[permissions]` in a manifest, `[plugins.<name>]` in the
/// operator's config.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    pub azure: Option<AzureRule>,
    pub kubernetes: Option<KubernetesRule>,
    pub shell: Option<ShellRule>,
}

impl Permissions {
    pub fn is_empty(&self) -> bool {
        self.azure.is_none() && self.kubernetes.is_none() && self.shell.is_none()
    }

    /// One line per requested dimension, for `drover plugin check` and the API.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(", ")
            }
        };
        if let Some(a) = &self.azure {
            out.push(format!(
                "azure: credentials [{}], subscriptions [{}], methods [{}], paths [{}]",
                list(&a.credentials),
                list(&a.subscriptions),
                list(&a.methods),
                list(&a.paths)
            ));
        }
        if let Some(k) = &self.kubernetes {
            out.push(format!(
                "kubernetes: clusters [{}], verbs [{}], kinds [{}], namespaces [{}]",
                list(&k.clusters),
                list(&k.verbs),
                list(&k.kinds),
                list(&k.namespaces)
            ));
        }
        if let Some(s) = &self.shell {
            out.push(format!(
                "shell: targets [{}], programs [{}]",
                list(&s.targets),
                list(&s.programs)
            ));
        }
        out
    }
}

/// An Azure Resource Manager request to decide.
#[derive(Debug, Clone, Copy)]
pub struct AzureAccess<'a> {
    pub credential: &'a str,
    pub subscription: &'a str,
    pub method: &'a str,
    pub path: &'a str,
}

/// A Kubernetes API request to decide.
#[derive(Debug, Clone, Copy)]
pub struct KubernetesAccess<'a> {
    pub cluster: &'a str,
    pub verb: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// A program run to decide.
#[derive(Debug, Clone, Copy)]
pub struct ShellAccess<'a> {
    pub target: &'a str,
    pub program: &'a str,
}

/// One host call to decide.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    Azure(AzureAccess<'a>),
    /// Naming an Azure credential without a request (describing it): only
    /// the `credentials` dimension applies.
    AzureCredential(&'a str),
    Kubernetes(KubernetesAccess<'a>),
    Shell(ShellAccess<'a>),
}

/// A denied call: the message names the missing grant and where to add it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub message: String,
}

/// The rules in force for one loaded plugin.
#[derive(Debug, Clone)]
pub struct Policy {
    pub plugin: String,
    pub requested: Permissions,
    pub granted: Permissions,
    /// Where grants live, for the denial message.
    pub config_source: String,
}

/// One dimension of a rule: (field name, patterns, value, case-insensitive).
type Dim<'a> = (&'static str, &'a [String], &'a str, bool);

impl Policy {
    /// Allow `access` only if the manifest requests it and the operator grants it.
    pub fn check(&self, access: &Access) -> Result<(), Denied> {
        let section = section_name(access);
        // The manifest side first: a plugin never gets what it did not ask for.
        if let Some(field) = first_uncovered(&self.requested, access) {
            return Err(Denied {
                message: format!(
                    "plugin {:?} did not request {section} {} {:?} in its manifest: the plugin's \
                     author must add it under [permissions.{section}] `{}` in {}.toml",
                    self.plugin,
                    singular(field.0),
                    field.2,
                    field.0,
                    self.plugin
                ),
            });
        }
        if let Some(field) = first_uncovered(&self.granted, access) {
            return Err(Denied {
                message: format!(
                    "plugin {:?} is not granted {section} {} {:?}: add {:?} to `{}` under \
                     [plugins.{}.{section}] in {}, then restart the daemon",
                    self.plugin,
                    singular(field.0),
                    field.2,
                    field.2,
                    field.0,
                    self.plugin,
                    self.config_source
                ),
            });
        }
        Ok(())
    }
}

fn section_name(access: &Access) -> &'static str {
    match access {
        Access::Azure(_) | Access::AzureCredential(_) => "azure",
        Access::Kubernetes(_) => "kubernetes",
        Access::Shell(_) => "shell",
    }
}

fn singular(field: &str) -> &str {
    field.strip_suffix('s').unwrap_or(field)
}

/// The first dimension of `access` that `rules` does not cover; the whole
/// section counts as uncovered (reported on its first dimension) when absent.
fn first_uncovered<'a>(rules: &'a Permissions, access: &Access<'a>) -> Option<Dim<'a>> {
    const NONE: &[String] = &[];
    let dims: Vec<Dim<'a>> = match *access {
        Access::Azure(AzureAccess {
            credential,
            subscription,
            method,
            path,
        }) => {
            let r = rules.azure.as_ref();
            let mut dims = vec![
                (
                    "credentials",
                    r.map_or(NONE, |r| &r.credentials),
                    credential,
                    false,
                ),
                (
                    "subscriptions",
                    r.map_or(NONE, |r| &r.subscriptions),
                    subscription,
                    true,
                ),
                ("methods", r.map_or(NONE, |r| &r.methods), method, true),
                ("paths", r.map_or(NONE, |r| &r.paths), path, true),
            ];
            // A tenant-level request (listing subscriptions) is under no
            // subscription: credentials, methods and paths decide it.
            if subscription.is_empty() {
                dims.remove(1);
            }
            dims
        }
        Access::AzureCredential(credential) => {
            let r = rules.azure.as_ref();
            vec![(
                "credentials",
                r.map_or(NONE, |r| &r.credentials),
                credential,
                false,
            )]
        }
        Access::Kubernetes(KubernetesAccess {
            cluster,
            verb,
            kind,
            namespace,
        }) => {
            let r = rules.kubernetes.as_ref();
            vec![
                ("clusters", r.map_or(NONE, |r| &r.clusters), cluster, false),
                ("verbs", r.map_or(NONE, |r| &r.verbs), verb, false),
                ("kinds", r.map_or(NONE, |r| &r.kinds), kind, false),
                (
                    "namespaces",
                    r.map_or(NONE, |r| &r.namespaces),
                    namespace,
                    false,
                ),
            ]
        }
        Access::Shell(ShellAccess { target, program }) => {
            let r = rules.shell.as_ref();
            vec![
                ("targets", r.map_or(NONE, |r| &r.targets), target, false),
                ("programs", r.map_or(NONE, |r| &r.programs), program, false),
            ]
        }
    };
    dims.into_iter()
        .find(|(_, patterns, value, ci)| !patterns.iter().any(|p| glob_match(p, value, *ci)))
}

/// `*` matches within a path segment, `**` across segments.
pub fn glob_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            value.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), value.chars().collect())
    };
    // Dynamic programming over (pattern index, value index): linear memory,
    // no backtracking blow-up on hostile patterns.
    let n = v.len();
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; n + 1];
        if p[i] == '*' {
            let cross = i + 1 < p.len() && p[i + 1] == '*';
            let mut running = false;
            for j in 0..=n {
                if reach[j] {
                    running = true;
                }
                next[j] = running;
                if j < n && !cross && v[j] == '/' {
                    running = false;
                }
            }
            i += if cross { 2 } else { 1 };
        } else {
            for j in 0..n {
                if reach[j] && v[j] == p[i] {
                    next[j + 1] = true;
                }
            }
            i += 1;
        }
        reach = next;
    }
    reach[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(creds: &[&str], subs: &[&str], methods: &[&str], paths: &[&str]) -> Permissions {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Permissions {
            azure: Some(AzureRule {
                credentials: v(creds),
                subscriptions: v(subs),
                methods: v(methods),
                paths: v(paths),
            }),
            ..Default::default()
        }
    }

    fn policy(requested: Permissions, granted: Permissions) -> Policy {
        Policy {
            plugin: "aks-discovery".into(),
            requested,
            granted,
            config_source: "/etc/drover/config.toml".into(),
        }
    }

    const LIST: AzureAccess = AzureAccess {
        credential: "prod",
        subscription: "00000000-0000-0000-0000-000000000001",
        method: "GET",
        path: "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.ContainerService/managedClusters",
    };

    #[test]
    fn glob_semantics() {
        assert!(glob_match("*", "anything", false));
        assert!(glob_match("a*c", "abbbc", false));
        assert!(!glob_match("a*c", "ab/c", false));
        assert!(glob_match("a**c", "ab/c", false));
        assert!(glob_match(
            "/subscriptions/*/providers/**",
            "/subscriptions/s1/providers/x/y",
            false
        ));
        assert!(!glob_match(
            "/subscriptions/*/providers/**",
            "/subscriptions/s1/rg/providers/x",
            false
        ));
        assert!(glob_match("GET", "get", true));
        assert!(!glob_match("GET", "get", false));
        assert!(!glob_match("abc", "ab", false));
        assert!(glob_match("", "", false));
        assert!(!glob_match("", "x", false));
        // Hostile pattern stays linear.
        let p = "*a".repeat(200);
        assert!(!glob_match(&p, &"a".repeat(150), false));
    }

    #[test]
    fn default_deny_names_the_section_to_add() {
        let p = policy(Permissions::default(), Permissions::default());
        let err = p.check(&Access::Azure(LIST)).unwrap_err();
        assert!(
            err.message
                .contains("did not request azure credential \"prod\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn requested_but_not_granted_names_config_and_field() {
        let req = azure(
            &["*"],
            &["*"],
            &["GET"],
            &["/subscriptions/*/providers/Microsoft.ContainerService/**"],
        );
        let p = policy(req, Permissions::default());
        let err = p.check(&Access::Azure(LIST)).unwrap_err();
        assert!(
            err.message
                .contains("is not granted azure credential \"prod\""),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("[plugins.aks-discovery.azure]"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("/etc/drover/config.toml"),
            "{}",
            err.message
        );
    }

    #[test]
    fn effective_is_the_intersection() {
        let req = azure(&["*"], &["*"], &["GET", "POST"], &["/subscriptions/**"]);
        let granted = azure(
            &["prod"],
            &["00000000-*"],
            &["get"],
            &["/subscriptions/*/providers/microsoft.containerservice/**"],
        );
        let p = policy(req, granted);
        assert_eq!(p.check(&Access::Azure(LIST)), Ok(()));
        // Requested, but the operator only granted GET.
        let post = Access::Azure(AzureAccess {
            method: "POST",
            ..LIST
        });
        let err = p.check(&post).unwrap_err();
        assert!(err.message.contains("method \"POST\""), "{}", err.message);
        // Granted credential pattern does not cover another credential.
        let other = Access::Azure(AzureAccess {
            credential: "staging",
            ..LIST
        });
        assert!(
            p.check(&other)
                .unwrap_err()
                .message
                .contains("credential \"staging\"")
        );
        // Path outside the granted provider.
        let compute = Access::Azure(AzureAccess {
            path: "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Compute/virtualMachines",
            ..LIST
        });
        assert!(p.check(&compute).unwrap_err().message.contains("path"));
        // The operator granting more than requested does not widen it.
        let p = policy(
            azure(&["prod"], &["*"], &["GET"], &["**"]),
            azure(&["*"], &["*"], &["*"], &["**"]),
        );
        assert!(
            p.check(&Access::Azure(AzureAccess {
                credential: "staging",
                ..LIST
            }))
            .is_err()
        );
    }

    #[test]
    fn kubernetes_and_shell_rules() {
        let k = KubernetesRule {
            clusters: vec!["c-*".into()],
            verbs: vec!["get".into(), "list".into()],
            kinds: vec!["Node".into()],
            namespaces: vec!["".into()],
        };
        let s = ShellRule {
            targets: vec!["local".into()],
            programs: vec!["kubeadm".into()],
        };
        let perms = Permissions {
            kubernetes: Some(k),
            shell: Some(s),
            ..Default::default()
        };
        let p = policy(perms.clone(), perms);
        let get = KubernetesAccess {
            cluster: "c-1",
            verb: "get",
            kind: "Node",
            namespace: "",
        };
        assert!(p.check(&Access::Kubernetes(get)).is_ok());
        assert!(
            p.check(&Access::Kubernetes(KubernetesAccess {
                verb: "delete",
                ..get
            }))
            .is_err()
        );
        assert!(
            p.check(&Access::Kubernetes(KubernetesAccess {
                namespace: "kube-system",
                ..get
            }))
            .is_err()
        );
        assert!(
            p.check(&Access::Shell(ShellAccess {
                target: "local",
                program: "kubeadm"
            }))
            .is_ok()
        );
        let err = p
            .check(&Access::Shell(ShellAccess {
                target: "local",
                program: "sh",
            }))
            .unwrap_err();
        assert!(err.message.contains("program \"sh\""), "{}", err.message);
        // No azure section at all: denied on its first dimension.
        assert!(
            p.check(&Access::Azure(LIST))
                .unwrap_err()
                .message
                .contains("azure credential")
        );
    }
}
