//! Backbone benchmarks against the real daemon over HTTP; each prints its
//! numbers.
//!
//!     cargo bench -p drover --bench backbone
//!
//! - 200 operations of 10 steps each started at once: total time, p99 step
//!   latency (recorded start → recorded finish), no failures;
//! - paging through a 10,000-operation listing, 100 per page: p50/p99 per page.

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DROVER: &str = env!("CARGO_BIN_EXE_drover");

struct Daemon {
    child: std::process::Child,
    url: String,
    token: String,
    client: reqwest::Client,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(home: &std::path::Path) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(DROVER)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("HOME", home)
        .env("DROVER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let token = std::fs::read_to_string(home.join(".local/share/drover/admin-token"))
        .unwrap()
        .trim()
        .to_string();
    Daemon {
        child,
        url,
        token,
        client,
    }
}

impl Daemon {
    async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }

    /// Count of operations with `status`, paging through the listing.
    async fn count(&self, status: &str) -> usize {
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/operations?status={status}&limit=1000");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self.get(&path).await;
            n += page["operations"].as_array().unwrap().len();
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return n,
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn many_operations() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path()).await;
    let started = Instant::now();
    let ops = start_many(&d, 200, 10).await;
    while d.count("succeeded").await < 200 {
        assert_eq!(d.count("failed").await, 0, "an operation failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let mut latencies = Vec::new();
    for op in &ops {
        let detail = d
            .get(&format!("/v1/operations/{}", op["id"].as_str().unwrap()))
            .await;
        for s in detail["steps"].as_array().unwrap() {
            assert_eq!(s["status"], "succeeded");
            latencies.push(
                (s["finished_at"].as_i64().unwrap() - s["started_at"].as_i64().unwrap()) as f64,
            );
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "200 operations × 10 steps started at once: all 2,000 steps succeeded in {:.2} s ({:.0} steps/s); \
         step latency (recorded start → recorded finish, ms resolution) p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         0 failed, no \"database is locked\"",
        total.as_secs_f64(),
        2000.0 / total.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}

/// Start `n` selftest operations at once, each from its own task.
async fn start_many(d: &Daemon, n: usize, steps: u32) -> Vec<Value> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url, token) = (d.client.clone(), d.url.clone(), d.token.clone());
        set.spawn(async move {
            let r = client
                .post(format!("{url}/v1/operations"))
                .bearer_auth(token)
                .json(&json!({"kind": "selftest", "inputs": {"steps": steps, "step_ms": 0}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        });
    }
    set.join_all().await
}

async fn big_listing() {
    let home = tempfile::tempdir().unwrap();
    let d = start(home.path()).await;
    for _ in 0..100 {
        start_many(&d, 100, 1).await;
    }
    while d.count("succeeded").await < 10_000 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut samples = Vec::new();
    for _ in 0..3 {
        let mut after: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut path = "/v1/operations?limit=100".to_string();
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let t = Instant::now();
            let page = d.get(&path).await;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            seen += page["operations"].as_array().unwrap().len();
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, 10_000);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "GET /v1/operations over 10,000 operations, 100 per page, {} pages: p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

fn main() {
    drover::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(many_operations());
    rt.block_on(big_listing());
}
