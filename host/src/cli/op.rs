//! `drover op ls|show|watch|retry|cancel|selftest`.

use super::client::Client;
use super::table;
use super::token::urlencode;
use super::{ClientArgs, Output};
use crate::text::escape_control;
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum OpCommand {
    /// List operations, newest first.
    Ls {
        /// Only this status: pending, in-progress, succeeded, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show an operation: its steps and activity log.
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Follow an operation live until it ends; exits 0 only if it succeeded.
    Watch {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a failed or cancelled operation again from its unfinished steps.
    Retry {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel an unfinished operation.
    Cancel {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Start a `selftest` operation, which exercises the operation engine
    /// without touching anything outside the daemon.
    Selftest {
        /// Number of steps.
        #[arg(long, default_value_t = 3)]
        steps: u32,
        /// How long each step waits, in milliseconds.
        #[arg(long, default_value_t = 500)]
        step_ms: u64,
        /// Make this step (1-based) fail on its first attempt.
        #[arg(long)]
        fail_at: Option<u32>,
        /// Follow it until it ends.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn summary_rows(ops: &[Value]) -> Vec<[String; 6]> {
    ops.iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap_or("-").to_string();
            [
                s("id"),
                s("kind"),
                s("status"),
                table::time(o["created_at"].as_i64()),
                s("created_by"),
                o["error"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect()
}

const HEADERS: [&str; 6] = ["ID", "KIND", "STATUS", "CREATED", "BY", "ERROR"];

fn print_detail(d: &Value) {
    print!(
        "{}",
        table::render(HEADERS, &summary_rows(std::slice::from_ref(d)))
    );
    println!();
    let steps: Vec<[String; 5]> = d["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|s| {
            [
                (s["index"].as_u64().unwrap_or(0) + 1).to_string(),
                s["name"].as_str().unwrap_or("-").to_string(),
                s["status"].as_str().unwrap_or("-").to_string(),
                s["attempts"].to_string(),
                s["error"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(["STEP", "NAME", "STATUS", "ATTEMPTS", "ERROR"], &steps)
    );
    println!();
    for a in d["activities"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        print_activity(a);
    }
}

fn print_activity(a: &Value) {
    println!("{}", activity_line(a));
}

/// One activity as people read it: when, and what happened.
pub fn activity_line(a: &Value) -> String {
    format!(
        "{}  {}",
        table::time(a["at"].as_i64()),
        escape_control(a["message"].as_str().unwrap_or_default())
    )
}

fn terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

/// Follow operation `id` until it ends, handing each new activity to
/// `on_activity` as it happens; returns its final detail (steps with their
/// outputs, and its error and error code if it failed).
pub async fn follow(api: &Client, id: &str, mut on_activity: impl FnMut(&Value)) -> Result<Value> {
    let mut after = 0i64;
    loop {
        // The daemon answers as soon as something happens (or after 10 s).
        let d: Value = api
            .get(&format!(
                "/v1/operations/{}?after={after}&wait_ms=10000",
                urlencode(id)
            ))
            .await?;
        for a in d["activities"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            after = after.max(a["id"].as_i64().unwrap_or(after));
            on_activity(a);
        }
        if terminal(d["status"].as_str().unwrap_or_default()) {
            return Ok(d);
        }
    }
}

async fn watch(api: &Client, id: &str, output: Output) -> Result<ExitCode> {
    let d = follow(api, id, |a| {
        if output == Output::Json {
            println!("{a}");
        } else {
            print_activity(a);
        }
    })
    .await?;
    let status = d["status"].as_str().unwrap_or_default();
    if output == Output::Table {
        match d["error"].as_str() {
            Some(e) => eprintln!("operation {id} {status}: {}", escape_control(e)),
            None => eprintln!("operation {id} {status}"),
        }
    }
    Ok(if status == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn run(cmd: OpCommand) -> Result<ExitCode> {
    match cmd {
        OpCommand::Ls {
            status,
            kind,
            limit,
            client,
        } => {
            let api = Client::from_args(&client)?;
            let mut query = format!("?limit={limit}");
            if let Some(s) = status {
                query.push_str(&format!("&status={}", urlencode(&s)));
            }
            if let Some(k) = kind {
                query.push_str(&format!("&kind={}", urlencode(&k)));
            }
            let page: Value = api.get(&format!("/v1/operations{query}")).await?;
            let ops = page["operations"].as_array().cloned().unwrap_or_default();
            client.output.print(&ops, || {
                print!("{}", table::render(HEADERS, &summary_rows(&ops)))
            })?;
        }
        OpCommand::Show { id, client } => {
            let api = Client::from_args(&client)?;
            let d: Value = api
                .get(&format!("/v1/operations/{}", urlencode(&id)))
                .await?;
            client.output.print(&d, || print_detail(&d))?;
        }
        OpCommand::Watch { id, client } => {
            let api = Client::from_args(&client)?;
            return watch(&api, &id, client.output).await;
        }
        OpCommand::Retry { id, client } => act(&id, "retry", client).await?,
        OpCommand::Cancel { id, client } => act(&id, "cancel", client).await?,
        OpCommand::Selftest {
            steps,
            step_ms,
            fail_at,
            watch: follow,
            client,
        } => {
            let api = Client::from_args(&client)?;
            let mut inputs = json!({ "steps": steps, "step_ms": step_ms });
            if let Some(f) = fail_at {
                inputs["fail_at"] = json!(f);
            }
            let op: Value = api
                .post(
                    "/v1/operations",
                    &json!({ "kind": "selftest", "inputs": inputs }),
                )
                .await?;
            let id = op["id"].as_str().unwrap_or_default().to_string();
            if follow {
                return watch(&api, &id, client.output).await;
            }
            client.output.print(&op, || println!("{id}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `retry` or `cancel`.
async fn act(id: &str, action: &str, client: ClientArgs) -> Result<()> {
    let api = Client::from_args(&client)?;
    let op: Value = api
        .post(
            &format!("/v1/operations/{}/{action}", urlencode(id)),
            &json!({}),
        )
        .await?;
    client.output.print(&op, || {
        print!(
            "{}",
            table::render(HEADERS, &summary_rows(std::slice::from_ref(&op)))
        )
    })
}
