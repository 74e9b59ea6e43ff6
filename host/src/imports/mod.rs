//! Importing clusters the Rancher way: a cluster's import settings, the
//! registration tokens that let its agent in, the import YAML (rendered by the
//! `import-manifests` plugin, with the token filled in by the host), and the
//! agent's check-ins that move the cluster Pending → Active (→ Disconnected
//! when they stop, see [`Imports::sweep`]).
//!
//! A registration token is 52 lowercase hex characters: a 12-character public
//! id followed by 40 secret ones. Only the id and the sha256 of the whole
//! token are stored; a presented token is looked up by its id and its hash
//! compared in constant time. Logs and the audit log name tokens by id only.

pub mod options;

pub use options::{
    AgentTlsMode, ImportOptions, PolicyRule, PullPolicy, Rbac, RbacPreset, Rules, TaintEffect,
    Toleration,
};

use crate::config::ImportSettings;
use crate::plugins::Registry;
use crate::runtime::bindings::import_manifests::exports::drover::plugin::manifests as wit;
use crate::runtime::{CallError, Capability};
use crate::store::{
    ClusterFacts, ClusterRow, ClusterStatus, ImportTokenRow, NewAudit, Store, now_ms,
};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Length of a token's public id.
pub const TOKEN_ID_LEN: usize = 12;
/// Length of a whole registration token.
pub const TOKEN_LEN: usize = 52;
/// Namespace the agent runs in unless a cluster says otherwise.
pub const DEFAULT_NAMESPACE: &str = "drover-system";

/// A registration token, shown once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportCommand {
    pub token_id: String,
    pub cluster_id: String,
    pub cluster_name: String,
    /// Unix milliseconds; after it the URL answers 404.
    pub expires_at: i64,
    /// The import URL (it contains the token: treat it as a secret).
    pub url: String,
    /// `kubectl apply -f URL`.
    pub kubectl: String,
    /// `curl --insecure -sfL URL | kubectl apply -f -`, when the server's CA
    /// is not one a client trusts out of the box.
    pub insecure: Option<String>,
    /// What the CA checksum protects, when there is one.
    pub note: Option<String>,
}

/// Why an import request failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The token is unknown, revoked or expired (or the cluster is gone).
    #[error("{0}")]
    Unauthorized(String),
    /// The token is good but for another cluster.
    #[error("{0}")]
    Forbidden(String),
    /// The renderer plugin is missing or failed.
    #[error("{0}")]
    Unavailable(String),
    /// The renderer plugin answered with something that is not a valid
    /// rendering (a body that is not an object, a Secret without room for
    /// the token, …).
    #[error("{0}")]
    BadPluginOutput(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What [`CheckIn`]'s texts may hold, as the OpenAPI document's `pattern`
/// says it: no control characters (`char::is_control`).
pub const PRINTABLE_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// What an agent sends when it registers or heartbeats.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    /// The cluster id the agent was deployed for (`DROVER_CLUSTER_ID`).
    #[schema(max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub cluster_id: String,
    /// `gitVersion` from the cluster's `/version`, e.g. `v1.33.2`.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub kubernetes_version: Option<String>,
    #[serde(default, deserialize_with = "crate::wire::opt_int")]
    #[schema(minimum = 0)]
    pub node_count: Option<i64>,
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub agent_version: Option<String>,
}

impl CheckIn {
    fn check(&self) -> Result<(), ImportError> {
        let printable = |s: &str| s.chars().all(|c| !c.is_control());
        for (field, value, max) in [
            ("cluster_id", Some(self.cluster_id.as_str()), 64),
            ("kubernetes_version", self.kubernetes_version.as_deref(), 64),
            ("agent_version", self.agent_version.as_deref(), 64),
        ] {
            if let Some(v) = value
                && (v.chars().count() > max || !printable(v))
            {
                return Err(ImportError::Invalid(format!(
                    "{field} must be at most {max} printable characters"
                )));
            }
        }
        if self.node_count.is_some_and(|n| n < 0) {
            return Err(ImportError::Invalid("node_count cannot be negative".into()));
        }
        Ok(())
    }
}

/// The server's answer to a check-in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckInReply {
    pub cluster_id: String,
    pub cluster_name: String,
    pub status: ClusterStatus,
    /// How often the agent should heartbeat, in milliseconds.
    pub heartbeat_interval_ms: u64,
}

/// The cluster-import service: shared by the API and the sweeper.
pub struct Imports {
    store: Store,
    registry: Arc<Registry>,
    settings: ImportSettings,
    /// The URL agents dial.
    server_url: String,
    ca_checksum: Option<String>,
}

impl Imports {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        settings: ImportSettings,
        own_url: &str,
        ca_checksum: Option<String>,
    ) -> Imports {
        let server_url = settings
            .server_url
            .clone()
            .unwrap_or_else(|| own_url.trim_end_matches('/').to_string());
        Imports {
            store,
            registry,
            settings,
            server_url,
            ca_checksum,
        }
    }

    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    pub fn settings(&self) -> &ImportSettings {
        &self.settings
    }

    /// How often agents heartbeat: a quarter of the disconnect timeout, so
    /// three missed beats in a row still leave the cluster Active.
    pub fn heartbeat_interval(&self) -> Duration {
        (self.settings.disconnect_after / 4).max(Duration::from_millis(250))
    }

    /// Add a generic imported cluster. Its settings are checked against
    /// Kubernetes' rules, then rendered once through the plugin, so settings
    /// the plugin refuses, or output it cannot render, are refused now and
    /// not when the cluster owner applies the URL.
    pub async fn add_cluster(
        &self,
        name: &str,
        options: &ImportOptions,
    ) -> Result<ClusterRow, ImportError> {
        if !is_valid_cluster_name(name) {
            return Err(ImportError::Invalid(format!(
                "{name:?} is not a valid cluster name: use 1-63 lowercase letters, digits and \
                 '-', starting and ending with a letter or digit"
            )));
        }
        options.check(self.ca_checksum.is_some())?;
        if self.store.cluster(name)?.is_some() {
            return Err(ImportError::Conflict(format!(
                "a cluster named {name:?} already exists: pick another name, or remove it with \
                 `drover cluster rm {name}`"
            )));
        }
        let id = format!("c-{}", hex::encode(rand::random::<[u8; 6]>()));
        let placeholder = ClusterRow {
            id: id.clone(),
            name: name.to_string(),
            kind: "imported".into(),
            status: ClusterStatus::Pending,
            created_at: now_ms(),
            registered_at: None,
            last_heartbeat_at: None,
            kubernetes_version: None,
            node_count: None,
            agent_version: None,
            import: serde_json::Value::Null,
        };
        self.render_objects(&placeholder, options, &"0".repeat(TOKEN_LEN))
            .await?;
        let stored = serde_json::to_value(options).context("cannot encode import settings")?;
        Ok(self.store.cluster_insert(&id, name, "imported", &stored)?)
    }

    pub fn cluster(&self, id_or_name: &str) -> Result<ClusterRow, ImportError> {
        self.store.cluster(id_or_name)?.ok_or_else(|| {
            ImportError::NotFound(format!(
                "no cluster with id or name {id_or_name:?}: `drover cluster ls` lists them"
            ))
        })
    }

    /// Mint a registration token for a cluster and say how to use it.
    pub fn new_token(
        &self,
        cluster: &str,
        ttl: Option<Duration>,
    ) -> Result<ImportCommand, ImportError> {
        let cluster = self.cluster(cluster)?;
        let ttl = ttl.unwrap_or(self.settings.token_ttl);
        check_ttl(ttl)?;
        let id = hex::encode(rand::random::<[u8; TOKEN_ID_LEN / 2]>());
        let secret = hex::encode(rand::random::<[u8; (TOKEN_LEN - TOKEN_ID_LEN) / 2]>());
        let token = format!("{id}{secret}");
        let expires_at = now_ms().saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
        let row = self
            .store
            .import_token_insert(&id, &cluster.id, &hash(&token), expires_at)?;
        tracing::info!(cluster = %cluster.name, token_id = %row.id, "created a registration token");
        let url = format!("{}/import/{token}.yaml", self.server_url);
        let private_ca = self.server_url.starts_with("https://") && self.ca_checksum.is_some();
        Ok(ImportCommand {
            token_id: row.id,
            cluster_id: cluster.id,
            cluster_name: cluster.name,
            expires_at,
            kubectl: format!("kubectl apply -f {url}"),
            insecure: private_ca
                .then(|| format!("curl --insecure -sfL {url} | kubectl apply -f -")),
            note: self.ca_checksum.as_ref().map(|sum| {
                format!(
                    "The server's CA is not in the usual trust stores, so `kubectl apply -f` may \
                     refuse the URL; the curl variant skips verification for this one download. \
                     The manifests carry the CA checksum {sum}: the agent checks the server's CA \
                     against it before it sends the token, so a server that is not this one never \
                     receives it."
                )
            }),
            url,
        })
    }

    pub fn tokens(&self, cluster: &str) -> Result<Vec<ImportTokenRow>, ImportError> {
        let cluster = self.cluster(cluster)?;
        Ok(self.store.import_tokens(&cluster.id)?)
    }

    pub fn revoke(&self, token_id: &str) -> Result<ImportTokenRow, ImportError> {
        let row = self.store.import_token_revoke(token_id)?.ok_or_else(|| {
            ImportError::NotFound(format!(
                "no registration token with id {token_id:?}: `drover import tokens CLUSTER` \
                 lists them"
            ))
        })?;
        tracing::info!(token_id = %row.id, "revoked a registration token");
        Ok(row)
    }

    /// Look a presented token up: its id, then its hash in constant time.
    /// Unknown and revoked tokens are refused alike.
    pub fn authenticate(&self, token: &str) -> Result<ImportTokenRow, ImportError> {
        let unknown = || {
            ImportError::Unauthorized(
                "the registration token is unknown or revoked: print a new import command with \
                 `drover import command CLUSTER` and apply it again"
                    .into(),
            )
        };
        if token.len() != TOKEN_LEN
            || !token
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(unknown());
        }
        let presented = hash(token);
        let Some((row, stored)) = self.store.import_token(&token[..TOKEN_ID_LEN])? else {
            return Err(unknown());
        };
        if !bool::from(presented.as_slice().ct_eq(&stored)) || row.revoked_at.is_some() {
            return Err(unknown());
        }
        Ok(row)
    }

    /// The import YAML for `token`, or NotFound when the token is unknown,
    /// revoked or expired (the caller answers 404 without saying which).
    pub async fn manifests(&self, token: &str) -> Result<String, ImportError> {
        let gone = || ImportError::NotFound("no import manifests here".into());
        let row = match self.authenticate(token) {
            Ok(row) if row.expires_at > now_ms() => row,
            Ok(row) => {
                tracing::info!(token_id = %row.id, "refused an expired registration token");
                return Err(gone());
            }
            Err(ImportError::Unauthorized(_)) => return Err(gone()),
            Err(e) => return Err(e),
        };
        let cluster = self.cluster(&row.cluster_id).map_err(|_| gone())?;
        let options: ImportOptions =
            serde_json::from_value(cluster.import.clone()).with_context(|| {
                format!(
                    "the stored import settings of cluster {} are unreadable",
                    cluster.name
                )
            })?;
        let objects = self.render_objects(&cluster, &options, token).await?;
        self.audit(&row.id, "GET /import", &cluster.name, "GET", "200");
        let mut yaml = format!(
            "# Drover import manifests for cluster {} ({}).\n# Apply with kubectl; the agent \
             registers with the Drover server at {}.\n",
            cluster.name, cluster.id, self.server_url
        );
        yaml.push_str(
            &serde_saphyr::to_string_multiple(&objects)
                .context("cannot write the manifests as YAML")?,
        );
        Ok(yaml)
    }

    /// Render through the plugin and fill in the token.
    async fn render_objects(
        &self,
        cluster: &ClusterRow,
        options: &ImportOptions,
        token: &str,
    ) -> Result<Vec<serde_json::Value>, ImportError> {
        let plugin_name = &self.settings.plugin;
        let plugin = self
            .registry
            .get(plugin_name)
            .filter(|p| p.capability() == Capability::ImportManifests)
            .ok_or_else(|| {
                ImportError::Unavailable(format!(
                    "the import-manifests plugin {plugin_name:?} is not loaded: `drover plugin ls` \
                     shows why"
                ))
            })?;
        let namespace = options
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let secret_name = secret_name(&self.server_url, token, &namespace);
        let request = self.render_request(cluster, options, &namespace, &secret_name);
        let manifests = self
            .registry
            .runtime()
            .render_manifests(&plugin.prepared, &request)
            .await
            .map_err(|e| match e {
                CallError::Plugin {
                    error: crate::runtime::bindings::WitError::InvalidInput(m),
                    ..
                } => ImportError::Invalid(m),
                other => ImportError::Unavailable(format!("cannot render the manifests: {other}")),
            })?;
        fill_token(plugin_name, manifests, &secret_name, token)
    }

    fn render_request(
        &self,
        cluster: &ClusterRow,
        o: &ImportOptions,
        namespace: &str,
        secret_name: &str,
    ) -> wit::RenderRequest {
        let rbac = match &o.rbac {
            Rbac::ClusterAdmin => wit::Rbac::ClusterAdmin,
            Rbac::ReadOnly => wit::Rbac::Rules(read_only_rules()),
            Rbac::Custom(rules) => wit::Rbac::Rules(
                rules
                    .0
                    .iter()
                    .map(|r| wit::PolicyRule {
                        api_groups: r.api_groups.clone(),
                        resources: r.resources.clone(),
                        verbs: r.verbs.clone(),
                    })
                    .collect(),
            ),
        };
        let tls_mode = match o.tls_mode {
            Some(AgentTlsMode::Strict) => wit::TlsMode::Strict,
            Some(AgentTlsMode::SystemStore) => wit::TlsMode::SystemStore,
            Some(AgentTlsMode::Insecure) => wit::TlsMode::Insecure,
            None if self.ca_checksum.is_some() => wit::TlsMode::Strict,
            None => wit::TlsMode::SystemStore,
        };
        let any_resources = [
            &o.cpu_request,
            &o.memory_request,
            &o.cpu_limit,
            &o.memory_limit,
        ]
        .iter()
        .any(|r| r.is_some());
        wit::RenderRequest {
            cluster_id: cluster.id.clone(),
            cluster_name: cluster.name.clone(),
            namespace: namespace.to_string(),
            rbac,
            credentials: wit::Credentials {
                server_url: self.server_url.clone(),
                secret_name: secret_name.to_string(),
            },
            agent: wit::AgentSettings {
                image: o
                    .agent_image
                    .clone()
                    .unwrap_or_else(|| self.settings.agent_image.clone()),
                pull_policy: match o.pull_policy {
                    PullPolicy::Always => wit::PullPolicy::Always,
                    PullPolicy::IfNotPresent => wit::PullPolicy::IfNotPresent,
                    PullPolicy::Never => wit::PullPolicy::Never,
                },
                ca_checksum: self.ca_checksum.clone(),
                tls_mode,
                proxy: wit::Proxy {
                    http_proxy: o.http_proxy.clone(),
                    https_proxy: o.https_proxy.clone(),
                    no_proxy: o.no_proxy.clone(),
                },
                image_pull_secrets: o.image_pull_secrets.clone(),
                resources: any_resources.then(|| wit::Resources {
                    cpu_request: o.cpu_request.clone(),
                    memory_request: o.memory_request.clone(),
                    cpu_limit: o.cpu_limit.clone(),
                    memory_limit: o.memory_limit.clone(),
                }),
                tolerations: o
                    .tolerations
                    .iter()
                    .map(|t| {
                        let value = t.value.clone().filter(|v| !v.is_empty());
                        wit::Toleration {
                            key: Some(t.key.clone()),
                            operator: Some(if value.is_some() { "Equal" } else { "Exists" }.into()),
                            value,
                            effect: Some(t.effect.as_str().into()),
                            toleration_seconds: None,
                        }
                    })
                    .collect(),
                priority_class: o.priority_class.clone(),
            },
        }
    }

    /// An agent registers (`register`) or heartbeats with the token `row`
    /// (see [`Imports::authenticate`]). What it reports is checked first:
    /// agents are outside the daemon's trust.
    pub fn check_in(
        &self,
        row: ImportTokenRow,
        report: &CheckIn,
        register: bool,
    ) -> Result<CheckInReply, ImportError> {
        report.check()?;
        let verb = if register { "register" } else { "heartbeat" };
        if row.cluster_id != report.cluster_id {
            self.audit(&row.id, "POST /agent", &report.cluster_id, verb, "403");
            tracing::warn!(
                token_id = %row.id,
                claimed = %report.cluster_id,
                "refused a check-in: the registration token belongs to another cluster"
            );
            return Err(ImportError::Forbidden(format!(
                "this registration token was issued for another cluster than {:?}: apply the \
                 import command printed for this cluster",
                report.cluster_id
            )));
        }
        if register && row.registered_at.is_none() && row.expires_at <= now_ms() {
            return Err(ImportError::Unauthorized(
                "the registration token expired before an agent registered with it: print a new \
                 import command with `drover import command CLUSTER` and apply it again"
                    .into(),
            ));
        }
        if !register && row.registered_at.is_none() {
            return Err(ImportError::Conflict(
                "this agent has not registered yet: register first".into(),
            ));
        }
        let facts = ClusterFacts {
            kubernetes_version: report.kubernetes_version.as_deref(),
            node_count: report.node_count,
            agent_version: report.agent_version.as_deref(),
        };
        let previous = self
            .store
            .cluster_check_in(&row.cluster_id, &row.id, &facts, register)?
            .ok_or_else(|| ImportError::Unauthorized("the cluster was removed".into()))?;
        let cluster = self.cluster(&row.cluster_id)?;
        if register || previous != ClusterStatus::Active {
            tracing::info!(
                cluster = %cluster.name,
                token_id = %row.id,
                from = previous.as_str(),
                kubernetes_version = report.kubernetes_version.as_deref().unwrap_or("-"),
                nodes = report.node_count.unwrap_or(-1),
                "cluster agent checked in: active"
            );
        }
        if register {
            self.audit(&row.id, "POST /agent", &cluster.name, verb, "200");
        }
        Ok(CheckInReply {
            cluster_id: cluster.id,
            cluster_name: cluster.name,
            status: cluster.status,
            heartbeat_interval_ms: self.heartbeat_interval().as_millis() as u64,
        })
    }

    /// Mark clusters whose agents stopped checking in Disconnected.
    pub fn sweep(&self) -> anyhow::Result<Vec<String>> {
        let cutoff = now_ms().saturating_sub(
            self.settings
                .disconnect_after
                .as_millis()
                .min(i64::MAX as u128) as i64,
        );
        let names = self.store.clusters_disconnect_stale(cutoff)?;
        for name in &names {
            tracing::warn!(
                cluster = %name,
                after = %humantime::format_duration(self.settings.disconnect_after),
                "cluster agent stopped checking in: disconnected"
            );
        }
        Ok(names)
    }

    /// Run [`Imports::sweep`] until the process ends.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let imports = self.clone();
        let every = (self.settings.disconnect_after / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = imports.sweep() {
                    tracing::error!("cannot check clusters for missed heartbeats: {e:#}");
                }
            }
        })
    }

    /// Audit an action taken with a registration token, naming it by id.
    fn audit(&self, token_id: &str, action: &str, subject: &str, verb: &str, status: &str) {
        let actor = format!("import-token:{token_id}");
        let entry = NewAudit {
            actor_kind: "token",
            actor: &actor,
            action,
            subject,
            verb,
            allowed: status == "200",
            status,
            duration_us: 0,
        };
        if let Err(e) = self.store.audit_record(&entry) {
            tracing::error!("cannot write the audit log: {e:#}");
        }
    }
}

/// Check what the plugin rendered and fill the registration token into the
/// credentials Secret. Everything a plugin returns is untrusted: each body
/// must be a JSON object that says the same kind and name as its manifest
/// entry (so the token lands only in the object the plugin declared as the
/// credentials Secret), and that Secret's `stringData`, if present, must be
/// an object.
fn fill_token(
    plugin: &str,
    manifests: Vec<wit::Manifest>,
    secret_name: &str,
    token: &str,
) -> Result<Vec<serde_json::Value>, ImportError> {
    use crate::text::one_line;
    use serde_json::{Map, Value};
    let bad = |what: String| {
        ImportError::BadPluginOutput(format!(
            "plugin {plugin:?} {what}: fix the plugin, or select another with [import] plugin in \
             the daemon's config"
        ))
    };
    // Escaped only when an error needs them.
    let rendered = |m: &wit::Manifest| {
        format!(
            "rendered {} {:?}",
            one_line(&m.kind, 64),
            one_line(&m.name, 256)
        )
    };
    let mut objects = Vec::with_capacity(manifests.len());
    let mut filled = false;
    for m in manifests {
        let object: Value = serde_json::from_str(&m.body).map_err(|e| {
            bad(format!(
                "{} with a body that is not JSON ({e})",
                rendered(&m)
            ))
        })?;
        let Value::Object(mut object) = object else {
            return Err(bad(format!(
                "{} with a body that is {}, not a JSON object",
                rendered(&m),
                json_type(&object)
            )));
        };
        let body_kind = object.get("kind").and_then(Value::as_str);
        let body_name = object
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str);
        if body_kind != Some(m.kind.as_str()) || body_name != Some(m.name.as_str()) {
            return Err(bad(format!(
                "{} whose body's kind and metadata.name say something else",
                rendered(&m)
            )));
        }
        if object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(bad(format!("{} without an apiVersion", rendered(&m))));
        }
        if m.kind == "Secret" && m.name == secret_name {
            let name = one_line(&m.name, 256);
            if filled {
                return Err(bad(format!(
                    "rendered the credentials Secret {name:?} twice"
                )));
            }
            let data = object
                .entry("stringData")
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(data) = data else {
                return Err(bad(format!(
                    "rendered the credentials Secret {name:?} with a stringData that is {}, not \
                     an object",
                    json_type(data)
                )));
            };
            data.insert("token".into(), Value::String(token.to_string()));
            filled = true;
        }
        objects.push(Value::Object(object));
    }
    if !filled {
        return Err(bad(format!(
            "rendered no Secret named {secret_name:?} for the registration token"
        )));
    }
    Ok(objects)
}

/// What kind of JSON value `v` is, for error messages (never its content).
fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Core resources `--rbac read-only` may read: all but Secrets (RBAC grants,
/// it cannot subtract, so they are listed), as the built-in `view` role does.
const READ_ONLY_CORE: &[&str] = &[
    "configmaps",
    "endpoints",
    "events",
    "limitranges",
    "namespaces",
    "namespaces/status",
    "nodes",
    "nodes/status",
    "persistentvolumeclaims",
    "persistentvolumeclaims/status",
    "persistentvolumes",
    "pods",
    "pods/log",
    "pods/status",
    "replicationcontrollers",
    "replicationcontrollers/scale",
    "replicationcontrollers/status",
    "resourcequotas",
    "resourcequotas/status",
    "serviceaccounts",
    "services",
    "services/status",
];

/// Built-in API groups `--rbac read-only` may read entirely (none holds
/// Secrets). Custom resources' groups are not included: grant them with
/// `--rbac custom`.
const READ_ONLY_GROUPS: &[&str] = &[
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// get/list/watch on everything in [`READ_ONLY_CORE`] and [`READ_ONLY_GROUPS`].
fn read_only_rules() -> Vec<wit::PolicyRule> {
    let read = || vec!["get".into(), "list".into(), "watch".into()];
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        wit::PolicyRule {
            api_groups: vec![String::new()],
            resources: strings(READ_ONLY_CORE),
            verbs: read(),
        },
        wit::PolicyRule {
            api_groups: strings(READ_ONLY_GROUPS),
            resources: vec!["*".into()],
            verbs: read(),
        },
    ]
}

/// sha256 of a whole registration token.
fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `drover-credentials-` plus a hash of what the Secret holds, so a new
/// server URL, token or namespace makes a new Secret (and rolls the agent).
pub fn secret_name(server_url: &str, token: &str, namespace: &str) -> String {
    let mut h = Sha256::new();
    for part in [server_url, token, namespace] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("drover-credentials-{}", &hex::encode(h.finalize())[..10])
}

/// A DNS-1123 label: what Kubernetes tooling accepts as a cluster name too.
pub fn is_valid_cluster_name(name: &str) -> bool {
    options::is_dns1123_label(name)
}

/// A registration token lives between 1 s and 365 days.
pub fn check_ttl(ttl: Duration) -> Result<(), ImportError> {
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(365 * 24 * 3600) {
        return Err(ImportError::Invalid(format!(
            "a token lifetime of {} is out of range: use 1s to 365d",
            humantime::format_duration(ttl)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_pattern_says_what_the_check_does() {
        let pattern = regex::Regex::new(PRINTABLE_PATTERN).unwrap();
        for text in [
            "v1.33.2", "", "é ü", "a\tb", "a\nb", "\x1b[31m", "\u{7f}", "\u{9f}", "\u{a0}",
        ] {
            assert_eq!(
                pattern.is_match(text),
                text.chars().all(|c| !c.is_control()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn secret_names_change_with_each_input() {
        let base = secret_name("https://a:1", "t", "ns");
        assert!(base.starts_with("drover-credentials-"));
        assert_eq!(base.len(), "drover-credentials-".len() + 10);
        assert_ne!(base, secret_name("https://b:1", "t", "ns"));
        assert_ne!(base, secret_name("https://a:1", "u", "ns"));
        assert_ne!(base, secret_name("https://a:1", "t", "nt"));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(secret_name("ab", "c", "n"), secret_name("a", "bc", "n"));
    }

    #[test]
    fn cluster_names_are_dns_labels() {
        assert!(is_valid_cluster_name("prod-eu-1"));
        for bad in ["", "-a", "a-", "Prod", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_valid_cluster_name(bad), "{bad:?}");
        }
    }
}
