//! `drover credential add|ls|show|rotate|rm`. Secrets are read from stdin,
//! a file or an environment variable, never from the command line.

use super::client::Client;
use super::table;
use super::token::urlencode;
use super::{ClientArgs, Output};
use crate::secrets::credentials::CredentialKind;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Store a credential (the secret from --secret-stdin, --secret-file or --secret-env).
    #[command(after_help = "Examples:\n  \
        AZURE_CLIENT_SECRET=… drover credential add prod --kind azure-client-secret \\\n      \
        --tenant-id TENANT --client-id APP-ID --subscription SUB --secret-env AZURE_CLIENT_SECRET\n  \
        drover credential add lab --kind kubeconfig --secret-file ~/.kube/config\n  \
        drover credential add nodes --kind ssh-key --user ops --secret-file ~/.ssh/id_ed25519")]
    Add {
        /// The name plugins and commands refer to it by.
        name: String,
        /// What it holds.
        #[arg(long, value_enum)]
        kind: CredentialKind,
        /// azure-client-secret: Entra tenant id.
        #[arg(long)]
        tenant_id: Option<String>,
        /// azure-client-secret: application (client) id.
        #[arg(long)]
        client_id: Option<String>,
        /// azure-*: a subscription to use (repeat for more; none means all visible).
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        /// azure-*: cloud, e.g. AzurePublicCloud (default), AzureChinaCloud, AzureUSGovernmentCloud.
        #[arg(long)]
        cloud: Option<String>,
        /// ssh-key: remote user.
        #[arg(long)]
        user: Option<String>,
        /// kubeconfig: context to use (default: current context).
        #[arg(long)]
        context: Option<String>,
        #[command(flatten)]
        secret: SecretSource,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List credentials (metadata only).
    Ls {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one credential (metadata only).
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a credential's secret.
    Rotate {
        name: String,
        #[command(flatten)]
        secret: SecretSource,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a credential.
    Rm {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Where the secret comes from. Never argv: it would show in `ps` and
/// shell history.
#[derive(Args)]
pub struct SecretSource {
    /// Read the secret from standard input.
    #[arg(long, conflicts_with_all = ["secret_file", "secret_env"])]
    secret_stdin: bool,
    /// Read the secret from this file (e.g. a kubeconfig or private key).
    #[arg(long, conflicts_with = "secret_env")]
    secret_file: Option<PathBuf>,
    /// Read the secret from this environment variable.
    #[arg(long)]
    secret_env: Option<String>,
    /// ssh-key: read the key's passphrase from this file.
    #[arg(long, conflicts_with = "passphrase_env")]
    passphrase_file: Option<PathBuf>,
    /// ssh-key: read the key's passphrase from this environment variable.
    #[arg(long)]
    passphrase_env: Option<String>,
}

impl SecretSource {
    fn secret(&self) -> Result<Option<Zeroizing<String>>> {
        if self.secret_stdin {
            let mut s = Zeroizing::new(String::new());
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("cannot read the secret from standard input")?;
            return Ok(Some(trim_newline(s)));
        }
        if let Some(path) = &self.secret_file {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secret from {}", path.display()))?;
            return Ok(Some(Zeroizing::new(s)));
        }
        if let Some(var) = &self.secret_env {
            let s = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            return Ok(Some(Zeroizing::new(s)));
        }
        Ok(None)
    }

    fn passphrase(&self) -> Result<Option<Zeroizing<String>>> {
        if let Some(path) = &self.passphrase_file {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the passphrase from {}", path.display()))?;
            return Ok(Some(trim_newline(Zeroizing::new(s))));
        }
        if let Some(var) = &self.passphrase_env {
            let s = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            return Ok(Some(Zeroizing::new(s)));
        }
        Ok(None)
    }
}

fn trim_newline(s: Zeroizing<String>) -> Zeroizing<String> {
    Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string())
}

fn rows(creds: &[Value]) -> Vec<[String; 5]> {
    creds
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
            let detail = ["tenant_id", "client_id", "user", "context", "cloud"]
                .iter()
                .filter_map(|k| c[*k].as_str().map(|v| format!("{k}={v}")))
                .chain(
                    c["subscriptions"]
                        .as_array()
                        .filter(|a| !a.is_empty())
                        .map(|a| {
                            format!(
                                "subscriptions={}",
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        }),
                )
                .collect::<Vec<_>>()
                .join(" ");
            [
                s("name"),
                s("kind"),
                table::time(c["created_at"].as_i64()),
                table::time(c["rotated_at"].as_i64()),
                if detail.is_empty() {
                    "-".into()
                } else {
                    detail
                },
            ]
        })
        .collect()
}

const HEADERS: [&str; 5] = ["NAME", "KIND", "CREATED", "ROTATED", "DETAILS"];

fn print(output: Output, creds: &[Value]) -> Result<()> {
    output.print(creds, || print!("{}", table::render(HEADERS, &rows(creds))))
}

pub async fn run(cmd: CredentialCommand) -> Result<()> {
    match cmd {
        CredentialCommand::Add {
            name,
            kind,
            tenant_id,
            client_id,
            subscriptions,
            cloud,
            user,
            context,
            secret,
            client,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("kind".into(), json!(kind.as_str()));
            for (k, v) in [
                ("tenant_id", tenant_id),
                ("client_id", client_id),
                ("cloud", cloud),
                ("user", user),
                ("context", context),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            if !subscriptions.is_empty() {
                body.insert("subscriptions".into(), json!(subscriptions));
            }
            let value = secret.secret()?;
            if value.is_none() && !matches!(kind, CredentialKind::AzureDefault) {
                bail!(
                    "a {} credential needs a secret: pass --secret-stdin, --secret-file FILE or \
                     --secret-env VAR (never on the command line)",
                    kind.as_str()
                );
            }
            if let Some(v) = &value {
                body.insert("secret".into(), json!(v.as_str()));
            }
            if let Some(p) = secret.passphrase()? {
                body.insert("passphrase".into(), json!(p.as_str()));
            }
            let api = Client::from_args(&client)?;
            let created: Value = api.post("/v1/credentials", &Value::Object(body)).await?;
            print(client.output, &[created])
        }
        CredentialCommand::Ls { client } => {
            let api = Client::from_args(&client)?;
            let list: Value = api.get("/v1/credentials").await?;
            print(
                client.output,
                list["credentials"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            )
        }
        CredentialCommand::Show { name, client } => {
            let api = Client::from_args(&client)?;
            let c: Value = api
                .get(&format!("/v1/credentials/{}", urlencode(&name)))
                .await?;
            print(client.output, &[c])
        }
        CredentialCommand::Rotate {
            name,
            secret,
            client,
        } => {
            let Some(value) = secret.secret()? else {
                bail!(
                    "pass the new secret with --secret-stdin, --secret-file FILE or --secret-env VAR"
                );
            };
            let mut body = json!({ "secret": value.as_str() });
            if let Some(p) = secret.passphrase()? {
                body["passphrase"] = json!(p.as_str());
            }
            let api = Client::from_args(&client)?;
            let c: Value = api
                .post(
                    &format!("/v1/credentials/{}/rotate", urlencode(&name)),
                    &body,
                )
                .await?;
            print(client.output, &[c])
        }
        CredentialCommand::Rm { name, client } => {
            let api = Client::from_args(&client)?;
            let _: serde_json::Value = api
                .delete(&format!("/v1/credentials/{}", urlencode(&name)))
                .await?;
            if client.output == Output::Table {
                eprintln!("credential {name} removed");
            }
            Ok(())
        }
    }
}
