//! The plugin directory, hot-reloaded: adds, replacements (with a call in
//! flight), broken versions that leave the old one serving, removals, retry
//! backoff, the compile cache across restarts, and permissions resolved from
//! real manifests and operator config.

mod common;

use common::{Env, adversary_manifest, eventually, report, request};
use drover::permissions::{Access, AzureAccess, ShellAccess};
use drover::plugins::{PluginStatus, Registry, watcher};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn status(registry: &Registry, name: &str) -> Option<PluginStatus> {
    registry
        .statuses()
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
}

async fn call_version(registry: &Registry) -> String {
    let plugin = registry.get("adversary").expect("adversary is loaded");
    let objects = registry
        .runtime()
        .render_manifests(&plugin.prepared, &request("ok", ""))
        .await
        .unwrap();
    report(&objects).0
}

/// A registry over an empty directory with its watcher running.
async fn watched(env: &Env) -> (Arc<Registry>, watcher::Watcher) {
    let registry = env.registry();
    let failed = registry.scan().await.unwrap();
    let w = watcher::spawn(registry.clone(), failed).unwrap();
    (registry, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_replaced_and_removed_with_a_call_in_flight() {
    let env = Env::new();
    let (registry, _w) = watched(&env).await;

    // Add.
    let start = Instant::now();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V1,
        &adversary_manifest("1.0.0"),
    );
    eventually(Duration::from_secs(1), "v1 loaded within a second", || {
        registry.get("adversary")
    })
    .await;
    eprintln!("add → loaded in {:?}", start.elapsed());
    assert_eq!(call_version(&registry).await, "1.0.0");
    let s = status(&registry, "adversary").unwrap();
    assert_eq!(s.status, "loaded");
    assert_eq!(s.capability.as_deref(), Some("import-manifests"));
    assert_eq!(s.wit_version.as_deref(), Some("0.1.1"));

    // A long call starts on v1...
    let v1 = registry.get("adversary").unwrap();
    let in_flight = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .runtime()
                .render_manifests(&v1.prepared, &request("sleep", "1500"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    // ...while v2 replaces it.
    let start = Instant::now();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V2,
        &adversary_manifest("2.0.0"),
    );
    eventually(Duration::from_secs(2), "v2 serving", || {
        registry
            .get("adversary")
            .filter(|p| p.manifest.version == "2.0.0")
    })
    .await;
    eprintln!("replace → v2 serving in {:?}", start.elapsed());
    assert_eq!(call_version(&registry).await, "2.0.0");
    // The in-flight call finished on the version it started with.
    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(report(&finished), ("1.0.0".into(), "slept".into()));

    // Remove while a call is in flight: the call completes, the plugin goes.
    let v2 = registry.get("adversary").unwrap();
    let in_flight = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .runtime()
                .render_manifests(&v2.prepared, &request("sleep", "500"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::remove_file(env.plugin_dir().join("adversary.wasm")).unwrap();
    eventually(Duration::from_secs(1), "unloaded", || {
        registry.get("adversary").is_none().then_some(())
    })
    .await;
    assert!(status(&registry, "adversary").is_none());
    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(report(&finished), ("2.0.0".into(), "slept".into()));
}

/// Each broken replacement leaves v1 serving and records why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_versions_leave_the_previous_one_serving() {
    let env = Env::new();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V1,
        &adversary_manifest("1.0.0"),
    );
    let (registry, _w) = watched(&env).await;
    assert_eq!(call_version(&registry).await, "1.0.0");
    let good = std::fs::read(drover_guests::ADVERSARY_V1).unwrap();
    let v1_sha = status(&registry, "adversary").unwrap().sha256;

    let cases: Vec<(&str, Vec<u8>, String, &str)> = vec![
        (
            "garbage",
            b"this is not wasm at all".to_vec(),
            adversary_manifest("1.0.0"),
            "not a WebAssembly file",
        ),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            adversary_manifest("1.0.0"),
            "core WebAssembly module",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            adversary_manifest("1.0.0"),
            "not a valid WebAssembly component",
        ),
        (
            "empty",
            Vec::new(),
            adversary_manifest("1.0.0"),
            "not a WebAssembly file",
        ),
        (
            "no world",
            std::fs::read(drover_guests::NO_WORLD).unwrap(),
            adversary_manifest("1.0.0"),
            "implements no known Drover world",
        ),
        (
            "future WIT",
            std::fs::read(drover_guests::FUTURE_WIT).unwrap(),
            adversary_manifest("1.0.0"),
            "incompatible WIT version",
        ),
        (
            "version mismatch",
            std::fs::read(drover_guests::ADVERSARY_V2).unwrap(),
            adversary_manifest("1.0.0"),
            "says it is adversary 2.0.0 but its manifest says adversary 1.0.0",
        ),
        (
            "invalid manifest",
            good.clone(),
            "name = \"adversary\"\nversion = 3\n".into(),
            "manifest is not valid",
        ),
        (
            "renamed manifest",
            good.clone(),
            adversary_manifest("1.0.0").replace("\"adversary\"", "\"other\""),
            "manifest names the plugin \"other\"",
        ),
    ];
    for (what, wasm, manifest, expected) in cases {
        env.write_manifest("adversary", &manifest);
        env.write_wasm("adversary", &wasm);
        let s = eventually(Duration::from_secs(2), what, || {
            status(&registry, "adversary")
                .filter(|s| s.error.as_deref().is_some_and(|e| e.contains(expected)))
        })
        .await;
        assert_eq!(s.status, "loaded", "{what}: the old version keeps serving");
        assert_eq!(s.version.as_deref(), Some("1.0.0"), "{what}");
        assert_eq!(s.sha256, v1_sha, "{what}");
        assert_eq!(call_version(&registry).await, "1.0.0", "{what}");
        // Put v1 back; the error clears.
        env.install(
            "adversary",
            drover_guests::ADVERSARY_V1,
            &adversary_manifest("1.0.0"),
        );
        eventually(Duration::from_secs(3), "v1 restored", || {
            status(&registry, "adversary").filter(|s| s.error.is_none())
        })
        .await;
    }
    assert_eq!(registry.store().integrity_check().unwrap(), "ok");
}

/// With no previous version, a broken plugin is listed as failed with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_new_plugins_are_listed_as_failed() {
    let env = Env::new();
    env.install(
        "widgets",
        drover_guests::NO_WORLD,
        "name = \"widgets\"\nversion = \"1.0.0\"\n",
    );
    env.install(
        "future-wit",
        drover_guests::FUTURE_WIT,
        "name = \"future-wit\"\nversion = \"0.1.0\"\n",
    );
    env.write_wasm(
        "lonely",
        &std::fs::read(drover_guests::ADVERSARY_V1).unwrap(),
    );
    env.install(
        "Bad_Name",
        drover_guests::ADVERSARY_V1,
        &adversary_manifest("1.0.0"),
    );
    let registry = env.registry();
    let mut failed = registry.scan().await.unwrap();
    failed.sort();
    assert_eq!(failed, vec!["Bad_Name", "future-wit", "lonely", "widgets"]);
    let expect = [
        (
            "widgets",
            "implements no known Drover world: it exports acme:widgets/spinner@1.0.0",
        ),
        (
            "future-wit",
            "drover:plugin@0.9.0, this daemon supports drover:plugin@0.1.0 to @0.1.1",
        ),
        ("lonely", "no manifest: put lonely.toml"),
        ("Bad_Name", "not a valid plugin name"),
    ];
    for (name, text) in expect {
        let s = status(&registry, name).unwrap();
        assert_eq!(s.status, "failed", "{name}");
        assert!(
            s.error.as_deref().unwrap().contains(text),
            "{name}: {:?}",
            s.error
        );
        assert!(registry.get(name).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_loads_are_retried_with_backoff() {
    let env = Env::new();
    env.install(
        "adversary",
        drover_guests::ADVERSARY_V1,
        &adversary_manifest("9.9.9"),
    );
    let (registry, _w) = watched(&env).await;
    let after_scan = registry.load_attempts();
    assert_eq!(after_scan, 1);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Retries at +1 s and +3 s (1 s, then 2 s): not a tight loop.
    let retries = registry.load_attempts() - after_scan;
    assert!((1..=3).contains(&retries), "{retries} retries in 3.5 s");
    // A fix to the files is picked up at once, whatever the schedule.
    env.write_manifest("adversary", &adversary_manifest("1.0.0"));
    eventually(Duration::from_secs(1), "fixed manifest loads", || {
        registry.get("adversary")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_compiled_code_from_the_cache() {
    let env = Env::new();
    env.install(
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &std::fs::read_to_string(drover_guests::EXAMPLE_IMPORT_MANIFEST).unwrap(),
    );
    let first = env.registry();
    first.scan().await.unwrap();
    assert!(!first.get("example-import").unwrap().from_cache);
    drop(first);

    let start = Instant::now();
    let second = env.registry();
    second.scan().await.unwrap();
    let elapsed = start.elapsed();
    let plugin = second.get("example-import").unwrap();
    assert!(plugin.from_cache, "the restart recompiled");
    eprintln!("warm restart: runtime + scan in {elapsed:?}");
    second
        .runtime()
        .render_manifests(&plugin.prepared, &request("prod", ""))
        .await
        .unwrap();
    drop(second);

    // A corrupt cache entry is discarded and the component recompiled.
    let cache = env.config.data_dir.join("cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let third = env.registry();
    third.scan().await.unwrap();
    let plugin = third
        .get("example-import")
        .expect("loads despite a corrupt cache");
    assert!(!plugin.from_cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_requested_times_granted() {
    let env = Env::with_config(
        r#"
        [plugins.adversary.azure]
        credentials = ["prod"]
        subscriptions = ["*"]
        methods = ["GET", "POST"]
        paths = ["/subscriptions/*/providers/Microsoft.ContainerService/**"]
        "#,
    );
    let manifest = format!(
        "{}\n[permissions.azure]\ncredentials = [\"*\"]\nsubscriptions = [\"sub-1\"]\nmethods = [\"GET\"]\npaths = [\"/subscriptions/**\"]\n",
        adversary_manifest("1.0.0")
    );
    env.install("adversary", drover_guests::ADVERSARY_V1, &manifest);
    let registry = env.registry();
    assert!(registry.scan().await.unwrap().is_empty());
    let policy = registry.get("adversary").unwrap().prepared.policy.clone();
    let path = "/subscriptions/sub-1/providers/Microsoft.ContainerService/managedClusters";
    let ok = AzureAccess {
        credential: "prod",
        subscription: "sub-1",
        method: "GET",
        path,
    };
    assert!(policy.check(&Access::Azure(ok)).is_ok());
    // Granted by the operator but not requested by the manifest.
    let e = policy
        .check(&Access::Azure(AzureAccess {
            method: "POST",
            ..ok
        }))
        .unwrap_err();
    assert!(
        e.message.contains("did not request azure method \"POST\""),
        "{}",
        e.message
    );
    // Requested but not granted.
    let e = policy
        .check(&Access::Azure(AzureAccess {
            credential: "staging",
            ..ok
        }))
        .unwrap_err();
    assert!(
        e.message.contains("[plugins.adversary.azure]"),
        "{}",
        e.message
    );
    assert!(e.message.contains("config.toml"), "{}", e.message);
    let e = policy
        .check(&Access::Azure(AzureAccess {
            subscription: "sub-2",
            ..ok
        }))
        .unwrap_err();
    assert!(
        e.message.contains("subscription \"sub-2\""),
        "{}",
        e.message
    );
    // No shell or kubernetes rules at all: default deny.
    assert!(
        policy
            .check(&Access::Shell(ShellAccess {
                target: "local",
                program: "sh"
            }))
            .is_err()
    );
    let listed = status(&registry, "adversary").unwrap().permissions;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].starts_with("azure: credentials [*]"),
        "{listed:?}"
    );
}
