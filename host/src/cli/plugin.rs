//! `drover plugin ls` and `drover plugin check`.

use super::client::Client;
use super::{ClientArgs, Output};
use crate::api::PluginList;
use crate::config::{Config, Overrides};
use crate::plugins::PluginStatus;
use crate::plugins::registry::{prepare_plugin, read_plugin_file};
use crate::runtime::{Runtime, RuntimeOptions, WIT_PACKAGE};
use crate::store::Store;
use crate::text::escape_control;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn ls(args: ClientArgs) -> Result<ExitCode> {
    let client = Client::from_args(&args)?;
    let list: PluginList = client.get("/v1/plugins").await?;
    args.output
        .print(&list.plugins, || print!("{}", table(&list.plugins)))?;
    Ok(ExitCode::SUCCESS)
}

/// `status` as `plugin ls` shows it: `loaded`, `failed: <reason>`, or
/// `loaded` with the reason a newer version was refused.
fn status_text(p: &PluginStatus) -> String {
    match (p.status.as_str(), &p.error) {
        ("failed", Some(e)) => format!("failed: {e}"),
        ("loaded", Some(e)) => format!("loaded (new version refused: {e})"),
        (s, _) => s.to_string(),
    }
}

fn table(plugins: &[PluginStatus]) -> String {
    let rows: Vec<[String; 6]> = plugins
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.version.clone().unwrap_or_else(|| "-".into()),
                p.capability.clone().unwrap_or_else(|| "-".into()),
                status_text(p),
                p.sha256
                    .as_deref()
                    .map(|s| s.chars().take(12).collect())
                    .unwrap_or_else(|| "-".into()),
                p.loaded_at.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = super::table::render(
        [
            "NAME",
            "VERSION",
            "CAPABILITY",
            "STATUS",
            "SHA256",
            "LOADED-AT",
        ],
        &rows,
    );
    if plugins.is_empty() {
        out.push_str("(no plugins: copy <name>.wasm and <name>.toml into the plugin directory)\n");
    }
    out
}

#[derive(Args)]
pub struct CheckArgs {
    /// The plugin component, e.g. target/wasm32-wasip2/release/my_plugin.wasm.
    pub file: PathBuf,
    /// Its manifest. Default: the .toml with the same stem beside FILE.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Check limits and grants against this operator config.
    #[arg(long, env = "DROVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Output,
}

#[derive(serde::Serialize)]
struct CheckReport {
    file: String,
    ok: bool,
    error: Option<String>,
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    capability: Option<String>,
    wit: Option<String>,
    permissions: Vec<String>,
    limits: Option<crate::config::Limits>,
    sha256: Option<String>,
    notes: Vec<String>,
}

pub async fn check(args: CheckArgs) -> Result<ExitCode> {
    let report = check_file(&args).await;
    args.output.print(&report, || {
        // Name, version and description come from the plugin: printed with
        // control characters escaped.
        let field = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                println!("{k:<12} {}", escape_control(v));
            }
        };
        field("file", &Some(report.file.clone()));
        field("name", &report.name);
        field("version", &report.version);
        field("description", &report.description);
        field("capability", &report.capability);
        field("wit", &report.wit);
        if report.name.is_some() {
            if report.permissions.is_empty() {
                println!("{:<12} none requested", "permissions");
            } else {
                for (i, p) in report.permissions.iter().enumerate() {
                    println!("{:<12} {p}", if i == 0 { "permissions" } else { "" });
                }
            }
        }
        if let Some(l) = &report.limits {
            println!(
                "{:<12} cpu {} ms, memory {} MiB, timeout {} ms, {} calls at once",
                "limits", l.cpu_ms, l.memory_mib, l.timeout_ms, l.concurrency
            );
        }
        field("sha256", &report.sha256);
        for n in &report.notes {
            println!("note: {}", escape_control(n));
        }
        match &report.error {
            None => println!("ok: this daemon would load it"),
            Some(e) => eprintln!(
                "error: this daemon would not load it: {}",
                escape_control(e)
            ),
        }
    })?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check_file(args: &CheckArgs) -> CheckReport {
    let mut report = CheckReport {
        file: args.file.display().to_string(),
        ok: false,
        error: None,
        name: None,
        version: None,
        description: None,
        capability: None,
        wit: None,
        permissions: Vec::new(),
        limits: None,
        sha256: None,
        notes: Vec::new(),
    };
    match check_inner(args, &mut report).await {
        Ok(()) => report.ok = true,
        Err(e) => report.error = Some(crate::text::error_line(&e)),
    }
    report
}

async fn check_inner(args: &CheckArgs, report: &mut CheckReport) -> Result<()> {
    let config = Config::load(
        args.config.as_deref(),
        &Overrides {
            data_dir: Some(std::env::temp_dir()),
            ..Default::default()
        },
    )?;
    // The same bounded, regular-files-only reads as the daemon's loader.
    let files = &config.plugin_files;
    let wasm = read_plugin_file(
        &args.file,
        files.max_component_bytes,
        files,
        "max_component_mib",
    )
    .await?
    .with_context(|| format!("{} does not exist", args.file.display()))?;
    let manifest_path = args
        .manifest
        .clone()
        .unwrap_or_else(|| args.file.with_extension("toml"));
    let manifest_bytes = read_plugin_file(
        &manifest_path,
        files.max_manifest_bytes,
        files,
        "max_manifest_kib",
    )
    .await?
    .with_context(|| {
        format!(
            "there is no manifest {}: pass --manifest FILE, or put it beside the .wasm",
            manifest_path.display()
        )
    })?;
    let manifest_text = String::from_utf8(manifest_bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", manifest_path.display()))?;
    // An in-memory database: `check` changes nothing on disk.
    let db = Store::open(std::path::Path::new(":memory:"))?;
    let runtime = Arc::new(Runtime::new(
        RuntimeOptions {
            cache_dir: None,
            pooling: false,
            guest_threads: Some(1),
            ..RuntimeOptions::from_config(&config, crate::metrics::Metrics::new())
        },
        db,
        crate::host_api::link,
    )?);
    let plugin = prepare_plugin(&runtime, &config, None, wasm, &manifest_text).await?;
    let m = &plugin.manifest;
    report.name = Some(m.name.clone());
    report.version = Some(m.version.clone());
    report.description = Some(m.description.clone());
    report.capability = Some(format!(
        "{} (world {WIT_PACKAGE}/{})",
        plugin.capability(),
        plugin.capability().world()
    ));
    report.wit = Some(format!("{WIT_PACKAGE}@{}", plugin.wit_version));
    report.permissions = m.permissions.summary();
    report.limits = Some(plugin.prepared.limits);
    report.sha256 = Some(plugin.sha256.clone());
    report.notes = plugin.limit_notes.clone();
    let stem = args.file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != m.name {
        report.notes.push(format!(
            "install it as {0}.wasm and {0}.toml in the plugin directory",
            m.name
        ));
    }
    Ok(())
}
