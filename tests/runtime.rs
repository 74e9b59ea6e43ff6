//! Adversarial plugins against the real runtime: each misbehaviour fails its
//! own call with a clear error, and the daemon's other plugins and its
//! database carry on unharmed.

mod common;

use common::{Env, adversary_manifest, adversary_with_limits, eventually, report, request};
use drover::plugins::{LoadedPlugin, Registry};
use drover::runtime::CallError;
use drover::runtime::bindings::WitError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Loaded {
    _env: Env,
    registry: Arc<Registry>,
    adversary: Arc<LoadedPlugin>,
    example: Arc<LoadedPlugin>,
}

async fn load() -> Loaded {
    load_with(&adversary_manifest("1.0.0")).await
}

async fn load_with(adversary_manifest: &str) -> Loaded {
    load_in(Env::new(), adversary_manifest).await
}

/// Load the adversary and the example into `env` (its operator config decides
/// budgets and limits).
async fn load_in(env: Env, adversary_manifest: &str) -> Loaded {
    env.install("adversary", drover_guests::ADVERSARY_V1, adversary_manifest);
    env.install(
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &std::fs::read_to_string(drover_guests::EXAMPLE_IMPORT_MANIFEST).unwrap(),
    );
    let registry = env.registry();
    let failed = registry.scan().await.unwrap();
    assert!(
        failed.is_empty(),
        "failed to load: {failed:?} {:?}",
        registry.statuses()
    );
    let adversary = registry.get("adversary").unwrap();
    let example = registry.get("example-import").unwrap();
    Loaded {
        _env: env,
        registry,
        adversary,
        example,
    }
}

impl Loaded {
    async fn adversary(&self, behaviour: &str, param: &str) -> Result<(String, String), CallError> {
        self.registry
            .runtime()
            .render_manifests(&self.adversary.prepared, &request(behaviour, param))
            .await
            .map(|m| report(&m))
    }

    /// The example plugin and the adversary's `ok` both still answer.
    async fn others_still_answer(&self) {
        let objects = self
            .registry
            .runtime()
            .render_manifests(&self.example.prepared, &request("prod", ""))
            .await
            .expect("example plugin still renders");
        assert!(objects.len() >= 6, "{} objects", objects.len());
        assert_eq!(
            self.adversary("ok", "").await.unwrap(),
            ("1.0.0".into(), "ok".into())
        );
        assert_eq!(self.registry.store().integrity_check().unwrap(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_at_the_cpu_deadline() {
    let l = load().await;
    let start = Instant::now();
    let err = l.adversary("loop", "").await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, CallError::Cpu { limit_ms: 500, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"adversary\"") && msg.contains("500 ms"),
        "{msg}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "stopped after {elapsed:?}"
    );
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_plugins_answer_while_one_spins() {
    // A long CPU deadline: the example must answer long before it ends.
    let manifest = adversary_with_limits("cpu_ms = 3000\ntimeout_ms = 10000\n");
    let l = Arc::new(load_with(&manifest).await);
    let spinning = {
        let l = l.clone();
        tokio::spawn(async move { l.adversary("loop", "").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    l.registry
        .runtime()
        .render_manifests(&l.example.prepared, &request("prod", ""))
        .await
        .unwrap();
    let latency = start.elapsed();
    assert!(
        latency < Duration::from_millis(300),
        "example took {latency:?} while adversary spun"
    );
    assert!(matches!(
        spinning.await.unwrap(),
        Err(CallError::Cpu { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_cap() {
    let l = load().await;
    let err = l.adversary("memory-bomb", "").await.unwrap_err();
    match &err {
        CallError::Memory {
            limit_mib,
            requested,
            ..
        } => {
            assert_eq!(*limit_mib, 32);
            assert!(*requested > 32 << 20, "{requested}");
        }
        other => panic!("expected a memory limit error, got {other:?}"),
    }
    assert!(err.to_string().contains("32 MiB"), "{err}");
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_filesystem_is_invisible() {
    let l = load().await;
    let err = l.adversary("read-passwd", "").await.unwrap_err();
    match err {
        CallError::Plugin {
            error: WitError::Denied(message),
            ..
        } => {
            assert!(message.contains("/etc/passwd"), "{message}");
            assert!(!message.contains("root:"), "{message}");
        }
        other => panic!("reading /etc/passwd must fail inside the plugin, got {other:?}"),
    }
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_denied() {
    let l = load().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let err = l.adversary("open-socket", &addr).await.unwrap_err();
    assert!(
        matches!(&err, CallError::Plugin { error: WitError::Denied(m), .. } if m.contains(&addr)),
        "{err:?}"
    );
    // Nothing reached the listener.
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the plugin connected to {addr}");
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_and_arguments_are_empty() {
    // SAFETY: set before any plugin call in this test process reads it; the
    // variable is unique to this test.
    unsafe { std::env::set_var("DROVER_TEST_SECRET_ENV", "hunter2-secret-value") };
    let l = load().await;
    let (_, body) = l.adversary("read-env", "").await.unwrap();
    assert!(!body.contains("hunter2"), "{body}");
    assert!(!body.contains("PATH="), "{body}");
    assert!(!body.contains("HOME="), "{body}");
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_the_call_with_its_message() {
    let l = load().await;
    let err = l.adversary("panic", "").await.unwrap_err();
    match &err {
        CallError::Panic { plugin, message } => {
            assert_eq!(plugin, "adversary");
            assert!(
                message.contains("adversary panicked on purpose"),
                "{message}"
            );
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_host_awaits_hit_the_wall_clock_timeout() {
    let l = load().await;
    let start = Instant::now();
    // The guest sleeps in a host await (wasi:clocks), where epochs cannot
    // interrupt it: only the wall-clock timeout can.
    let err = l.adversary("sleep", "10000").await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, CallError::Timeout { limit_ms: 2000, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("2000 ms"), "{err}");
    assert!(elapsed < Duration::from_millis(3000), "{elapsed:?}");
    l.others_still_answer().await;
}

/// Counts log events tagged with target `plugin`.
struct Counter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "plugin" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn log_flooding_is_bounded_per_call() {
    use tracing_subscriber::layer::SubscriberExt;
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Counter(count.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    // A current-thread runtime keeps every event on this thread's subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 300,000 host calls take a while in a debug build: give the flood
        // room, so what is tested is the bound on what reaches the log.
        let manifest = adversary_with_limits("cpu_ms = 20000\ntimeout_ms = 30000\n");
        let l = load_with(&manifest).await;
        count.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let (_, body) = l.adversary("log-flood", "").await.unwrap();
        assert_eq!(body, "flooded");
        let events = count.load(Ordering::Relaxed);
        eprintln!("log flood: {events} events in {:?}", start.elapsed());
        // The guest wrote 100,000 log records plus 200,000 output lines.
        assert!(events > 1_000, "only {events} events: nothing was logged?");
        assert!(
            events < 20_000,
            "{events} log events from one call: the flood was not bounded"
        );
        l.others_still_answer().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trips_and_quotas_hold() {
    let l = load().await;
    assert_eq!(l.adversary("state-roundtrip", "").await.unwrap().1, "hello");

    let err = l.adversary("state-big-value", "").await.unwrap_err();
    assert!(
        matches!(&err, CallError::Plugin { error: WitError::InvalidInput(m), .. } if m.contains("65536")),
        "{err:?}"
    );

    let err = l.adversary("state-flood", "").await.unwrap_err();
    assert!(
        matches!(&err, CallError::Plugin { error: WitError::InvalidInput(m), .. } if m.contains("state quota")),
        "{err:?}"
    );
    // Earlier data survives the flood, the file is sound, and the quota held.
    let store = l.registry.store();
    assert_eq!(
        store.state_get("adversary", "greeting").unwrap().as_deref(),
        Some(&b"\"hello\""[..])
    );
    assert!(store.state_get("adversary", "big").unwrap().is_none());
    let keys = store.state_keys("adversary", "k").unwrap();
    let bytes: usize = keys
        .iter()
        .map(|k| k.len() + store.state_get("adversary", k).unwrap().unwrap().len())
        .sum();
    assert!(bytes <= 4 << 20, "{bytes} bytes stored");
    assert!(keys.len() > 10, "{} keys", keys.len());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // The example plugin's state is its own.
    assert!(store.state_keys("example-import", "k").unwrap().is_empty());
    l.others_still_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_renders_every_object_in_apply_order() {
    let l = load().await;
    let objects = l
        .registry
        .runtime()
        .render_manifests(&l.example.prepared, &request("prod", "team-a"))
        .await
        .unwrap();
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"Namespace"));
    for kind in [
        "ServiceAccount",
        "ClusterRoleBinding",
        "Secret",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    for o in &objects {
        let body: serde_json::Value = serde_json::from_str(&o.body).unwrap();
        assert_eq!(body["kind"], o.kind.as_str());
        assert_eq!(body["metadata"]["name"], o.name.as_str());
        if o.kind != "Namespace" && !o.kind.starts_with("Cluster") {
            assert_eq!(o.namespace.as_deref(), Some("team-a"));
        }
    }
    let secret = objects.iter().find(|o| o.kind == "Secret").unwrap();
    assert_eq!(secret.name, "drover-credentials-0a1b2c3d");
    // The example keeps a render counter in its state.
    let stored = l.registry.store().state_keys("example-import", "").unwrap();
    assert!(!stored.is_empty());

    // Bad input is refused by the plugin with a reason.
    let mut bad = request("prod", "Not_A_Namespace");
    bad.cluster_id = "c-1".into();
    let err = l
        .registry
        .runtime()
        .render_manifests(&l.example.prepared, &bad)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallError::Plugin {
                error: WitError::InvalidInput(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_party_plugin_renders_through_the_runtime() {
    let env = Env::new();
    env.install(
        "import-manifests",
        drover_guests::IMPORT_MANIFESTS,
        &std::fs::read_to_string(drover_guests::IMPORT_MANIFESTS_MANIFEST).unwrap(),
    );
    let registry = env.registry();
    assert!(registry.scan().await.unwrap().is_empty());
    let plugin = registry.get("import-manifests").unwrap();
    let mut req = request("prod", "");
    req.agent.ca_checksum = Some("ab".repeat(32));
    let objects = registry
        .runtime()
        .render_manifests(&plugin.prepared, &req)
        .await
        .unwrap();
    let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRoleBinding",
            "Secret",
            "Deployment",
            "Service"
        ]
    );
    let secret: serde_json::Value = serde_json::from_str(&objects[3].body).unwrap();
    assert_eq!(
        secret["stringData"]["token"], "",
        "the plugin never sees the token"
    );
    let deployment = &objects[4].body;
    assert!(deployment.contains("DROVER_CA_CHECKSUM"), "{deployment}");
    assert!(
        objects
            .iter()
            .skip(1)
            .all(|o| o.namespace.as_deref() != Some(""))
    );
}

#[tokio::test]
async fn a_plugin_built_against_an_older_wit_of_the_series_still_loads_and_renders() {
    let env = Env::new();
    env.install(
        "older-wit",
        drover_guests::OLDER_WIT,
        "name = \"older-wit\"\nversion = \"0.1.0\"\n\
         description = \"Built against drover:plugin@0.1.0, for Drover's test suite\"\n",
    );
    let registry = env.registry();
    let failed = registry.scan().await.unwrap();
    assert!(failed.is_empty(), "{failed:?} {:?}", registry.statuses());
    let status = registry
        .statuses()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "older-wit")
        .unwrap();
    assert_eq!(status.wit_version.as_deref(), Some("0.1.0"));
    assert_ne!(
        drover::runtime::WIT_VERSION.to_string(),
        "0.1.0",
        "the daemon is newer"
    );
    let plugin = registry.get("older-wit").unwrap();
    let manifests = registry
        .runtime()
        .render_manifests(&plugin.prepared, &request("x", ""))
        .await
        .unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].name, "older-c-0001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_errors_are_cut_and_big_results_refused() {
    let l = load().await;
    let err = l.adversary("big-error", "").await.unwrap_err();
    match &err {
        CallError::Plugin {
            error: WitError::InvalidInput(m),
            ..
        } => {
            assert!(m.len() < 4200, "{} bytes of error relayed", m.len());
            assert!(
                m.ends_with("(9995904 more bytes cut)"),
                "{}",
                &m[m.len() - 60..]
            );
        }
        other => panic!("{other:?}"),
    }
    let err = l.adversary("big-output", "8").await.unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::OutputTooLarge {
                world: "import-manifests",
                limit_kib: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("[limits.result_kib] import-manifests") && text.contains("1024 KiB"),
        "{text}"
    );
    l.others_still_answer().await;

    // The operator can allow more.
    let env = Env::with_config("[limits.result_kib]\nimport-manifests = 16384\n");
    let big = load_in(env, &adversary_manifest("1.0.0")).await;
    let (_, body) = big.adversary("big-output", "8").await.unwrap();
    assert_eq!(body.len(), 8 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_is_named_as_one() {
    let l = load().await;
    let err = l.adversary("stack-overflow", "").await.unwrap_err();
    assert!(matches!(err, CallError::StackOverflow { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("overflowed its stack") && text.contains("1 MiB"),
        "{text}"
    );
    assert!(!text.contains("out of bounds"), "{text}");
    l.others_still_answer().await;
}

/// Sleeping calls of the adversary, started together; their outcomes.
async fn sleepers(l: &Arc<Loaded>, n: usize, ms: &str) -> Vec<Result<(String, String), CallError>> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let l = l.clone();
            let ms = ms.to_string();
            tokio::spawn(async move { l.adversary("sleep", &ms).await })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

/// The runtime's metrics once they show `gauges` at their values (within
/// a second), watched while the calls run.
fn metrics_showing(
    l: &Arc<Loaded>,
    gauges: &'static [(&'static str, i64)],
) -> tokio::task::JoinHandle<String> {
    let l = l.clone();
    tokio::spawn(async move {
        eventually(Duration::from_secs(1), "the gauges", || {
            let metrics = l.registry.runtime().metrics().encode();
            gauges
                .iter()
                .all(|&(name, value)| gauge_value(&metrics, name) == Some(value))
                .then_some(metrics)
        })
        .await
    })
}

/// What the calls that ended as busy said.
fn busy_messages(outcomes: &[Result<(String, String), CallError>]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Err(e @ CallError::Busy { .. }) => Some(e.to_string()),
            _ => None,
        })
        .collect()
}

fn gauge_value(metrics: &str, name: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn gauge(metrics: &str, name: &str) -> i64 {
    gauge_value(metrics, name).unwrap_or_else(|| panic!("{name} not in {metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_a_plugins_concurrency_wait_then_fail_as_busy() {
    // One call at a time; a call waits at most its 1.5 s timeout for a slot.
    let manifest = adversary_with_limits("concurrency = 1\ntimeout_ms = 1500\n");
    let l = Arc::new(load_with(&manifest).await);
    let probe = metrics_showing(
        &l,
        &[
            ("drover_plugin_calls_in_flight{plugin=\"adversary\"}", 1),
            ("drover_plugin_calls_waiting{plugin=\"adversary\"}", 2),
        ],
    );
    let outcomes = sleepers(&l, 3, "1000").await;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    let busy = busy_messages(&outcomes);
    assert_eq!((ok, busy.len()), (2, 1), "{outcomes:?}");
    assert!(
        busy[0].contains("concurrency limit") && busy[0].contains("[plugins.adversary.limits]"),
        "{}",
        busy[0]
    );
    // One running, two waiting, visible in /metrics.
    let metrics = probe.await.unwrap();
    assert_eq!(
        gauge(
            &metrics,
            "drover_plugin_calls_in_flight{plugin=\"adversary\"}"
        ),
        1
    );
    assert_eq!(
        gauge(
            &metrics,
            "drover_plugin_calls_waiting{plugin=\"adversary\"}"
        ),
        2
    );
    let after = l.registry.runtime().metrics().encode();
    assert_eq!(
        gauge(
            &after,
            "drover_plugin_calls_in_flight{plugin=\"adversary\"}"
        ),
        0
    );
    assert!(
        after.contains("drover_plugin_calls_total{plugin=\"adversary\",outcome=\"busy\"} 1"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_wait_for_the_daemons_guest_memory_budget() {
    // 64 MiB in all; the adversary may use 32 MiB per call: two fit at once.
    let env = Env::with_config("[limits]\nguest_memory_mib = 64\n[limits.max]\nmemory_mib = 64\n");
    let manifest = adversary_with_limits("memory_mib = 32\ntimeout_ms = 1500\n");
    let l = Arc::new(load_in(env, &manifest).await);
    let probe = metrics_showing(&l, &[("drover_guest_memory_reserved_mib", 64)]);
    let outcomes = sleepers(&l, 5, "1000").await;
    let busy = busy_messages(&outcomes);
    // Two run at once for a second each: four fit in the 1.5 s wait, one does not.
    assert_eq!(busy.len(), 1, "{outcomes:?}");
    assert!(
        busy[0].contains("guest memory budget of 64 MiB") && busy[0].contains("guest_memory_mib"),
        "{}",
        busy[0]
    );
    let metrics = probe.await.unwrap();
    assert_eq!(gauge(&metrics, "drover_guest_memory_reserved_mib"), 64);
    assert_eq!(gauge(&metrics, "drover_guest_memory_budget_mib"), 64);
}

#[test]
fn a_budget_below_the_largest_plugin_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[limits]\nguest_memory_mib = 100\n").unwrap();
    let err = drover::config::Config::load(Some(&path), &Default::default()).unwrap_err();
    assert!(
        format!("{err:#}").contains("guest_memory_mib = 100"),
        "{err:#}"
    );
}
