//! `drover cluster add|ls|show|rm` and `drover import command|tokens|revoke`.

use super::client::Client;
use super::table;
use super::token::urlencode;
use super::{ClientArgs, Output};
use crate::imports::{
    AgentTlsMode, ImportOptions, PolicyRule, PullPolicy, Rbac, RbacPreset, Rules, TaintEffect,
    Toleration,
};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Add a cluster to import with an agent, and print its import command.
    Add(Box<AddArgs>),
    /// List clusters with status and last heartbeat.
    Ls {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one cluster: status, agent facts, import settings, tokens.
    Show {
        /// Cluster name or id.
        cluster: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a cluster from Drover; its agent is refused from then on. The
    /// agent's objects stay in the cluster: `kubectl delete namespace drover-system`.
    Rm {
        /// Cluster name or id.
        cluster: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// Cluster name: lowercase letters, digits and '-'.
    name: String,
    /// Namespace for the agent.
    #[arg(long, default_value = crate::imports::DEFAULT_NAMESPACE)]
    namespace: String,
    /// What the agent's service account may do: cluster-admin, read-only
    /// (get/list/watch on everything but Secrets) or custom (with --rbac-rules).
    #[arg(long, value_enum, default_value_t = RbacPreset::ClusterAdmin)]
    rbac: RbacPreset,
    /// ClusterRole rules for --rbac custom: a YAML or JSON list of
    /// {apiGroups, resources, verbs}.
    #[arg(long, value_name = "FILE")]
    rbac_rules: Option<PathBuf>,
    /// Agent image. Default: the daemon's [import] agent_image.
    #[arg(long)]
    image: Option<String>,
    #[arg(long, value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pull_policy: PullPolicy,
    /// How the agent verifies the server. Default: strict when the server
    /// has its own CA, system-store otherwise.
    #[arg(long, value_enum)]
    tls_mode: Option<AgentTlsMode>,
    /// HTTP_PROXY for the agent.
    #[arg(long)]
    http_proxy: Option<String>,
    /// HTTPS_PROXY for the agent.
    #[arg(long)]
    https_proxy: Option<String>,
    /// NO_PROXY for the agent.
    #[arg(long)]
    no_proxy: Option<String>,
    /// Image pull secret in the agent's namespace (repeatable).
    #[arg(long = "image-pull-secret", value_name = "NAME")]
    image_pull_secrets: Vec<String>,
    /// e.g. 100m
    #[arg(long)]
    cpu_request: Option<String>,
    /// e.g. 64Mi
    #[arg(long)]
    memory_request: Option<String>,
    #[arg(long)]
    cpu_limit: Option<String>,
    #[arg(long)]
    memory_limit: Option<String>,
    /// Toleration as KEY[=VALUE]:EFFECT, e.g. `node-role.kubernetes.io/control-plane:NoSchedule` (repeatable).
    #[arg(long = "toleration", value_name = "KEY[=VALUE]:EFFECT")]
    tolerations: Vec<String>,
    #[arg(long)]
    priority_class: Option<String>,
    /// Lifetime of the registration token, e.g. 2h (1s to 365d). Default: the daemon's [import] token_ttl.
    #[arg(long, value_parser = parse_ttl)]
    ttl: Option<std::time::Duration>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Mint a registration token for a cluster and print the commands that import it.
    Command {
        /// Cluster name or id.
        cluster: String,
        /// Lifetime of the token, e.g. 2h (1s to 365d). Default: the daemon's [import] token_ttl.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a cluster's registration tokens (ids and dates, never the tokens).
    Tokens {
        /// Cluster name or id.
        cluster: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a registration token: its URL answers 404 and agents using it are refused.
    Revoke {
        /// The token's id, as `drover import tokens` lists it.
        #[arg(value_name = "TOKEN-ID")]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `--ttl`: a duration such as `30m`, `24h` or `7d`.
fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration such as 30m, 24h or 7d"))
}

/// Parse `KEY[=VALUE]:EFFECT` (kubectl's taint syntax).
fn parse_toleration(text: &str) -> Result<Toleration> {
    let (left, effect) = text.rsplit_once(':').with_context(|| {
        format!("toleration {text:?} has no effect: write KEY[=VALUE]:EFFECT, e.g. dedicated=infra:NoSchedule")
    })?;
    let Some(effect) = TaintEffect::parse(effect) else {
        bail!("toleration {text:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute");
    };
    let (key, value) = match left.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (left, None),
    };
    if key.is_empty() {
        bail!("toleration {text:?} has an empty key");
    }
    Ok(Toleration {
        key: key.to_string(),
        value,
        effect,
    })
}

fn options(a: &AddArgs) -> Result<ImportOptions> {
    let rbac = match (a.rbac, &a.rbac_rules) {
        (RbacPreset::Custom, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let rules: Vec<PolicyRule> = serde_saphyr::from_str(&text).with_context(|| {
                format!(
                    "{} is not a list of rules such as `- {{apiGroups: [\"\"], resources: [pods], \
                     verbs: [get, list]}}`",
                    path.display()
                )
            })?;
            Rbac::Custom(Rules(rules))
        }
        (RbacPreset::Custom, None) => {
            bail!(
                "--rbac custom but no rules are given: pass the ClusterRole's rules with --rbac-rules FILE"
            )
        }
        (preset, Some(_)) => bail!(
            "--rbac-rules is given but --rbac is {}: use --rbac custom to apply the rules",
            preset.as_str()
        ),
        (RbacPreset::ClusterAdmin, None) => Rbac::ClusterAdmin,
        (RbacPreset::ReadOnly, None) => Rbac::ReadOnly,
    };
    Ok(ImportOptions {
        namespace: Some(a.namespace.clone()),
        rbac,
        agent_image: a.image.clone(),
        pull_policy: a.pull_policy,
        tls_mode: a.tls_mode,
        http_proxy: a.http_proxy.clone(),
        https_proxy: a.https_proxy.clone(),
        no_proxy: a.no_proxy.clone(),
        image_pull_secrets: a.image_pull_secrets.clone(),
        cpu_request: a.cpu_request.clone(),
        memory_request: a.memory_request.clone(),
        cpu_limit: a.cpu_limit.clone(),
        memory_limit: a.memory_limit.clone(),
        tolerations: a
            .tolerations
            .iter()
            .map(|t| parse_toleration(t))
            .collect::<Result<_>>()?,
        priority_class: a.priority_class.clone(),
    })
}

const HEADERS: [&str; 7] = [
    "NAME",
    "ID",
    "KIND",
    "STATUS",
    "VERSION",
    "NODES",
    "LAST-HEARTBEAT",
];

fn rows(clusters: &[Value]) -> Vec<[String; 7]> {
    clusters
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
            [
                s("name"),
                s("id"),
                s("kind"),
                s("status"),
                s("kubernetes_version"),
                c["node_count"]
                    .as_i64()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                table::time(c["last_heartbeat_at"].as_i64()),
            ]
        })
        .collect()
}

fn print_command(command: &Value) {
    let s = |k: &str| command[k].as_str().unwrap_or_default();
    println!(
        "Import cluster {} by running this where kubectl points at it:\n\n  {}\n",
        s("cluster_name"),
        s("kubectl")
    );
    if let Some(insecure) = command["insecure"].as_str() {
        println!(
            "If kubectl refuses the server's certificate (its CA is Drover's own):\n\n  {insecure}\n"
        );
    }
    if let Some(note) = command["note"].as_str() {
        println!("{note}\n");
    }
    println!(
        "Registration token {} expires {}. The URL contains it: share it only with the \
         cluster's owner.",
        s("token_id"),
        table::time(command["expires_at"].as_i64())
    );
}

pub async fn run_cluster(cmd: ClusterCommand) -> Result<()> {
    match cmd {
        ClusterCommand::Add(args) => {
            let body = json!({
                "name": args.name,
                "import": options(&args)?,
                "token_ttl_seconds": args.ttl.map(|d| d.as_secs()),
            });
            let api = Client::from_args(&args.client)?;
            let created: Value = api.post("/v1/clusters", &body).await?;
            args.client.output.print(&created, || {
                println!(
                    "Cluster {} added ({}); it stays pending until its agent registers.\n",
                    created["cluster"]["name"].as_str().unwrap_or_default(),
                    created["cluster"]["id"].as_str().unwrap_or_default()
                );
                print_command(&created["command"]);
            })?;
        }
        ClusterCommand::Ls { client } => {
            let api = Client::from_args(&client)?;
            let list: Value = api.get("/v1/clusters").await?;
            let clusters = list["clusters"].as_array().cloned().unwrap_or_default();
            client.output.print(&clusters, || {
                print!("{}", table::render(HEADERS, &rows(&clusters)))
            })?;
        }
        ClusterCommand::Show { cluster, client } => {
            let api = Client::from_args(&client)?;
            let c: Value = api
                .get(&format!("/v1/clusters/{}", urlencode(&cluster)))
                .await?;
            let tokens: Value = api
                .get(&format!(
                    "/v1/clusters/{}/import-tokens",
                    urlencode(&cluster)
                ))
                .await?;
            match client.output {
                Output::Json => {
                    let mut c = c;
                    c["tokens"] = tokens["tokens"].clone();
                    println!("{}", serde_json::to_string_pretty(&c)?)
                }
                Output::Table => {
                    let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
                    for (label, value) in [
                        ("name", s("name")),
                        ("id", s("id")),
                        ("kind", s("kind")),
                        ("status", s("status")),
                        ("kubernetes", s("kubernetes_version")),
                        (
                            "nodes",
                            c["node_count"]
                                .as_i64()
                                .map(|n| n.to_string())
                                .unwrap_or_else(|| "-".into()),
                        ),
                        ("agent", s("agent_version")),
                        ("created", table::time(c["created_at"].as_i64())),
                        ("registered", table::time(c["registered_at"].as_i64())),
                        (
                            "last heartbeat",
                            table::time(c["last_heartbeat_at"].as_i64()),
                        ),
                        ("import", c["import"].to_string()),
                    ] {
                        println!("{label:<15} {}", crate::text::escape_control(&value));
                    }
                    let list = tokens["tokens"].as_array().cloned().unwrap_or_default();
                    println!();
                    print!("{}", table::render(TOKEN_HEADERS, &token_rows(&list)));
                }
            }
        }
        ClusterCommand::Rm { cluster, client } => {
            let api = Client::from_args(&client)?;
            let removed: Value = api
                .delete(&format!("/v1/clusters/{}", urlencode(&cluster)))
                .await?;
            client.output.print(&removed, || {
                eprintln!(
                    "cluster {} removed; its agent is refused from now on. To clean the cluster \
                     up: kubectl delete namespace {}",
                    removed["name"].as_str().unwrap_or_default(),
                    removed["import"]["namespace"]
                        .as_str()
                        .unwrap_or(crate::imports::DEFAULT_NAMESPACE)
                )
            })?;
        }
    }
    Ok(())
}

const TOKEN_HEADERS: [&str; 5] = ["TOKEN-ID", "STATE", "CREATED", "EXPIRES", "LAST-USED"];

fn token_rows(tokens: &[Value]) -> Vec<[String; 5]> {
    let now = crate::store::now_ms();
    tokens
        .iter()
        .map(|t| {
            let state = match serde_json::from_value::<crate::store::ImportTokenRow>(t.clone()) {
                Ok(row) => row.state(now).to_string(),
                Err(_) => "-".into(),
            };
            [
                t["id"].as_str().unwrap_or("-").to_string(),
                state,
                table::time(t["created_at"].as_i64()),
                table::time(t["expires_at"].as_i64()),
                table::time(t["last_used_at"].as_i64()),
            ]
        })
        .collect()
}

pub async fn run_import(cmd: ImportCommand) -> Result<()> {
    match cmd {
        ImportCommand::Command {
            cluster,
            ttl,
            client,
        } => {
            let api = Client::from_args(&client)?;
            let command: Value = api
                .post(
                    &format!("/v1/clusters/{}/import-command", urlencode(&cluster)),
                    &json!({ "ttl_seconds": ttl.map(|d| d.as_secs()) }),
                )
                .await?;
            client.output.print(&command, || print_command(&command))?;
        }
        ImportCommand::Tokens { cluster, client } => {
            let api = Client::from_args(&client)?;
            let list: Value = api
                .get(&format!(
                    "/v1/clusters/{}/import-tokens",
                    urlencode(&cluster)
                ))
                .await?;
            let tokens = list["tokens"].as_array().cloned().unwrap_or_default();
            client.output.print(&tokens, || {
                print!("{}", table::render(TOKEN_HEADERS, &token_rows(&tokens)))
            })?;
        }
        ImportCommand::Revoke { id, client } => {
            let api = Client::from_args(&client)?;
            let revoked: Value = api
                .post(
                    &format!("/v1/import-tokens/{}/revoke", urlencode(&id)),
                    &json!({}),
                )
                .await?;
            client.output.print(&revoked, || {
                print!(
                    "{}",
                    table::render(TOKEN_HEADERS, &token_rows(std::slice::from_ref(&revoked)))
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_parse_like_kubectl_taints() {
        let t = parse_toleration("dedicated=infra:NoSchedule").unwrap();
        assert_eq!(t.key, "dedicated");
        assert_eq!(t.value.as_deref(), Some("infra"));
        assert_eq!(t.effect, TaintEffect::NoSchedule);
        let t = parse_toleration("node-role.kubernetes.io/control-plane:NoExecute").unwrap();
        assert_eq!(t.value, None);
        assert_eq!(t.effect, TaintEffect::NoExecute);
        assert!(parse_toleration("dedicated").is_err());
        assert!(parse_toleration("a:Sometimes").is_err());
        assert!(parse_toleration(":NoSchedule").is_err());
    }
}
