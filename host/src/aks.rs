//! AKS discovery for operators: runs the `aks-discovery` plugin, records what
//! it found in the inventory (first seen, last seen, missing), and serves the
//! credential check and lookups. A failed discovery changes nothing stored.

use crate::plugins::Registry;
use crate::runtime::bindings::WitError;
use crate::runtime::bindings::aks_discovery::exports::drover::plugin::discovery as wit;
use crate::runtime::{CallError, Capability};
use crate::store::{AksRow, InventoryChange, Store};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The plugin that serves discovery.
pub const PLUGIN: &str = "aks-discovery";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct NodePool {
    pub name: String,
    pub mode: Option<String>,
    pub count: Option<u32>,
    pub vm_size: Option<String>,
    pub os_type: Option<String>,
    pub os_sku: Option<String>,
    pub kubernetes_version: Option<String>,
    pub autoscaling: bool,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct NetworkProfile {
    pub plugin: Option<String>,
    pub plugin_mode: Option<String>,
    pub policy: Option<String>,
    /// The first pod range (IPv4 on a dual-stack cluster).
    pub pod_cidr: Option<String>,
    /// Every pod range: two on a dual-stack cluster.
    #[serde(default)]
    pub pod_cidrs: Vec<String>,
    /// The first service range.
    pub service_cidr: Option<String>,
    /// Every service range.
    #[serde(default)]
    pub service_cidrs: Vec<String>,
    pub dns_service_ip: Option<String>,
    pub outbound_type: Option<String>,
    pub load_balancer_sku: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AadProfile {
    pub managed: bool,
    pub azure_rbac: bool,
    pub admin_group_object_ids: Vec<String>,
    pub tenant_id: Option<String>,
}

/// One AKS cluster and what the inventory knows of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AksCluster {
    /// The ARM resource id.
    pub id: String,
    pub name: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub location: String,
    pub kubernetes_version: Option<String>,
    /// `Running` or `Stopped`.
    pub power_state: Option<String>,
    pub provisioning_state: Option<String>,
    pub fqdn: Option<String>,
    pub private_fqdn: Option<String>,
    pub private_api_server: bool,
    pub authorized_ip_ranges: Vec<String>,
    pub aad: Option<AadProfile>,
    pub local_accounts_disabled: bool,
    pub network: Option<NetworkProfile>,
    pub node_pools: Vec<NodePool>,
    pub node_resource_group: Option<String>,
    pub identity_type: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// The credential that last found it.
    #[serde(default)]
    pub credential: String,
    /// Unix milliseconds.
    #[serde(default)]
    pub first_seen: i64,
    #[serde(default)]
    pub last_seen: i64,
    /// Set when a later full discovery of its subscription did not find it.
    #[serde(default)]
    pub missing_since: Option<i64>,
}

impl From<wit::Cluster> for AksCluster {
    fn from(c: wit::Cluster) -> AksCluster {
        AksCluster {
            id: c.id,
            name: c.name,
            subscription_id: c.subscription_id,
            resource_group: c.resource_group,
            location: c.location,
            kubernetes_version: c.kubernetes_version,
            power_state: c.power_state,
            provisioning_state: c.provisioning_state,
            fqdn: c.fqdn,
            private_fqdn: c.private_fqdn,
            private_api_server: c.private_api_server,
            authorized_ip_ranges: c.authorized_ip_ranges,
            aad: c.aad.map(|a| AadProfile {
                managed: a.managed,
                azure_rbac: a.azure_rbac,
                admin_group_object_ids: a.admin_group_object_ids,
                tenant_id: a.tenant_id,
            }),
            local_accounts_disabled: c.local_accounts_disabled,
            network: c.network.map(|n| {
                let pod_cidrs = split_ranges(n.pod_cidr.as_deref());
                let service_cidrs = split_ranges(n.service_cidr.as_deref());
                NetworkProfile {
                    plugin: n.plugin,
                    plugin_mode: n.plugin_mode,
                    policy: n.policy,
                    pod_cidr: pod_cidrs.first().cloned(),
                    pod_cidrs,
                    service_cidr: service_cidrs.first().cloned(),
                    service_cidrs,
                    dns_service_ip: n.dns_service_ip,
                    outbound_type: n.outbound_type,
                    load_balancer_sku: n.load_balancer_sku,
                }
            }),
            node_pools: c
                .node_pools
                .into_iter()
                .map(|p| NodePool {
                    name: p.name,
                    mode: p.mode,
                    count: p.count,
                    vm_size: p.vm_size,
                    os_type: p.os_type,
                    os_sku: p.os_sku,
                    kubernetes_version: p.kubernetes_version,
                    autoscaling: p.autoscaling,
                    min_count: p.min_count,
                    max_count: p.max_count,
                })
                .collect(),
            node_resource_group: c.node_resource_group,
            identity_type: c.identity_type,
            tags: c.tags.into_iter().collect(),
            credential: String::new(),
            first_seen: 0,
            last_seen: 0,
            missing_since: None,
        }
    }
}

/// What the plugin says a cluster is must be usable as an inventory key:
/// everything a plugin returns is checked before it is stored.
fn check_cluster_record(c: &wit::Cluster) -> Result<(), AksError> {
    let bad = |what: String| {
        Err(AksError::BadPluginOutput(format!(
            "plugin {PLUGIN:?} returned a cluster {what}: fix or replace the plugin"
        )))
    };
    if !c.id.starts_with("/subscriptions/") || c.id.len() > 1024 {
        return bad(format!(
            "whose id {:?} is not an ARM resource id",
            crate::text::one_line(&c.id, 200)
        ));
    }
    if c.name.is_empty() || c.name.len() > 256 {
        return bad(format!(
            "{:?} without a usable name",
            crate::text::one_line(&c.id, 200)
        ));
    }
    Ok(())
}

/// `a,b` (a dual-stack plugin's ranges) → `[a, b]`.
fn split_ranges(ranges: Option<&str>) -> Vec<String> {
    ranges
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

impl AksCluster {
    fn from_row(row: AksRow) -> anyhow::Result<AksCluster> {
        let mut c: AksCluster = serde_json::from_str(&row.data)?;
        // Recorded before the lists existed: the one range there was.
        if let Some(n) = c.network.as_mut() {
            if n.pod_cidrs.is_empty() {
                n.pod_cidrs = n.pod_cidr.iter().cloned().collect();
            }
            if n.service_cidrs.is_empty() {
                n.service_cidrs = n.service_cidr.iter().cloned().collect();
            }
        }
        c.credential = row.credential;
        c.first_seen = row.first_seen;
        c.last_seen = row.last_seen;
        c.missing_since = row.missing_since;
        Ok(c)
    }
}

/// What to discover.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// A stored Azure credential.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub credential: String,
    /// Empty: the credential's configured subscriptions, else all it can see.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    #[serde(default)]
    pub resource_groups: Vec<String>,
    #[serde(default)]
    pub name_contains: Option<String>,
    /// `key=value` or `key`.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl DiscoverRequest {
    /// What can be said about a request before Azure is asked.
    pub fn check(&self) -> Result<(), AksError> {
        if !crate::config::is_valid_object_name(&self.credential) {
            return Err(AksError::Invalid(format!(
                "{:?} is not a credential name: name the credential to discover with \
                 (`--credential NAME`, 1-64 letters, digits, '-', '_' or '.')",
                crate::text::one_line(&self.credential, 100)
            )));
        }
        Ok(())
    }
}

/// An error, as the API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

/// A subscription, or one resource group of it, that could not be searched;
/// a resource group that does not exist is reported with code `not-found`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionFailure {
    pub subscription: String,
    /// Set when the failure is about this resource group only.
    #[serde(default)]
    pub resource_group: Option<String>,
    pub error: Problem,
}

impl SubscriptionFailure {
    /// From the plugin's scope: `<subscription>` or
    /// `<subscription>/resourceGroups/<group>`.
    fn new(scope: &str, error: Problem) -> SubscriptionFailure {
        let (subscription, resource_group) = match scope.split_once('/') {
            Some((sub, rest)) => {
                let group = rest
                    .split_once('/')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("resourceGroups"))
                    .map(|(_, g)| g.to_string());
                (sub.to_string(), group)
            }
            None => (scope.to_string(), None),
        };
        SubscriptionFailure {
            subscription,
            resource_group,
            error,
        }
    }
}

/// What a discovery operation records as its output: the clusters
/// themselves are in the inventory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiscoverySummary {
    /// ARM ids of the clusters found (look them up with `/v1/aks/clusters`).
    pub cluster_ids: Vec<String>,
    pub subscriptions: Vec<String>,
    pub failures: Vec<SubscriptionFailure>,
    pub new: u64,
    pub updated: u64,
    pub missing: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// What a credential can see, and why not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialCheck {
    pub credential: String,
    pub cloud: String,
    pub ok: bool,
    pub visible: Vec<Subscription>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[derive(clap::ValueEnum)]
pub enum LookupKind {
    Locations,
    Versions,
    Upgrades,
    VmSizes,
    Vnets,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LookupItem {
    pub name: String,
    pub detail: String,
}

/// Why an AKS request failed.
#[derive(Debug, thiserror::Error)]
pub enum AksError {
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// Azure answered with an error.
    #[error("Azure answered {status} {code}: {message}")]
    Upstream {
        status: u16,
        code: String,
        message: String,
    },
    /// No token could be had for the credential (wrong secret, no identity).
    #[error("{0}")]
    Credential(String),
    #[error("{0}")]
    Timeout(String),
    /// The plugin is missing or failed.
    #[error("{0}")]
    Unavailable(String),
    /// The plugin answered with records that are not valid.
    #[error("{0}")]
    BadPluginOutput(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AksError {
    /// A stable code for scripts (the API's error code).
    pub fn code(&self) -> &'static str {
        match self {
            AksError::Denied(_) => "denied",
            AksError::NotFound(_) => "not-found",
            AksError::Invalid(_) => "invalid-input",
            AksError::Conflict(_) => "conflict",
            AksError::Upstream { .. } => "upstream",
            AksError::Credential(_) => "credential-unavailable",
            AksError::Timeout(_) => "timeout",
            AksError::Unavailable(_) => "unavailable",
            AksError::BadPluginOutput(_) => "bad-plugin-output",
            AksError::Internal(_) => "internal",
        }
    }
}

fn problem(e: &WitError) -> Problem {
    Problem {
        code: crate::host_api::error_code(e).to_string(),
        message: crate::runtime::bindings::describe(e),
    }
}

impl From<CallError> for AksError {
    fn from(e: CallError) -> AksError {
        match e {
            CallError::Plugin { error, .. } => match error {
                WitError::Denied(m) => AksError::Denied(m),
                WitError::NotFound(m) => AksError::NotFound(m),
                WitError::InvalidInput(m) => AksError::Invalid(m),
                WitError::Upstream(u) if u.code == "CredentialUnavailable" => {
                    AksError::Credential(u.message)
                }
                WitError::Upstream(u) => AksError::Upstream {
                    status: u.status,
                    code: u.code,
                    message: u.message,
                },
                WitError::Timeout(m) => AksError::Timeout(m),
                other => AksError::Unavailable(crate::runtime::bindings::describe(&other)),
            },
            other => AksError::Unavailable(other.to_string()),
        }
    }
}

pub struct Aks {
    registry: Arc<Registry>,
    store: Store,
}

impl Aks {
    pub fn new(registry: Arc<Registry>, store: Store) -> Aks {
        Aks { registry, store }
    }

    fn plugin(&self) -> Result<Arc<crate::plugins::registry::LoadedPlugin>, AksError> {
        self.registry
            .get(PLUGIN)
            .filter(|p| p.capability() == Capability::AksDiscovery)
            .ok_or_else(|| {
                AksError::Unavailable(format!(
                    "the {PLUGIN} plugin is not loaded: `drover plugin ls` shows why"
                ))
            })
    }

    /// Whether discovery can run: its plugin is loaded.
    pub fn ready(&self) -> Result<(), AksError> {
        self.plugin().map(|_| ())
    }

    /// Discover and record (`request` is checked: the workflow parsed it).
    /// A discovery that fails as a whole stores nothing.
    pub async fn discover(&self, request: DiscoverRequest) -> Result<DiscoverySummary, AksError> {
        let plugin = self.plugin()?;
        let filtered = !request.resource_groups.is_empty()
            || request
                .name_contains
                .as_deref()
                .is_some_and(|n| !n.is_empty())
            || !request.tags.is_empty();
        let result = self
            .registry
            .runtime()
            .discover(
                &plugin.prepared,
                wit::DiscoverRequest {
                    credential: request.credential.clone(),
                    subscriptions: request.subscriptions.clone(),
                    resource_groups: request.resource_groups.clone(),
                    name_contains: request.name_contains.clone(),
                    tags: request.tags.clone(),
                },
            )
            .await?;
        let failures: Vec<SubscriptionFailure> = result
            .failures
            .iter()
            .map(|f| SubscriptionFailure::new(&f.subscription, problem(&f.error)))
            .collect();
        let failed: Vec<String> = failures
            .iter()
            .map(|f| f.subscription.to_ascii_lowercase())
            .collect();
        let complete: Vec<String> = if filtered {
            Vec::new()
        } else {
            result
                .subscriptions
                .iter()
                .filter(|s| !failed.contains(&s.to_ascii_lowercase()))
                .cloned()
                .collect()
        };
        for c in &result.clusters {
            check_cluster_record(c)?;
        }
        let clusters: Vec<AksCluster> = result.clusters.into_iter().map(AksCluster::from).collect();
        let rows = clusters
            .iter()
            .map(|c| {
                Ok(AksRow {
                    id: c.id.clone(),
                    credential: request.credential.clone(),
                    subscription_id: c.subscription_id.clone(),
                    resource_group: c.resource_group.clone(),
                    name: c.name.clone(),
                    data: serde_json::to_string(c)?,
                    first_seen: 0,
                    last_seen: 0,
                    missing_since: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (change, stored) = self
            .store
            .aks_record(&request.credential, &rows, &complete)?;
        let InventoryChange {
            new,
            updated,
            missing,
        } = change;
        Ok(DiscoverySummary {
            cluster_ids: stored.into_iter().map(|row| row.id).collect(),
            subscriptions: result.subscriptions,
            failures,
            new,
            updated,
            missing,
        })
    }

    /// The inventory.
    pub fn inventory(
        &self,
        subscription: Option<&str>,
        resource_group: Option<&str>,
    ) -> Result<Vec<AksCluster>, AksError> {
        Ok(self
            .store
            .aks_list(subscription, resource_group)?
            .into_iter()
            .map(AksCluster::from_row)
            .collect::<anyhow::Result<_>>()?)
    }

    /// One cluster by ARM id or (unambiguous) name.
    pub fn show(&self, key: &str) -> Result<AksCluster, AksError> {
        let mut found = self.store.aks_find(key)?;
        match found.len() {
            0 => Err(AksError::NotFound(format!(
                "no AKS cluster {key:?} in the inventory: run `drover aks clusters --credential NAME` \
                 first"
            ))),
            1 => Ok(AksCluster::from_row(found.remove(0))?),
            _ => Err(AksError::Conflict(format!(
                "{} clusters are named {key:?}: use the ARM id, one of {}",
                found.len(),
                found
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub async fn check_credential(&self, credential: &str) -> Result<CredentialCheck, AksError> {
        let plugin = self.plugin()?;
        let c = self
            .registry
            .runtime()
            .check_credential(&plugin.prepared, credential.to_string())
            .await?;
        Ok(CredentialCheck {
            credential: c.credential,
            cloud: c.cloud,
            ok: c.ok,
            visible: c
                .visible
                .into_iter()
                .map(|s| Subscription {
                    id: s.id,
                    name: s.name,
                    state: s.state,
                })
                .collect(),
            problems: c.problems,
        })
    }

    pub async fn lookup(
        &self,
        kind: LookupKind,
        credential: &str,
        subscription: Option<String>,
        location: Option<String>,
        cluster: Option<String>,
    ) -> Result<Vec<LookupItem>, AksError> {
        let plugin = self.plugin()?;
        // A cluster may be named by its inventory name.
        let cluster_id = match cluster {
            Some(c) if !c.starts_with('/') => Some(self.show(&c)?.id),
            other => other,
        };
        let items = self
            .registry
            .runtime()
            .lookup(
                &plugin.prepared,
                wit::LookupRequest {
                    credential: credential.to_string(),
                    kind: match kind {
                        LookupKind::Locations => wit::LookupKind::Locations,
                        LookupKind::Versions => wit::LookupKind::KubernetesVersions,
                        LookupKind::Upgrades => wit::LookupKind::Upgrades,
                        LookupKind::VmSizes => wit::LookupKind::VmSizes,
                        LookupKind::Vnets => wit::LookupKind::VirtualNetworks,
                    },
                    subscription,
                    location,
                    cluster_id,
                },
            )
            .await?;
        Ok(items
            .into_iter()
            .map(|i| LookupItem {
                name: i.name,
                detail: i.detail,
            })
            .collect())
    }
}
