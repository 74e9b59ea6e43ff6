//! `drover aks …`: discover AKS clusters, read the inventory, check a
//! credential, and the lookups.

use super::client::Client;
use super::table;
use super::token::urlencode;
use super::{ClientArgs, Output};
use crate::aks::LookupKind;
use crate::text::escape_control;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum AksCommand {
    /// Discover AKS clusters with a credential (records them in the inventory) and list them.
    Clusters {
        /// A stored Azure credential (`drover credential ls`).
        #[arg(long)]
        credential: String,
        /// Only these subscriptions (repeatable). Default: the credential's, else all it sees.
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        /// Only these resource groups (repeatable).
        #[arg(long = "resource-group")]
        resource_groups: Vec<String>,
        /// Only clusters whose name contains this.
        #[arg(long)]
        name: Option<String>,
        /// Only clusters with this tag, KEY or KEY=VALUE (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The inventory as last discovered, without calling Azure.
    Ls {
        #[arg(long)]
        subscription: Option<String>,
        #[arg(long)]
        resource_group: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Everything known about one cluster (ARM id or name).
    Show {
        cluster: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// What a credential can see, and why not.
    CheckCredential {
        credential: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Azure regions of a subscription.
    Locations(LookupArgs),
    /// Kubernetes versions AKS offers in a location (--location).
    Versions(LookupArgs),
    /// Versions a cluster can upgrade to (--cluster).
    Upgrades(LookupArgs),
    /// VM sizes in a location (--location).
    VmSizes(LookupArgs),
    /// Virtual networks of a subscription, with their subnets.
    Vnets(LookupArgs),
}

#[derive(Args)]
pub struct LookupArgs {
    #[arg(long)]
    credential: String,
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long)]
    location: Option<String>,
    /// The cluster's ARM id or inventory name.
    #[arg(long)]
    cluster: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

const HEADERS: [&str; 9] = [
    "NAME",
    "RESOURCE-GROUP",
    "LOCATION",
    "VERSION",
    "POWER",
    "NODES",
    "PRIVATE",
    "NETWORK",
    "SUBSCRIPTION",
];

fn rows(clusters: &[Value]) -> Vec<[String; 9]> {
    clusters
        .iter()
        .map(|c| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            let nodes: u64 = c["node_pools"]
                .as_array()
                .map(|p| p.iter().filter_map(|p| p["count"].as_u64()).sum())
                .unwrap_or(0);
            let mut name = s(&c["name"]);
            if c["missing_since"].as_i64().is_some() {
                name.push_str(" (missing)");
            }
            [
                name,
                s(&c["resource_group"]),
                s(&c["location"]),
                s(&c["kubernetes_version"]),
                s(&c["power_state"]),
                nodes.to_string(),
                if c["private_api_server"] == true {
                    "yes"
                } else {
                    "no"
                }
                .into(),
                s(&c["network"]["plugin"]),
                s(&c["subscription_id"]),
            ]
        })
        .collect()
}

pub async fn run(cmd: AksCommand) -> Result<()> {
    match cmd {
        AksCommand::Clusters {
            credential,
            subscriptions,
            resource_groups,
            name,
            tags,
            client,
        } => {
            let api = Client::from_args(&client)?;
            let found = discover(
                &api,
                &json!({
                    "credential": credential,
                    "subscriptions": subscriptions,
                    "resource_groups": resource_groups,
                    "name_contains": name,
                    "tags": tags,
                }),
                client.output == Output::Table,
            )
            .await?;
            let clusters = found["clusters"].as_array().cloned().unwrap_or_default();
            client.output.print(&found, || {
                print!("{}", table::render(HEADERS, &rows(&clusters)));
                eprintln!(
                    "{} clusters in {} subscriptions ({} new, {} updated, {} missing)",
                    clusters.len(),
                    found["subscriptions"].as_array().map_or(0, Vec::len),
                    found["new"],
                    found["updated"],
                    found["missing"]
                );
                for f in found["failures"].as_array().into_iter().flatten() {
                    let message = escape_control(f["error"]["message"].as_str().unwrap_or("?"));
                    if f["error"]["code"] == "not-found" && f["resource_group"].is_string() {
                        eprintln!("note: {message}");
                    } else {
                        eprintln!("{} not searched: {message}", escape_control(&scope(f)));
                    }
                }
            })?;
        }
        AksCommand::Ls {
            subscription,
            resource_group,
            client,
        } => {
            let api = Client::from_args(&client)?;
            let mut query = Vec::new();
            if let Some(s) = subscription {
                query.push(format!("subscription={}", urlencode(&s)));
            }
            if let Some(g) = resource_group {
                query.push(format!("resource_group={}", urlencode(&g)));
            }
            let path = if query.is_empty() {
                "/v1/aks/clusters".to_string()
            } else {
                format!("/v1/aks/clusters?{}", query.join("&"))
            };
            let list: Value = api.get(&path).await?;
            let clusters = list["clusters"].as_array().cloned().unwrap_or_default();
            client.output.print(&clusters, || {
                print!("{}", table::render(HEADERS, &rows(&clusters)))
            })?;
        }
        AksCommand::Show { cluster, client } => {
            let api = Client::from_args(&client)?;
            let c: Value = api
                .get(&format!("/v1/aks/clusters/{}", urlencode(&cluster)))
                .await?;
            client.output.print(&c, || print_detail(&c))?;
        }
        AksCommand::CheckCredential { credential, client } => {
            let api = Client::from_args(&client)?;
            let check: Value = api
                .post(
                    "/v1/aks/check-credential",
                    &json!({ "credential": credential }),
                )
                .await?;
            client.output.print(&check, || {
                let text = |v: &Value| escape_control(v.as_str().unwrap_or("?")).into_owned();
                println!(
                    "credential {} ({}): {}",
                    text(&check["credential"]),
                    text(&check["cloud"]),
                    if check["ok"] == true {
                        "ok"
                    } else {
                        "problems"
                    }
                );
                for s in check["visible"].as_array().into_iter().flatten() {
                    println!(
                        "  sees {}  {}  {}",
                        text(&s["id"]),
                        text(&s["state"]),
                        text(&s["name"])
                    );
                }
                for p in check["problems"].as_array().into_iter().flatten() {
                    println!("  problem: {}", text(p));
                }
            })?;
            if check["ok"] != true {
                anyhow::bail!("the credential has problems (see above)");
            }
        }
        AksCommand::Locations(a) => lookup(LookupKind::Locations, a).await?,
        AksCommand::Versions(a) => lookup(LookupKind::Versions, a).await?,
        AksCommand::Upgrades(a) => lookup(LookupKind::Upgrades, a).await?,
        AksCommand::VmSizes(a) => lookup(LookupKind::VmSizes, a).await?,
        AksCommand::Vnets(a) => lookup(LookupKind::Vnets, a).await?,
    }
    Ok(())
}

/// Start a discovery operation, follow it (its activity on stderr when
/// `progress`), and put together what it found: the summary its step
/// recorded, with the clusters read back from the inventory.
async fn discover(api: &Client, request: &Value, progress: bool) -> Result<Value> {
    let op: Value = api.post("/v1/aks/discover", request).await?;
    let id = op["id"].as_str().unwrap_or_default().to_string();
    if progress {
        eprintln!("discovering as operation {id} (`drover op show {id}` has the details)");
    }
    let done = super::op::follow(api, &id, |a| {
        if progress {
            eprintln!("{}", super::op::activity_line(a));
        }
    })
    .await?;
    if done["status"] != "succeeded" {
        anyhow::bail!(
            "discovery {} ({}): {}",
            done["status"].as_str().unwrap_or("failed"),
            done["error_code"].as_str().unwrap_or("failed"),
            done["error"].as_str().unwrap_or("no reason recorded")
        );
    }
    let mut summary = done["steps"][0]["output"].clone();
    let ids: Vec<String> = summary["cluster_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect();
    let inventory: Value = api.get("/v1/aks/clusters").await?;
    let mut by_id: std::collections::HashMap<String, Value> = inventory["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_ascii_lowercase(),
                c.clone(),
            )
        })
        .collect();
    let clusters: Vec<Value> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    if let Some(map) = summary.as_object_mut() {
        map.remove("cluster_ids");
        map.insert("clusters".into(), Value::Array(clusters));
        map.insert("operation".into(), Value::String(id));
    }
    Ok(summary)
}

/// What a failure is about: a subscription, or one resource group of it.
fn scope(f: &Value) -> String {
    let sub = f["subscription"].as_str().unwrap_or("?");
    match f["resource_group"].as_str() {
        Some(rg) => format!("resource group {rg} of subscription {sub}"),
        None => format!("subscription {sub}"),
    }
}

fn print_detail(c: &Value) {
    // What Azure said, escaped for the terminal.
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => escape_control(s).into_owned(),
        other => escape_control(&other.to_string()).into_owned(),
    };
    for key in [
        "name",
        "id",
        "subscription_id",
        "resource_group",
        "location",
        "kubernetes_version",
        "power_state",
        "provisioning_state",
        "fqdn",
        "private_fqdn",
        "private_api_server",
        "authorized_ip_ranges",
        "aad",
        "local_accounts_disabled",
        "network",
        "node_resource_group",
        "identity_type",
        "tags",
        "credential",
    ] {
        println!("{:<24} {}", key.replace('_', " "), s(&c[key]));
    }
    println!(
        "{:<24} {}",
        "first seen",
        table::time(c["first_seen"].as_i64())
    );
    println!(
        "{:<24} {}",
        "last seen",
        table::time(c["last_seen"].as_i64())
    );
    if c["missing_since"].is_i64() {
        println!(
            "{:<24} {}",
            "missing since",
            table::time(c["missing_since"].as_i64())
        );
    }
    for p in c["node_pools"].as_array().into_iter().flatten() {
        println!(
            "node pool {:<14} mode {} count {} size {} os {} version {} autoscaling {}",
            s(&p["name"]),
            s(&p["mode"]),
            s(&p["count"]),
            s(&p["vm_size"]),
            s(&p["os_type"]),
            s(&p["kubernetes_version"]),
            s(&p["autoscaling"])
        );
    }
}

async fn lookup(kind: LookupKind, a: LookupArgs) -> Result<()> {
    let api = Client::from_args(&a.client)?;
    let kind_name = serde_json::to_value(kind)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut query = vec![format!("credential={}", urlencode(&a.credential))];
    for (k, v) in [
        ("subscription", a.subscription),
        ("location", a.location),
        ("cluster", a.cluster),
    ] {
        if let Some(v) = v {
            query.push(format!("{k}={}", urlencode(&v)));
        }
    }
    let list: Value = api
        .get(&format!("/v1/aks/lookups/{kind_name}?{}", query.join("&")))
        .await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    a.client.output.print(&items, || {
        let rows: Vec<[String; 2]> = items
            .iter()
            .map(|i| {
                [
                    i["name"].as_str().unwrap_or("-").to_string(),
                    i["detail"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect();
        print!("{}", table::render(["NAME", "DETAIL"], &rows));
    })
}
