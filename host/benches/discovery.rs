//! AKS discovery at scale: 1,000 clusters over 20 subscriptions, 20 ms of
//! injected latency on every ARM request, through the real daemon, the
//! aks-discovery plugin and the host's ARM client, against the loopback
//! Entra/ARM stand-in. Prints end-to-end time and request counts.
//!
//! `cargo bench -p drover --bench discovery`

#[allow(dead_code)]
#[path = "../../tests/common/azure.rs"]
mod azure;
#[allow(dead_code)]
#[path = "../../tests/common/daemon.rs"]
mod daemon;

use azure::{AzureStandIn, Fleet, StandInOptions};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn run(page_size: usize) {
    let dir = tempfile::tempdir().unwrap();
    let stand_in = AzureStandIn::start(
        dir.path(),
        StandInOptions {
            example_subscription: false,
            fleet: Some(Fleet {
                subscriptions: 20,
                clusters_per_subscription: 50,
                page_size,
            }),
            latency: Duration::from_millis(20),
            ..Default::default()
        },
    );
    let secret = StandInOptions::default().client_secret;
    let d = stand_in.daemon(dir.path(), "[\"*\"]", &secret, "standin", false);
    let mut times = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..5 {
        let before = stand_in.arm_requests.load(Ordering::Relaxed);
        let started = Instant::now();
        let out = d.cli(&["aks", "clusters", "--credential", "prod", "-o", "json"]);
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(found["clusters"].as_array().unwrap().len(), 1000);
        times.push(elapsed);
        requests.push(stand_in.arm_requests.load(Ordering::Relaxed) - before);
    }
    times.sort();
    println!(
        "discover 1,000 clusters / 20 subscriptions, 20 ms per ARM request, {page_size} per page: \
         median {:.0} ms, max {:.0} ms (budget 3,000 ms), {} ARM requests per run \
         (CLI → API → plugin → ARM, inventory written)",
        times[2].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0,
        requests[0]
    );
}

fn main() {
    // Real ARM pages managedClusters at up to 1,000 per page; 10 per page
    // is the hard case (100 pages to follow).
    run(100);
    run(10);
}
