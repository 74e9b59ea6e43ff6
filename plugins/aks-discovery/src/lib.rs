//! `aks-discovery`: Drover's first-party plugin for the `aks-discovery`
//! world. It lists AKS clusters (ARM `managedClusters`, every page) in the
//! subscriptions a stored credential can see, or the ones asked for, and
//! turns each into the record operators decide a takeover on. It also checks
//! credentials and answers the lookups (locations, Kubernetes versions,
//! upgrades, VM sizes, virtual networks).
//!
//! Everything goes through the host's `azure` interface: the plugin names a
//! credential, the host attaches its token and enforces the grants. ARM
//! payloads vary in casing (`resourcegroups`, `ManagedClusters`) and carry
//! fields this plugin does not know; it reads ids case-insensitively and
//! ignores what it does not use.

use drover_sdk::{Error, PluginInfo, log};
use drover_sdk_discovery::discovery::{
    AadProfile, Cluster, CredentialCheck, DiscoverRequest, DiscoveryResult, LookupItem, LookupKind,
    LookupRequest, NetworkProfile, NodePool, Subscription, SubscriptionFailure,
};
use drover_sdk_discovery::{azure, discovery, plugin_info};
use serde_json::Value;

/// ARM api-versions this plugin speaks.
const AKS_API: &str = "2025-10-01";
const SUBSCRIPTIONS_API: &str = "2022-12-01";
const COMPUTE_API: &str = "2024-07-01";
const NETWORK_API: &str = "2024-05-01";

pub struct AksDiscovery;

impl plugin_info::Guest for AksDiscovery {
    fn info() -> PluginInfo {
        drover_sdk::plugin_info!()
    }
}

impl discovery::Guest for AksDiscovery {
    fn discover(request: DiscoverRequest) -> Result<DiscoveryResult, Error> {
        discover(request)
    }

    fn check_credential(credential: String) -> Result<CredentialCheck, Error> {
        check_credential(&credential)
    }

    fn lookup(request: LookupRequest) -> Result<Vec<LookupItem>, Error> {
        lookup(request)
    }
}

#[cfg(target_arch = "wasm32")]
drover_sdk_discovery::export!(AksDiscovery);

/// Subscriptions the credential can see, as ARM lists them.
fn visible_subscriptions(credential: &str) -> Result<Vec<Subscription>, Error> {
    let mut listings = azure::list_all(credential, SUBSCRIPTIONS_API, &["/subscriptions".into()])?;
    let listing = listings
        .pop()
        .ok_or_else(|| Error::Internal("the host returned no listing".into()))?;
    let items = listing.items?;
    Ok(items
        .iter()
        .filter_map(|item| serde_json::from_str::<Value>(item).ok())
        .filter_map(|v| {
            Some(Subscription {
                id: str_of(&v["subscriptionId"])?.to_string(),
                name: str_of(&v["displayName"]).unwrap_or_default().to_string(),
                state: str_of(&v["state"]).unwrap_or("Unknown").to_string(),
            })
        })
        .collect())
}

fn usable(s: &Subscription) -> bool {
    !s.state.eq_ignore_ascii_case("disabled") && !s.state.eq_ignore_ascii_case("deleted")
}

fn discover(request: DiscoverRequest) -> Result<DiscoveryResult, Error> {
    let info = azure::describe_credential(&request.credential)?;
    let explicit = !request.subscriptions.is_empty();
    let subscriptions: Vec<String> = if explicit {
        request.subscriptions.clone()
    } else if !info.subscriptions.is_empty() {
        info.subscriptions.clone()
    } else {
        visible_subscriptions(&request.credential)?
            .into_iter()
            .filter(usable)
            .map(|s| s.id)
            .collect()
    };
    let mut paths = Vec::new();
    let mut owner = Vec::new();
    for sub in &subscriptions {
        if request.resource_groups.is_empty() {
            paths.push(format!(
                "/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters"
            ));
            owner.push((sub.clone(), None));
        } else {
            for rg in &request.resource_groups {
                paths.push(format!(
                    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters"
                ));
                owner.push((sub.clone(), Some(rg.clone())));
            }
        }
    }
    let listings = if paths.is_empty() {
        Vec::new()
    } else {
        azure::list_all(&request.credential, AKS_API, &paths)?
    };
    let filter = Filter::new(&request);
    let mut clusters = Vec::new();
    let mut failures: Vec<SubscriptionFailure> = Vec::new();
    let mut skipped = 0usize;
    let mut searched = 0usize;
    for (listing, (sub, group)) in listings.into_iter().zip(owner) {
        // A failure is about the subscription, or about one of its groups
        // when groups were asked for (`<subscription>/resourceGroups/<group>`).
        let scope = match &group {
            Some(rg) => format!("{sub}/resourceGroups/{rg}"),
            None => sub.clone(),
        };
        match listing.items {
            Ok(items) => {
                searched += 1;
                for item in items {
                    match serde_json::from_str::<Value>(&item)
                        .ok()
                        .and_then(|v| cluster(&v))
                    {
                        Some(c) if filter.keeps(&c) => clusters.push(c),
                        Some(_) => {}
                        None => skipped += 1,
                    }
                }
            }
            // Asking for a subscription by name that is not granted is an
            // error of the request, not a partial result.
            Err(Error::Denied(message)) if explicit => return Err(Error::Denied(message)),
            // A group that does not exist holds no clusters: searched, and said.
            Err(Error::Upstream(u))
                if group.is_some() && u.code.eq_ignore_ascii_case("ResourceGroupNotFound") =>
            {
                searched += 1;
                failures.push(SubscriptionFailure {
                    subscription: scope,
                    error: Error::NotFound(format!(
                        "resource group {} does not exist in subscription {sub}",
                        group.as_deref().unwrap_or_default()
                    )),
                });
            }
            Err(error) => {
                if !failures.iter().any(|f| f.subscription == scope) {
                    failures.push(SubscriptionFailure {
                        subscription: scope,
                        error,
                    });
                }
            }
        }
    }
    // Nothing could be searched at all: that is the answer, not a partial result.
    if searched == 0 && !failures.is_empty() {
        return Err(failures.swap_remove(0).error);
    }
    if skipped > 0 {
        log::warn(
            "skipped listed entries without an id or name, or that are not managed clusters",
            &[("count", &skipped.to_string())],
        );
    }
    clusters.sort_by_key(|c| c.id.to_ascii_lowercase());
    clusters.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
    log::info(
        "discovered AKS clusters",
        &[
            ("credential", &request.credential),
            ("subscriptions", &subscriptions.len().to_string()),
            ("clusters", &clusters.len().to_string()),
            ("failures", &failures.len().to_string()),
        ],
    );
    Ok(DiscoveryResult {
        clusters,
        subscriptions,
        failures,
    })
}

/// The request's resource-group, name and tag filters.
struct Filter {
    groups: Vec<String>,
    name: Option<String>,
    tags: Vec<(String, Option<String>)>,
}

impl Filter {
    fn new(r: &DiscoverRequest) -> Filter {
        Filter {
            groups: r
                .resource_groups
                .iter()
                .map(|g| g.to_ascii_lowercase())
                .collect(),
            name: r
                .name_contains
                .as_ref()
                .filter(|n| !n.is_empty())
                .map(|n| n.to_ascii_lowercase()),
            tags: r
                .tags
                .iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (t.clone(), None),
                })
                .collect(),
        }
    }

    fn keeps(&self, c: &Cluster) -> bool {
        if !self.groups.is_empty() && !self.groups.contains(&c.resource_group.to_ascii_lowercase())
        {
            return false;
        }
        if let Some(n) = &self.name
            && !c.name.to_ascii_lowercase().contains(n)
        {
            return false;
        }
        self.tags.iter().all(|(key, value)| {
            c.tags
                .iter()
                .any(|(k, v)| k == key && value.as_ref().is_none_or(|want| v == want))
        })
    }
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

fn string(v: &Value) -> Option<String> {
    str_of(v).map(str::to_string)
}

fn count(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// The segment after `key` in an ARM resource id, compared case-insensitively
/// (`resourceGroups` and `resourcegroups` both occur).
pub fn id_segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(key) {
            return parts.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// The resource type of a managed cluster, as ARM spells it (compared
/// case-insensitively: `ManagedClusters` occurs too).
const MANAGED_CLUSTER_TYPE: &str = "Microsoft.ContainerService/managedClusters";

/// One `managedClusters` entry as a [`Cluster`]; None without id or name, or
/// when it is not a managed cluster (its `type`, or failing that its id,
/// says so).
pub fn cluster(v: &Value) -> Option<Cluster> {
    let id = str_of(&v["id"])?.to_string();
    let name = str_of(&v["name"])?.to_string();
    let is_cluster = match str_of(&v["type"]) {
        Some(t) => t.eq_ignore_ascii_case(MANAGED_CLUSTER_TYPE),
        None => id
            .to_ascii_lowercase()
            .contains("/providers/microsoft.containerservice/managedclusters/"),
    };
    if !is_cluster {
        return None;
    }
    let p = &v["properties"];
    let api = &p["apiServerAccessProfile"];
    let aad = p["aadProfile"].as_object().map(|aad| AadProfile {
        managed: aad.get("managed").and_then(Value::as_bool).unwrap_or(false),
        azure_rbac: aad
            .get("enableAzureRBAC")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        admin_group_object_ids: aad
            .get("adminGroupObjectIDs")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(string).collect())
            .unwrap_or_default(),
        tenant_id: aad.get("tenantID").and_then(string),
    });
    let n = &p["networkProfile"];
    let network = n.is_object().then(|| NetworkProfile {
        plugin: string(&n["networkPlugin"]),
        plugin_mode: string(&n["networkPluginMode"]),
        policy: string(&n["networkPolicy"]),
        pod_cidr: cidrs(n, "podCidr", "podCidrs"),
        service_cidr: cidrs(n, "serviceCidr", "serviceCidrs"),
        dns_service_ip: string(&n["dnsServiceIP"]),
        outbound_type: string(&n["outboundType"]),
        load_balancer_sku: string(&n["loadBalancerSku"]),
    });
    let node_pools = p["agentPoolProfiles"]
        .as_array()
        .map(|pools| {
            pools
                .iter()
                .filter_map(|pool| {
                    Some(NodePool {
                        name: string(&pool["name"])?,
                        mode: string(&pool["mode"]),
                        count: count(&pool["count"]),
                        vm_size: string(&pool["vmSize"]),
                        os_type: string(&pool["osType"]),
                        os_sku: string(&pool["osSKU"]),
                        kubernetes_version: string(&pool["currentOrchestratorVersion"])
                            .or_else(|| string(&pool["orchestratorVersion"])),
                        autoscaling: pool["enableAutoScaling"].as_bool().unwrap_or(false),
                        min_count: count(&pool["minCount"]),
                        max_count: count(&pool["maxCount"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut tags: Vec<(String, String)> = v["tags"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    Some(Cluster {
        subscription_id: id_segment(&id, "subscriptions")
            .unwrap_or_default()
            .to_string(),
        resource_group: id_segment(&id, "resourceGroups")
            .unwrap_or_default()
            .to_string(),
        location: string(&v["location"]).unwrap_or_default(),
        kubernetes_version: string(&p["currentKubernetesVersion"])
            .or_else(|| string(&p["kubernetesVersion"])),
        power_state: string(&p["powerState"]["code"]),
        provisioning_state: string(&p["provisioningState"]),
        fqdn: string(&p["fqdn"]),
        private_fqdn: string(&p["privateFQDN"]),
        private_api_server: api["enablePrivateCluster"].as_bool().unwrap_or(false),
        authorized_ip_ranges: api["authorizedIPRanges"]
            .as_array()
            .map(|r| r.iter().filter_map(string).collect())
            .unwrap_or_default(),
        aad,
        local_accounts_disabled: p["disableLocalAccounts"].as_bool().unwrap_or(false),
        network,
        node_pools,
        node_resource_group: string(&p["nodeResourceGroup"]),
        // A cluster without a managed identity (a service principal's, say)
        // has identity type `None`, as ARM names it.
        identity_type: Some(string(&v["identity"]["type"]).unwrap_or_else(|| "None".into())),
        tags,
        id,
        name,
    })
}

/// A network profile's ranges: the plural field (every family of a
/// dual-stack cluster), else the singular one; comma-separated, IPv4 first
/// as ARM lists them. None when neither is set.
fn cidrs(n: &Value, single: &str, plural: &str) -> Option<String> {
    let all: Vec<String> = n[plural]
        .as_array()
        .map(|a| a.iter().filter_map(string).collect())
        .unwrap_or_default();
    if all.is_empty() {
        return string(&n[single]);
    }
    Some(all.join(","))
}

fn check_credential(credential: &str) -> Result<CredentialCheck, Error> {
    let info = azure::describe_credential(credential)?;
    let mut problems = Vec::new();
    let visible = match visible_subscriptions(credential) {
        Ok(v) => v,
        Err(Error::Upstream(u)) => {
            problems.push(format!(
                "cannot list subscriptions ({} {}): {}",
                u.status, u.code, u.message
            ));
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    if problems.is_empty() {
        if visible.is_empty() {
            problems.push(
                "the credential works but sees no subscriptions: assign its principal a role \
                 (Reader is enough for discovery) on the subscriptions to manage"
                    .into(),
            );
        }
        for wanted in &info.subscriptions {
            match visible.iter().find(|s| s.id.eq_ignore_ascii_case(wanted)) {
                None => problems.push(format!(
                    "subscription {wanted} is configured for this credential but not visible \
                     to it: the principal has no role on it, or it is in another tenant"
                )),
                Some(s) if !usable(s) => {
                    problems.push(format!("subscription {wanted} ({}) is {}", s.name, s.state))
                }
                Some(_) => {}
            }
        }
    }
    Ok(CredentialCheck {
        credential: credential.to_string(),
        cloud: info.cloud,
        ok: problems.is_empty(),
        visible,
        problems,
    })
}

fn lookup(request: LookupRequest) -> Result<Vec<LookupItem>, Error> {
    let credential = request.credential.as_str();
    // The credential first: an unknown one is the answer whatever else is asked.
    let info = azure::describe_credential(credential)?;
    let subscription = match &request.subscription {
        Some(s) if !s.is_empty() => s.clone(),
        _ => match info.subscriptions.first() {
            Some(s) => s.clone(),
            None => visible_subscriptions(credential)?
                .into_iter()
                .find(usable)
                .map(|s| s.id)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "credential {credential:?} sees no subscription to look in: pass one"
                    ))
                })?,
        },
    };
    let location = || {
        request
            .location
            .clone()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| Error::InvalidInput("this lookup needs a location, e.g. eastus".into()))
    };
    match request.kind {
        LookupKind::Locations => {
            let items = list_one(
                credential,
                SUBSCRIPTIONS_API,
                format!("/subscriptions/{subscription}/locations"),
            )?;
            Ok(items
                .iter()
                .filter_map(|v| {
                    Some(LookupItem {
                        name: string(&v["name"])?,
                        detail: string(&v["regionalDisplayName"])
                            .or_else(|| string(&v["displayName"]))
                            .unwrap_or_default(),
                    })
                })
                .collect())
        }
        LookupKind::KubernetesVersions => {
            let location = location()?;
            let body = get(
                credential,
                AKS_API,
                format!(
                    "/subscriptions/{subscription}/providers/Microsoft.ContainerService/locations/{location}/kubernetesVersions"
                ),
            )?;
            let mut items = Vec::new();
            for minor in body["values"].as_array().into_iter().flatten() {
                let mut flags = Vec::new();
                if minor["isDefault"].as_bool() == Some(true) {
                    flags.push("default");
                }
                if minor["isPreview"].as_bool() == Some(true) {
                    flags.push("preview");
                }
                if let Some(patches) = minor["patchVersions"].as_object() {
                    for (patch, info) in patches {
                        let upgrades: Vec<&str> = info["upgrades"]
                            .as_array()
                            .map(|u| u.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        let mut detail = flags.join(", ");
                        if !upgrades.is_empty() {
                            if !detail.is_empty() {
                                detail.push_str("; ");
                            }
                            detail.push_str(&format!("upgrades to {}", upgrades.join(", ")));
                        }
                        items.push(LookupItem {
                            name: patch.clone(),
                            detail,
                        });
                    }
                }
            }
            Ok(items)
        }
        LookupKind::Upgrades => {
            let id = request
                .cluster_id
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| Error::InvalidInput("upgrades need the cluster's ARM id".into()))?;
            let body = get(credential, AKS_API, format!("{id}/upgradeProfiles/default"))?;
            let control = &body["properties"]["controlPlaneProfile"];
            let current = str_of(&control["kubernetesVersion"]).unwrap_or("?");
            Ok(control["upgrades"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| {
                    let version = string(&u["kubernetesVersion"])?;
                    let preview = u["isPreview"].as_bool() == Some(true);
                    Some(LookupItem {
                        name: version,
                        detail: format!(
                            "from {current}{}",
                            if preview { " (preview)" } else { "" }
                        ),
                    })
                })
                .collect())
        }
        LookupKind::VmSizes => {
            let location = location()?;
            let items = list_one(
                credential,
                COMPUTE_API,
                format!(
                    "/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}/vmSizes"
                ),
            )?;
            Ok(items
                .iter()
                .filter_map(|v| {
                    let cores = v["numberOfCores"].as_u64().unwrap_or(0);
                    let memory = v["memoryInMB"].as_u64().unwrap_or(0);
                    Some(LookupItem {
                        name: string(&v["name"])?,
                        detail: format!("{cores} vCPU, {} GiB", memory / 1024),
                    })
                })
                .collect())
        }
        LookupKind::VirtualNetworks => {
            let items = list_one(
                credential,
                NETWORK_API,
                format!(
                    "/subscriptions/{subscription}/providers/Microsoft.Network/virtualNetworks"
                ),
            )?;
            Ok(items
                .iter()
                .filter_map(|v| {
                    let p = &v["properties"];
                    let prefixes: Vec<&str> = p["addressSpace"]["addressPrefixes"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let subnets: Vec<String> = p["subnets"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(|s| {
                                    Some(format!(
                                        "{} {}",
                                        str_of(&s["name"])?,
                                        str_of(&s["properties"]["addressPrefix"]).unwrap_or("-")
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Some(LookupItem {
                        name: string(&v["id"])?,
                        detail: format!(
                            "{} in {}: {}; subnets: {}",
                            str_of(&v["name"]).unwrap_or("-"),
                            str_of(&v["location"]).unwrap_or("-"),
                            prefixes.join(", "),
                            if subnets.is_empty() {
                                "none".to_string()
                            } else {
                                subnets.join(", ")
                            }
                        ),
                    })
                })
                .collect())
        }
    }
}

/// GET one path, every page, as JSON values.
fn list_one(credential: &str, api_version: &str, path: String) -> Result<Vec<Value>, Error> {
    let mut listings = azure::list_all(credential, api_version, &[path])?;
    let listing = listings
        .pop()
        .ok_or_else(|| Error::Internal("the host returned no listing".into()))?;
    Ok(listing
        .items?
        .iter()
        .filter_map(|item| serde_json::from_str(item).ok())
        .collect())
}

/// GET one resource as JSON.
fn get(credential: &str, api_version: &str, path: String) -> Result<Value, Error> {
    let response = azure::request(&azure::ArmRequest {
        credential: credential.to_string(),
        method: "GET".into(),
        path,
        api_version: api_version.to_string(),
        body: None,
    })?;
    serde_json::from_str(&response.body).map_err(|e| {
        Error::Upstream(drover_sdk::UpstreamError {
            status: response.status,
            code: "MalformedResponse".into(),
            message: format!("ARM answered with a body that is not JSON: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(file: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/azure-examples/2025-10-01/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap();
        v["responses"]["200"]["body"].clone()
    }

    #[test]
    fn the_official_get_example_becomes_a_full_cluster() {
        let c = cluster(&example("ManagedClustersGet.json")).unwrap();
        assert_eq!(c.name, "clustername1");
        assert_eq!(c.subscription_id, "00000000-0000-0000-0000-000000000000");
        assert_eq!(c.resource_group, "rg1");
        assert_eq!(c.location, "location1");
        assert_eq!(c.kubernetes_version.as_deref(), Some("1.9.6"));
        assert_eq!(c.provisioning_state.as_deref(), Some("Succeeded"));
        assert!(c.fqdn.is_some());
        assert!(!c.node_pools.is_empty());
        let pool = &c.node_pools[0];
        assert_eq!(pool.name, "nodepool1");
        assert_eq!(pool.count, Some(3));
        assert_eq!(pool.vm_size.as_deref(), Some("Standard_DS1_v2"));
        let net = c.network.as_ref().unwrap();
        assert!(net.plugin.is_some());
        assert!(net.service_cidr.is_some());
        assert!(!c.tags.is_empty());
    }

    #[test]
    fn only_managed_clusters_are_clusters() {
        let mut vm = example("ManagedClustersGet.json");
        vm["type"] = "Microsoft.Compute/virtualMachines".into();
        vm["id"] =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
                .into();
        assert!(cluster(&vm).is_none());
        let mut odd_case = example("ManagedClustersGet.json");
        odd_case["type"] = "microsoft.containerservice/ManagedClusters".into();
        assert!(cluster(&odd_case).is_some());
        let mut untyped = example("ManagedClustersGet.json");
        untyped.as_object_mut().unwrap().remove("type");
        assert!(
            cluster(&untyped).is_some(),
            "the id says it is a managed cluster"
        );
        untyped["id"] = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x".into();
        assert!(cluster(&untyped).is_none());
    }

    #[test]
    fn dual_stack_ranges_and_service_principal_identity_are_kept() {
        let mut c = example("ManagedClustersGet.json");
        let net = &mut c["properties"]["networkProfile"];
        net["podCidrs"] = serde_json::json!(["10.244.0.0/16", "fd12:3456:789a::/64"]);
        net["serviceCidrs"] = serde_json::json!(["10.0.0.0/16", "fd12:3456:789a:1::/108"]);
        // Only the plural fields: a body may carry no singular one at all.
        net.as_object_mut().unwrap().remove("podCidr");
        net.as_object_mut().unwrap().remove("serviceCidr");
        c.as_object_mut().unwrap().remove("identity");
        let parsed = cluster(&c).unwrap();
        let n = parsed.network.unwrap();
        assert_eq!(
            n.pod_cidr.as_deref(),
            Some("10.244.0.0/16,fd12:3456:789a::/64")
        );
        assert_eq!(
            n.service_cidr.as_deref(),
            Some("10.0.0.0/16,fd12:3456:789a:1::/108")
        );
        assert_eq!(parsed.identity_type.as_deref(), Some("None"));
    }

    #[test]
    fn list_examples_parse_and_ids_are_read_case_insensitively() {
        for file in [
            "ManagedClustersList.json",
            "ManagedClustersListByResourceGroup.json",
        ] {
            let body = example(file);
            let clusters: Vec<Cluster> = body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| cluster(v).unwrap())
                .collect();
            assert!(!clusters.is_empty(), "{file}");
            for c in clusters {
                assert_eq!(c.resource_group, "rg1", "{file}");
            }
        }
        let id = "/subscriptions/s/RESOURCEGROUPS/Rg/providers/Microsoft.ContainerService/ManagedClusters/x";
        assert_eq!(id_segment(id, "resourceGroups"), Some("Rg"));
        assert_eq!(id_segment(id, "managedClusters"), Some("x"));
        assert_eq!(id_segment("/subscriptions/", "subscriptions"), None);
    }

    #[test]
    fn entries_without_id_or_name_are_skipped_and_unknown_fields_ignored() {
        assert!(cluster(&serde_json::json!({"name": "x"})).is_none());
        assert!(cluster(&serde_json::json!({"id": "/subscriptions/s"})).is_none());
        let c = cluster(&serde_json::json!({
            "id": "/subscriptions/s/resourcegroups/g/providers/Microsoft.ContainerService/managedClusters/n",
            "name": "n",
            "properties": { "futureField": { "x": 1 }, "powerState": { "code": "Stopped" },
                            "apiServerAccessProfile": { "enablePrivateCluster": true,
                                                        "authorizedIPRanges": ["1.2.3.4/32"] },
                            "disableLocalAccounts": true,
                            "aadProfile": { "managed": true, "enableAzureRBAC": true } },
            "identity": { "type": "SystemAssigned" },
        }))
        .unwrap();
        assert_eq!(c.power_state.as_deref(), Some("Stopped"));
        assert!(c.private_api_server && c.local_accounts_disabled);
        assert_eq!(c.authorized_ip_ranges, ["1.2.3.4/32"]);
        assert!(c.aad.unwrap().azure_rbac);
        assert_eq!(c.identity_type.as_deref(), Some("SystemAssigned"));
    }

    #[test]
    fn filters_match_groups_names_and_tags() {
        let c = cluster(&example("ManagedClustersGet.json")).unwrap();
        let request = |groups: &[&str], name: Option<&str>, tags: &[&str]| DiscoverRequest {
            credential: "c".into(),
            subscriptions: vec![],
            resource_groups: groups.iter().map(|s| s.to_string()).collect(),
            name_contains: name.map(str::to_string),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        };
        assert!(Filter::new(&request(&["RG1"], None, &[])).keeps(&c));
        assert!(!Filter::new(&request(&["rg2"], None, &[])).keeps(&c));
        assert!(Filter::new(&request(&[], Some("NAME1"), &[])).keeps(&c));
        assert!(!Filter::new(&request(&[], Some("other"), &[])).keeps(&c));
        assert!(Filter::new(&request(&[], None, &["tier=production"])).keeps(&c));
        assert!(Filter::new(&request(&[], None, &["archv2"])).keeps(&c));
        assert!(!Filter::new(&request(&[], None, &["tier=dev"])).keeps(&c));
    }
}
