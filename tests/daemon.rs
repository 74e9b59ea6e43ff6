//! The real `drover` binary: `serve` on embedded defaults (in a temp HOME),
//! the API and its token, `plugin ls` while plugins come, break and go,
//! restart with a warm compile cache, one daemon per data directory, and
//! `plugin check` offline.

mod common;

use common::daemon::{DROVER, Daemon, http_get, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

fn copy_example(daemon: &Daemon) {
    let dir = daemon.plugin_dir();
    std::fs::copy(
        drover_guests::EXAMPLE_IMPORT_MANIFEST,
        dir.join("example-import.toml"),
    )
    .unwrap();
    std::fs::copy(
        drover_guests::EXAMPLE_IMPORT,
        dir.join("example-import.wasm"),
    )
    .unwrap();
}

#[test]
fn serve_lists_plugins_as_they_come_break_and_go() {
    let home = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(home.path());

    // Probes without a token; the API with one.
    assert_eq!(http_get(&format!("{}/healthz", daemon.url), None).0, 200);
    let ready = wait_for(Duration::from_secs(5), "readyz", || {
        let (status, body) = http_get(&format!("{}/readyz", daemon.url), None);
        (status == 200).then_some(body)
    });
    assert_eq!(ready["status"], "ready");
    let (status, body) = http_get(&format!("{}/v1/plugins", daemon.url), None);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = http_get(&format!("{}/v1/plugins", daemon.url), Some("wrong-token"));
    assert_eq!(status, 401);
    // The first start installed the first-party plugins.
    let (status, body) = http_get(&format!("{}/v1/plugins", daemon.url), Some(&daemon.token()));
    assert_eq!(status, 200);
    let plugins = body["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 2, "{body}");
    for (name, capability) in [
        ("aks-discovery", "aks-discovery"),
        ("import-manifests", "import-manifests"),
    ] {
        let p = plugins.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["status"], "loaded", "{p}");
        assert_eq!(p["capability"], capability);
    }
    let (status, body) = http_get(&format!("{}/v1/nothing", daemon.url), Some(&daemon.token()));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not-found"))
    );

    // The admin token is private to the daemon's user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(daemon.data_dir().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Copy the example in: loaded within a second.
    let start = Instant::now();
    copy_example(&daemon);
    let p = wait_for(Duration::from_secs(1), "example loaded", || {
        daemon
            .plugin("example-import")
            .filter(|p| p["status"] == "loaded")
    });
    eprintln!("copied → listed as loaded in {:?}", start.elapsed());
    assert_eq!(p["version"], "0.1.0");
    assert_eq!(p["capability"], "import-manifests");
    let sha = p["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    assert!(p["loaded_at"].as_str().unwrap().ends_with('Z'));

    // The table names the same things.
    let out = daemon.cli(&["plugin", "ls"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("example-import") && table.contains("loaded"),
        "{table}"
    );

    // Garbage over the .wasm: the old version keeps serving, with the reason.
    std::fs::write(daemon.plugin_dir().join("example-import.wasm"), b"garbage!").unwrap();
    let p = wait_for(Duration::from_secs(2), "reload failure shown", || {
        daemon
            .plugin("example-import")
            .filter(|p| p["error"].is_string())
    });
    assert_eq!(p["status"], "loaded");
    assert_eq!(p["sha256"], sha.as_str());
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{p}"
    );
    let table = String::from_utf8(daemon.cli(&["plugin", "ls"]).stdout).unwrap();
    assert!(
        table.contains("new version refused: not a WebAssembly file"),
        "{table}"
    );

    // Delete it: unloaded.
    std::fs::remove_file(daemon.plugin_dir().join("example-import.wasm")).unwrap();
    wait_for(Duration::from_secs(1), "example unloaded", || {
        daemon.plugin("example-import").is_none().then_some(())
    });

    // A wrong token from the CLI is a clear error and a non-zero exit.
    let out = daemon.cli(&["plugin", "ls", "--token", "nope"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{out:?}"
    );

    assert!(daemon.stop().success(), "SIGTERM exits 0");
}

#[test]
fn restart_uses_the_compile_cache_and_one_daemon_owns_a_data_dir() {
    let home = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(home.path());
    copy_example(&daemon);
    let p = wait_for(Duration::from_secs(2), "example loaded", || {
        daemon
            .plugin("example-import")
            .filter(|p| p["status"] == "loaded")
    });
    assert_eq!(p["compiled_from_cache"], false);

    // A second daemon on the same data directory is refused.
    let out = Command::new(DROVER)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another drover daemon"), "{stderr}");

    assert!(daemon.stop().success());
    let daemon = Daemon::start(home.path());
    let p = wait_for(
        Duration::from_secs(2),
        "example loaded after restart",
        || {
            daemon
                .plugin("example-import")
                .filter(|p| p["status"] == "loaded")
        },
    );
    assert_eq!(
        p["compiled_from_cache"], true,
        "the restart recompiled: {p}"
    );
}

#[test]
fn plugin_check_works_offline_and_explains_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(DROVER)
            .args(args)
            .env_clear()
            .env("HOME", dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "plugin",
        "check",
        drover_guests::EXAMPLE_IMPORT,
        "--manifest",
        drover_guests::EXAMPLE_IMPORT_MANIFEST,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "example-import",
        "0.1.0",
        "import-manifests (world drover:plugin/import-manifests)",
        "drover:plugin@0.1.1",
        "none requested",
        "ok: this daemon would load it",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    // Nothing was written to the (empty) HOME.
    assert!(!dir.path().join(".local").exists());

    // Refusals: non-zero exit with the reason.
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"nope").unwrap();
    std::fs::copy(
        drover_guests::EXAMPLE_IMPORT_MANIFEST,
        dir.path().join("garbage.toml"),
    )
    .unwrap();
    let future = dir.path().join("future-wit.wasm");
    std::fs::copy(drover_guests::FUTURE_WIT, &future).unwrap();
    std::fs::write(
        dir.path().join("future-wit.toml"),
        "name = \"future-wit\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let cases = [
        (garbage.to_str().unwrap(), "not a WebAssembly file"),
        (future.to_str().unwrap(), "incompatible WIT version"),
        (drover_guests::ADVERSARY_V1, "there is no manifest"),
    ];
    for (file, reason) in cases {
        let out = run(&["plugin", "check", file]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{file}: {stderr}");
    }
    // JSON output for scripts.
    let out = run(&["plugin", "check", future.to_str().unwrap(), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("0.9.0"));
}

#[test]
fn without_address_space_for_the_pool_the_daemon_falls_back_and_serves() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("serve.log");
    // 16 GB of address space: too little for the pooling allocator's
    // reservation, plenty for on-demand instances.
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -v 16000000; exec {DROVER} serve --listen 127.0.0.1:0 2>{}",
                log.display()
            ),
        ])
        .env_clear()
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.starts_with("drover listening on "), "{first}");
    let out = Command::new(DROVER)
        .args(["plugin", "ls", "-o", "json"])
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap();
    // The pipe was closed after the first line, like a supervisor that only
    // waits for readiness: the daemon must still be serving.
    let plugins: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(plugins[0]["status"], "loaded", "{plugins}");
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("falling back to on-demand allocation"),
        "{log}"
    );
}

/// The author's path, as the guide gives it: a new crate in an empty
/// directory depending on the SDK by path, built for wasm32-wasip2 with the
/// guide's release profile, checked by `drover plugin check`.
#[test]
fn a_plugin_author_builds_the_example_from_an_empty_directory() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let repo = repo.canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("example-import");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let example = repo.join("examples/example-import");
    std::fs::copy(example.join("src/lib.rs"), krate.join("src/lib.rs")).unwrap();
    std::fs::copy(
        example.join("example-import.toml"),
        krate.join("example-import.toml"),
    )
    .unwrap();
    // The manifest the guide shows, with the SDK where this repository is.
    let manifest = std::fs::read_to_string(example.join("example-import.toml")).unwrap();
    let description = manifest
        .lines()
        .find_map(|l| l.strip_prefix("description = "))
        .unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"example-import\"\nversion = \"0.1.0\"\n\
             description = {description}\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\ndrover-sdk = {{ path = {:?} }}\n\n\
             [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\n\
             strip = true\npanic = \"abort\"\n",
            repo.join("sdk")
        ),
    )
    .unwrap();
    // The repository's lock file pins the same dependency versions.
    std::fs::copy(repo.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = repo.join("target/author-crate");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--target", "wasm32-wasip2", "--release"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the guide's crate does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target.join("wasm32-wasip2/release/example_import.wasm");
    let out = Command::new(DROVER)
        .args(["plugin", "check"])
        .arg(&wasm)
        .arg("--manifest")
        .arg(krate.join("example-import.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok: this daemon would load it"), "{text}");

    // And the SDK is a crate of its own, the WIT inside it.
    let out = Command::new(env!("CARGO"))
        .args(["package", "-p", "drover-sdk", "--list", "--allow-dirty"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["wit/worlds.wit", "wit/import-manifests.wit", "src/lib.rs"] {
        assert!(
            files.lines().any(|l| l == file),
            "{file} not packaged: {files}"
        );
    }
}
