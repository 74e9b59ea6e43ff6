//! Platform benchmarks; each prints its numbers next to its budget.
//!
//!     cargo bench -p drover --bench platform
//!
//! - invoke a trivial export (`plugin-info.info`) on a fresh instance: p50, p99
//! - hot reload: `.wasm` replaced → new version serving
//! - daemon restart with a warm compile cache → serving (real binary)
//! - daemon RSS, idle, with the example plugin loaded (real binary)
//! - release size of the example plugin

#[path = "../../tests/common/mod.rs"]
mod common;

use common::daemon::closed_port;
use common::{Env, adversary_manifest, adversary_with_limits, install_plugin};
use drover::plugins::watcher;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn example_manifest() -> String {
    std::fs::read_to_string(drover_guests::EXAMPLE_IMPORT_MANIFEST).unwrap()
}

async fn invoke(pooling: bool) {
    let env = Env::new();
    let registry = env.registry_pooling(pooling);
    env.install(
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &example_manifest(),
    );
    registry.scan().await.unwrap();
    let plugin = registry.get("example-import").unwrap();
    let runtime = registry.runtime();
    for _ in 0..1_000 {
        runtime.plugin_info(&plugin.prepared).await.unwrap();
    }
    let mut samples = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let start = Instant::now();
        let info = runtime.plugin_info(&plugin.prepared).await.unwrap();
        samples.push(start.elapsed());
        std::hint::black_box(info);
    }
    samples.sort();
    println!(
        "invoke trivial export, fresh instance ({}), 10,000 calls: p50 {}  p99 {}  (budget p50 ≤ 30 µs)",
        if runtime.pooling() {
            "pooling allocator"
        } else {
            "on-demand allocator"
        },
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.99)),
    );
}

async fn hot_reload() {
    let env = Env::new();
    let registry = env.registry();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V1,
        &adversary_manifest("1.0.0"),
    );
    registry.scan().await.unwrap();
    let _w = watcher::spawn(registry.clone(), vec![]).unwrap();
    let mut samples = Vec::new();
    // Each round brings a version with bytes the daemon has not compiled in
    // this run (the compile cache is cleared), so every reload compiles.
    for round in 0..10 {
        let (wasm, version) = if round % 2 == 0 {
            (drover_guests::ADVERSARY_V2, "2.0.0")
        } else {
            (drover_guests::ADVERSARY_V1, "1.0.0")
        };
        let cache = env.config.data_dir.join("cache");
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).unwrap();
        let start = Instant::now();
        env.install("adversary", wasm, &adversary_manifest(version));
        loop {
            if registry
                .get("adversary")
                .is_some_and(|p| p.manifest.version == version)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "hot reload, file replaced → new version serving (cold compile), 10 rounds: median {}  max {}  (budget ≤ 500 ms)",
        ms(percentile(&samples, 0.5)),
        ms(*samples.last().unwrap())
    );
}

/// Fifty calls of a plugin that spins until its CPU deadline, all at once,
/// on the daemon's runtime: how late calls end against their wall clock, and
/// how quickly another plugin's trivial call answers meanwhile (the API's
/// threads are the caller's threads here).
async fn storm() {
    let env = Env::with_config("[limits]\nguest_memory_mib = 2048\n");
    let registry = env.registry();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V1,
        &adversary_with_limits(
            "cpu_ms = 500\nmemory_mib = 32\ntimeout_ms = 2000\nconcurrency = 64\n",
        ),
    );
    env.install(
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &example_manifest(),
    );
    registry.scan().await.unwrap();
    let spinner = registry.get("adversary").unwrap();
    let example = registry.get("example-import").unwrap();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let registry = registry.clone();
            let prepared = spinner.prepared.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let request = common::request("loop", "");
                let _ = registry
                    .runtime()
                    .render_manifests(&prepared, &request)
                    .await;
                started.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut trivial = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        registry
            .runtime()
            .plugin_info(&example.prepared)
            .await
            .unwrap();
        trivial.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ends = Vec::new();
    for c in calls {
        ends.push(c.await.unwrap());
    }
    trivial.sort();
    ends.sort();
    println!(
        "storm of 50 spinning calls (cpu 500 ms, wall clock 2000 ms) on {} cores: calls end after median {}  max {}; another plugin's trivial call meanwhile p50 {}  max {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ms(percentile(&ends, 0.5)),
        ms(*ends.last().unwrap()),
        us(percentile(&trivial, 0.5)),
        ms(*trivial.last().unwrap()),
    );
}

struct Started {
    child: std::process::Child,
    elapsed: Duration,
}

fn start_daemon(home: &Path, port: u16) -> Started {
    let start = Instant::now();
    let child = Command::new(DROVER)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async {
        let client = reqwest::Client::new();
        loop {
            let url = format!("http://127.0.0.1:{port}/readyz");
            if let Ok(r) = client.get(url).send().await
                && r.status() == 200
            {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    Started { child, elapsed }
}

fn stop(mut s: Started) {
    let _ = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status();
    let _ = s.child.wait();
}

fn restart_and_rss() {
    let home = tempfile::tempdir().unwrap();
    let plugins = home.path().join(".local/share/drover/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    install_plugin(
        &plugins,
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &example_manifest(),
    );
    let port = closed_port();
    // First start compiles and fills the cache.
    let first = start_daemon(home.path(), port);
    println!(
        "daemon first start (compiles the example) → ready: {}",
        ms(first.elapsed)
    );
    stop(first);
    let mut samples = Vec::new();
    for _ in 0..5 {
        let s = start_daemon(home.path(), port);
        samples.push(s.elapsed);
        stop(s);
    }
    samples.sort();
    println!(
        "daemon restart, warm compile cache → ready with the first-party plugins and the example loaded, 5 runs: median {}  max {}  (budget ≤ 300 ms)",
        ms(percentile(&samples, 0.5)),
        ms(*samples.last().unwrap())
    );

    let s = start_daemon(home.path(), port);
    std::thread::sleep(Duration::from_secs(2));
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap();
    println!(
        "daemon RSS, idle 2 s, first-party plugins and the example loaded: {:.1} MiB  (budget ≤ 48 MiB)",
        rss as f64 / 1024.0
    );
    stop(s);
}

fn main() {
    drover::tls::install_crypto_provider();
    // `cargo bench` passes --bench; ignore arguments.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(invoke(true));
    rt.block_on(invoke(false));
    rt.block_on(hot_reload());
    rt.block_on(storm());
    restart_and_rss();
    for (what, path) in [
        (
            "first-party import-manifests",
            drover_guests::IMPORT_MANIFESTS,
        ),
        ("example", drover_guests::EXAMPLE_IMPORT),
    ] {
        let size = std::fs::metadata(path).unwrap().len();
        println!(
            "{what} plugin size (profile `plugin`: opt-level s, LTO, stripped): {:.1} KB  (budget ≤ 400 KB)",
            size as f64 / 1000.0
        );
    }
}
