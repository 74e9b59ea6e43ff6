//! `drover audit`: who did what, filtered by plugin, token, subject and time.

use super::ClientArgs;
use super::client::Client;
use super::table;
use super::token::urlencode;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

#[derive(Args)]
pub struct AuditArgs {
    /// Only host calls made by this plugin.
    #[arg(long)]
    plugin: Option<String>,
    /// Only API mutations made with this token (by name).
    #[arg(long = "by-token", value_name = "TOKEN-NAME")]
    by_token: Option<String>,
    /// Only entries whose subject contains this text.
    #[arg(long)]
    subject: Option<String>,
    /// Only entries newer than this: a duration ago (`15m`, `2h`, `1d`) or an
    /// RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only entries older than this (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

/// `15m` (ago) or `2026-11-22T10:00:00Z` → unix milliseconds.
fn parse_time(s: &str) -> Result<i64> {
    let now = std::time::SystemTime::now();
    let t = match humantime::parse_duration(s) {
        Ok(ago) => now
            .checked_sub(ago)
            .context("that duration reaches before 1970")?,
        Err(_) => humantime::parse_rfc3339_weak(s).with_context(|| {
            format!("{s:?} is neither a duration such as 15m or 2h nor a time such as 2026-11-22T10:00:00Z")
        })?,
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

pub async fn run(args: AuditArgs) -> Result<()> {
    let mut query = vec![format!("limit={}", args.limit)];
    for (k, v) in [
        ("plugin", &args.plugin),
        ("token", &args.by_token),
        ("subject", &args.subject),
    ] {
        if let Some(v) = v {
            query.push(format!("{k}={}", urlencode(v)));
        }
    }
    if let Some(s) = &args.since {
        query.push(format!("since={}", parse_time(s)?));
    }
    if let Some(s) = &args.until {
        query.push(format!("until={}", parse_time(s)?));
    }
    let api = Client::from_args(&args.client)?;
    let page: Value = api.get(&format!("/v1/audit?{}", query.join("&"))).await?;
    let entries = page["entries"].as_array().cloned().unwrap_or_default();
    args.client.output.print(&entries, || {
        let rows: Vec<[String; 7]> = entries
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
                [
                    table::time(e["at"].as_i64()),
                    format!("{}:{}", s("actor_kind"), s("actor")),
                    s("action"),
                    s("verb"),
                    s("subject"),
                    if e["allowed"].as_bool() == Some(false) {
                        "denied".into()
                    } else {
                        "allowed".into()
                    },
                    format!("{} ({} µs)", s("status"), e["duration_us"]),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                [
                    "AT", "ACTOR", "ACTION", "VERB", "SUBJECT", "DECISION", "OUTCOME"
                ],
                &rows
            )
        );
    })
}
