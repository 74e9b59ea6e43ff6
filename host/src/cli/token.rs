//! `drover token create|ls|revoke`.

use super::ClientArgs;
use super::client::Client;
use super::table;
use crate::api::auth::Role;
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is shown once, store it now.
    Create {
        /// A name for people and the audit log, e.g. ci-pipeline.
        name: String,
        /// admin may change things; viewer may only read.
        #[arg(long, value_enum, default_value_t = Role::Viewer)]
        role: Role,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List tokens (never their values).
    Ls {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a token by id or name; requests with it fail from now on.
    Revoke {
        /// Token id (tok_…) or name.
        #[arg(value_name = "TOKEN-ID")]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn rows(tokens: &[Value]) -> Vec<[String; 6]> {
    tokens
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("-").to_string();
            [
                s("id"),
                s("name"),
                s("role"),
                table::time(t["created_at"].as_i64()),
                table::time(t["last_used_at"].as_i64()),
                if t["revoked_at"].is_null() {
                    "active".into()
                } else {
                    format!("revoked {}", table::time(t["revoked_at"].as_i64()))
                },
            ]
        })
        .collect()
}

const HEADERS: [&str; 6] = ["ID", "NAME", "ROLE", "CREATED", "LAST-USED", "STATE"];

pub async fn run(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { name, role, client } => {
            let role = role.as_str();
            let api = Client::from_args(&client)?;
            let created: Value = api
                .post("/v1/tokens", &json!({ "name": name, "role": role }))
                .await?;
            client.output.print(&created, || {
                println!("{}", created["token"].as_str().unwrap_or_default());
                eprintln!(
                    "token {} ({role}) created: this is the only time it is shown. \
                     Use it with --token or DROVER_TOKEN.",
                    created["id"].as_str().unwrap_or_default()
                );
            })?;
        }
        TokenCommand::Ls { client } => {
            let api = Client::from_args(&client)?;
            let list: Value = api.get("/v1/tokens").await?;
            let tokens = list["tokens"].as_array().cloned().unwrap_or_default();
            client.output.print(&tokens, || {
                print!("{}", table::render(HEADERS, &rows(&tokens)))
            })?;
        }
        TokenCommand::Revoke { id, client } => {
            let api = Client::from_args(&client)?;
            let path = format!("/v1/tokens/{}/revoke", urlencode(&id));
            let revoked: Value = api.post(&path, &json!({})).await?;
            client.output.print(&revoked, || {
                print!(
                    "{}",
                    table::render(HEADERS, &rows(std::slice::from_ref(&revoked)))
                )
            })?;
        }
    }
    Ok(())
}

/// Percent-encode a path segment.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
