//! The daemon's backbone end to end through the real binary: tokens and
//! roles, bad requests, credentials that never leak, durable operations that
//! survive SIGKILL and drain on SIGTERM, the audit log, metrics, and the
//! OpenAPI document fuzzed by schemathesis.

mod common;

use common::daemon::{Daemon, wait_for};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn json_body(v: &Value) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

/// Every error is `{"error":{"code","message"}}` with a non-empty message.
fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.len() > 10),
        "{body}"
    );
}

#[test]
fn bad_requests_get_a_clear_4xx_and_change_nothing() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let admin = d.token();
    let t = Some(admin.as_str());
    let ct = Some("application/json");

    let (s, b) = d.request("POST", "/v1/tokens", t, ct, Some(b"{\"name\":".to_vec()));
    assert_error(s, &b, 400, "bad-request");
    let (s, b) = d.request(
        "POST",
        "/v1/tokens",
        t,
        ct,
        json_body(&json!({"name": 5, "role": "admin"})),
    );
    assert_error(s, &b, 422, "invalid-input");
    let (s, b) = d.request(
        "POST",
        "/v1/tokens",
        t,
        ct,
        json_body(&json!({"name": "a", "role": "admin", "extra": 1})),
    );
    assert_error(s, &b, 422, "invalid-input");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("extra"),
        "{b}"
    );
    let (s, b) = d.request(
        "POST",
        "/v1/tokens",
        t,
        None,
        json_body(&json!({"name": "a", "role": "admin"})),
    );
    assert_error(s, &b, 415, "unsupported-media-type");
    let big = json!({"name": "x".repeat(200_000), "role": "admin"});
    let (s, b) = d.request("POST", "/v1/tokens", t, ct, json_body(&big));
    assert_error(s, &b, 413, "too-large");
    let (s, b) = d.request(
        "POST",
        "/v1/operations",
        t,
        ct,
        json_body(&json!({"kind": "nope"})),
    );
    assert_error(s, &b, 422, "invalid-input");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("selftest"),
        "{b}"
    );
    let (s, b) = d.request(
        "POST",
        "/v1/operations",
        t,
        ct,
        json_body(&json!({"kind": "selftest", "inputs": {"steps": 0}})),
    );
    assert_error(s, &b, 422, "invalid-input");
    let (s, b) = d.request("GET", "/v1/operations?limit=abc", t, None, None);
    assert_error(s, &b, 400, "bad-request");
    let (s, b) = d.request("GET", "/v1/operations?after=garbage", t, None, None);
    assert_error(s, &b, 422, "invalid-input");
    let (s, b) = d.request("GET", "/v1/operations/op_missing", t, None, None);
    assert_error(s, &b, 404, "not-found");
    let (s, b) = d.request("DELETE", "/v1/plugins", t, None, None);
    assert_error(s, &b, 405, "method-not-allowed");
    let (s, b) = d.request("GET", "/v2/anything", t, None, None);
    assert_error(s, &b, 404, "not-found");
    let (s, b) = d.request(
        "POST",
        "/v1/credentials",
        t,
        ct,
        json_body(&json!({"name": "k", "kind": "kubeconfig"})),
    );
    assert_error(s, &b, 422, "invalid-input");

    // Tokens: missing, wrong, viewer on a mutation, revoked.
    let (s, b) = d.request("GET", "/v1/operations", None, None, None);
    assert_error(s, &b, 401, "unauthenticated");
    let (s, b) = d.request("GET", "/v1/operations", Some("drv_wrong"), None, None);
    assert_error(s, &b, 401, "unauthenticated");
    let (s, created) = d.request(
        "POST",
        "/v1/tokens",
        t,
        ct,
        json_body(&json!({"name": "dash", "role": "viewer"})),
    );
    assert_eq!(s, 201, "{created}");
    let viewer = created["token"].as_str().unwrap().to_string();
    let (s, _) = d.request("GET", "/v1/credentials", Some(&viewer), None, None);
    assert_eq!(s, 200);
    let (s, b) = d.request(
        "POST",
        "/v1/operations",
        Some(&viewer),
        ct,
        json_body(&json!({"kind": "selftest"})),
    );
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = d.request(
        "POST",
        "/v1/tokens",
        t,
        ct,
        json_body(&json!({"name": "dash", "role": "admin"})),
    );
    assert_error(s, &b, 409, "conflict");
    // The CLI says the same, with a non-zero exit.
    let out = d.cli_with_token(&viewer, &["op", "selftest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
    let out = d.cli(&["token", "revoke", "dash"]);
    assert!(out.status.success(), "{out:?}");
    let (s, b) = d.request("GET", "/v1/credentials", Some(&viewer), None, None);
    assert_error(s, &b, 401, "unauthenticated");

    // None of the refused requests stored anything; the viewer's refused
    // mutation is in the audit log as denied.
    let (_, ops) = d.request("GET", "/v1/operations", t, None, None);
    assert_eq!(ops["operations"], json!([]));
    let (_, creds) = d.request("GET", "/v1/credentials", t, None, None);
    assert_eq!(creds["credentials"], json!([]));
    let (_, audit) = d.request("GET", "/v1/audit?token=dash", t, None, None);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the API and the CLI attempt: {audit}");
    assert_eq!(entries[0]["allowed"], false);
    assert_eq!(entries[0]["status"], "403");
    // Probes and metrics stay open.
    assert_eq!(d.request("GET", "/healthz", None, None, None).0, 200);
    let metrics = d.get_text("/metrics", None);
    assert!(
        metrics.contains(
            "drover_api_requests_total{method=\"POST\",route=\"/v1/tokens\",status=\"422\"}"
        ),
        "{metrics}"
    );
}

fn op_detail(d: &Daemon, id: &str) -> Value {
    let admin = d.token();
    let (s, body) = d.request(
        "GET",
        &format!("/v1/operations/{id}"),
        Some(&admin),
        None,
        None,
    );
    assert_eq!(s, 200, "{body}");
    body
}

fn start_selftest(d: &Daemon, steps: u32, step_ms: u64) -> String {
    let admin = d.token();
    let (s, op) = d.request(
        "POST",
        "/v1/operations",
        Some(&admin),
        Some("application/json"),
        json_body(&json!({"kind": "selftest", "inputs": {"steps": steps, "step_ms": step_ms}})),
    );
    assert_eq!(s, 201, "{op}");
    op["id"].as_str().unwrap().to_string()
}

fn messages(detail: &Value) -> Vec<String> {
    detail["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_operation_survives_sigkill_and_completes_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let id = start_selftest(&d, 6, 300);
    // Kill it while step 3 is running.
    wait_for(Duration::from_secs(10), "step 3 running", || {
        let detail = op_detail(&d, &id);
        (detail["steps"][2]["status"] == "in-progress").then_some(())
    });
    d.kill();

    let d = Daemon::start(home.path());
    let out = d.cli(&["op", "watch", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = op_detail(&d, &id);
    assert_eq!(detail["status"], "succeeded");
    let steps = detail["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["status"], "succeeded", "step {i}");
        let expected_attempts = if i == 2 { 2 } else { 1 };
        assert_eq!(s["attempts"], expected_attempts, "step {i}: {s}");
    }
    let log = messages(&detail);
    assert_eq!(
        log.iter().filter(|m| *m == "operation succeeded").count(),
        1,
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|m| m.starts_with("interrupted: the daemon stopped while step 3")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|m| m == "step 3 (wait-3) started (attempt 2)"),
        "{log:#?}"
    );
    for n in 1..=6 {
        let done = format!("step {n} (wait-{n}) succeeded");
        assert_eq!(
            log.iter().filter(|m| **m == done).count(),
            1,
            "{done}: {log:#?}"
        );
    }
    // The listing holds it once.
    let admin = d.token();
    let (_, page) = d.request("GET", "/v1/operations", Some(&admin), None, None);
    assert_eq!(page["operations"].as_array().unwrap().len(), 1);
}

#[test]
fn sigterm_drains_and_the_rest_resumes_on_start() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let id = start_selftest(&d, 4, 400);
    wait_for(Duration::from_secs(10), "step 2 running", || {
        (op_detail(&d, &id)["steps"][1]["status"] == "in-progress").then_some(())
    });
    assert!(d.stop().success(), "SIGTERM exits 0");

    let d = Daemon::start(home.path());
    let out = d.cli(&["op", "watch", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detail = op_detail(&d, &id);
    // The step running at SIGTERM finished during the drain: nothing ran twice.
    for s in detail["steps"].as_array().unwrap() {
        assert_eq!(
            (s["status"].as_str(), s["attempts"].as_u64()),
            (Some("succeeded"), Some(1)),
            "{s}"
        );
    }
    let log = messages(&detail);
    assert!(
        log.iter()
            .any(|m| m.starts_with("paused: the daemon is shutting down")),
        "{log:#?}"
    );
}

#[test]
fn cancel_and_retry() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let id = start_selftest(&d, 5, 500);
    wait_for(Duration::from_secs(10), "running", || {
        (op_detail(&d, &id)["status"] == "in-progress").then_some(())
    });
    let out = d.cli(&["op", "cancel", &id]);
    assert!(out.status.success(), "{out:?}");
    let detail = wait_for(Duration::from_secs(5), "cancelled", || {
        Some(op_detail(&d, &id)).filter(|o| o["status"] == "cancelled")
    });
    assert!(
        messages(&detail)
            .iter()
            .any(|m| m == "cancellation requested by admin")
    );
    // A finished operation cannot be cancelled again.
    let out = d.cli(&["op", "cancel", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("409"),
        "{out:?}"
    );
    // Retry runs the unfinished steps and succeeds.
    let out = d.cli(&["op", "retry", &id]);
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["op", "watch", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let detail = op_detail(&d, &id);
    assert_eq!(detail["status"], "succeeded");
    assert!(
        detail["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "succeeded")
    );
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_never_leak_into_the_database_logs_or_api() {
    const SECRET: &str = "S3cr3t-Client-Value-7f1d2e";
    const PASSPHRASE: &str = "Passphrase-Value-99aa41";
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----PrivateKeyBody-0c0ffee";
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("daemon.log");
    let d = Daemon::start_logging(home.path(), Some(&log));
    std::fs::copy(
        drover_guests::EXAMPLE_IMPORT_MANIFEST,
        d.plugin_dir().join("example-import.toml"),
    )
    .unwrap();
    std::fs::copy(
        drover_guests::EXAMPLE_IMPORT,
        d.plugin_dir().join("example-import.wasm"),
    )
    .unwrap();

    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = Command::new(common::daemon::DROVER);
        c.args(args).env_clear().env("HOME", &d.home);
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let mut cli_output = String::new();
    cli_output += &run(
        &[
            "credential",
            "add",
            "prod",
            "--kind",
            "azure-client-secret",
            "--tenant-id",
            "t-1",
            "--client-id",
            "c-1",
            "--subscription",
            "s-1",
            "--secret-env",
            "AZ_SECRET",
        ],
        &[("AZ_SECRET", SECRET)],
    );
    let key_file = home.path().join("id_ed25519");
    std::fs::write(&key_file, KEY).unwrap();
    cli_output += &run(
        &[
            "credential",
            "add",
            "node-key",
            "--kind",
            "ssh-key",
            "--user",
            "ops",
            "--secret-file",
            key_file.to_str().unwrap(),
            "--passphrase-env",
            "KEY_PASS",
        ],
        &[("KEY_PASS", PASSPHRASE)],
    );
    cli_output += &run(
        &["credential", "rotate", "prod", "--secret-env", "AZ_SECRET"],
        &[("AZ_SECRET", SECRET)],
    );
    // Operations and plugin calls while the credentials exist.
    cli_output += &run(
        &[
            "op",
            "selftest",
            "--steps",
            "2",
            "--step-ms",
            "10",
            "--watch",
        ],
        &[],
    );
    wait_for(Duration::from_secs(2), "example loaded", || {
        d.plugin("example-import")
            .filter(|p| p["status"] == "loaded")
    });
    for args in [
        vec!["credential", "ls"],
        vec!["credential", "show", "prod"],
        vec!["credential", "ls", "-o", "json"],
        vec!["audit", "-o", "json"],
        vec!["op", "ls"],
        vec!["plugin", "ls"],
        vec!["token", "ls"],
    ] {
        cli_output += &run(&args, &[]);
    }
    let admin = d.token();
    let mut api_output = String::new();
    for path in [
        "/v1/credentials",
        "/v1/credentials/prod",
        "/v1/credentials/node-key",
        "/v1/audit",
        "/v1/operations",
        "/v1/plugins",
        "/v1/tokens",
        "/metrics",
        "/openapi.json",
    ] {
        api_output += &d.get_text(path, Some(&admin));
    }
    // The credentials are there, described without their secrets.
    assert!(api_output.contains("\"client_id\":\"c-1\""), "{api_output}");
    assert!(api_output.contains("\"user\":\"ops\""), "{api_output}");
    assert!(d.stop().success());

    let data = all_bytes(&home.path().join(".local/share/drover"));
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("drover is serving"), "the log was captured");
    for secret in [SECRET, PASSPHRASE, "PrivateKeyBody-0c0ffee"] {
        assert!(
            !contains(&data, secret),
            "{secret} found in the data directory"
        );
        assert!(!logs.contains(secret), "{secret} found in the log");
        assert!(
            !api_output.contains(secret),
            "{secret} found in an API response"
        );
        assert!(!cli_output.contains(secret), "{secret} found in CLI output");
    }
}

#[test]
fn schemathesis_finds_no_server_errors_and_no_schema_violations() {
    let st = std::env::var("DROVER_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let version = Command::new(&st).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis ({st}) is not installed: run the suite with ./dev test, which installs it, \
         or set DROVER_SCHEMATHESIS to its `st` executable"
    );
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let admin = d.token();
    let out = Command::new(&st)
        .args([
            "run",
            &format!("{}/openapi.json", d.url),
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--header",
            &format!("Authorization: Bearer {admin}"),
            "--request-timeout",
            "10",
            "--no-color",
        ])
        .env(
            "SCHEMATHESIS_HOOKS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis_hooks.py"),
        )
        // It keeps a cache in its working directory: keep that out of the tree.
        .current_dir(home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // The daemon is still healthy afterwards.
    assert_eq!(d.request("GET", "/healthz", None, None, None).0, 200);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn beyond_loopback_the_api_is_https_with_a_generated_ca() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(home.path(), &["--listen", "0.0.0.0:0"], None);
    assert!(d.url.starts_with("https://localhost:"), "{}", d.url);
    let ca_pem = std::fs::read(d.data_dir().join("tls/ca.pem")).unwrap();
    // The CLI trusts the local daemon's CA and reports its checksum.
    let out = d.cli(&["ca", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let ca: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ca["mode"], "self-signed");
    assert_eq!(ca["ca_checksum"], sha256_hex(&ca_pem));
    assert!(d.cli(&["plugin", "ls"]).status.success());
    // Plain HTTP to the same port gets nothing; an untrusting client refuses.
    let plain = d.url.replace("https://", "http://");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
        let untrusting = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .build()
            .unwrap();
        assert!(
            untrusting
                .get(format!("{}/healthz", d.url))
                .send()
                .await
                .is_err()
        );
        let trusting = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
            .build()
            .unwrap();
        let r = trusting
            .get(format!("{}/healthz", d.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    // The key files are private; a restart keeps the same CA.
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca.key", "server.key"] {
        let mode = std::fs::metadata(d.data_dir().join("tls").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert!(d.stop().success());
    let d = Daemon::start_with(home.path(), &["--listen", "0.0.0.0:0"], None);
    let out = d.cli(&["ca", "-o", "json"]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["ca_checksum"], ca["ca_checksum"]);
    // A new server certificate (e.g. for new names) is signed by the same CA.
    assert!(d.stop().success());
    let tls = home.path().join(".local/share/drover/tls");
    std::fs::remove_file(tls.join("server.pem")).unwrap();
    std::fs::remove_file(tls.join("server.key")).unwrap();
    let d = Daemon::start_with(home.path(), &["--listen", "0.0.0.0:0"], None);
    assert!(tls.join("server.pem").exists());
    let out = d.cli(&["ca", "-o", "json"]);
    assert!(
        out.status.success(),
        "the CLI still verifies the daemon: {out:?}"
    );
    let renewed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(renewed["ca_checksum"], ca["ca_checksum"]);
}

#[test]
fn an_operator_certificate_is_served_as_given() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_cert = server
        .signed_by(&server_key, &Issuer::new(ca, ca_key))
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("tls.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(
        dir.join("drover.toml"),
        format!("[tls]\nca = \"{}\"\n", dir.join("ca.pem").display()),
    )
    .unwrap();
    let d = Daemon::start_with(
        dir,
        &[
            "--listen",
            "0.0.0.0:0",
            "--config",
            dir.join("drover.toml").to_str().unwrap(),
            "--tls-cert",
            dir.join("tls.pem").to_str().unwrap(),
            "--tls-key",
            dir.join("tls.key").to_str().unwrap(),
        ],
        None,
    );
    let ca_file = dir.join("ca.pem");
    let out = d.cli(&["ca", "-o", "json", "--ca-file", ca_file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let ca: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ca["mode"], "operator");
    assert_eq!(ca["ca_checksum"], sha256_hex(ca_cert.pem().as_bytes()));
    // The CLI on the daemon's machine trusts the operator's CA the daemon
    // serves with ([tls] ca), without --ca-file.
    let out = d.cli(&["plugin", "ls"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Anywhere else (no local daemon record), it cannot verify the daemon
    // without the CA, and says so.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::daemon::DROVER)
        .args(["plugin", "ls", "--server", &d.url, "--token", &d.token()])
        .env_clear()
        .env("HOME", elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !d.data_dir().join("tls").exists(),
        "no CA is generated when the operator supplies one"
    );
}

#[test]
fn listings_page_without_gaps_or_repeats() {
    let home = tempfile::tempdir().unwrap();
    let d = Daemon::start(home.path());
    let admin = d.token();
    let mut started: Vec<String> = (0..5).map(|_| start_selftest(&d, 1, 0)).collect();
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/v1/operations?limit=2".to_string();
    loop {
        let (s, page) = d.request("GET", &path, Some(&admin), None, None);
        assert_eq!(s, 200, "{page}");
        pages += 1;
        let ops = page["operations"].as_array().unwrap();
        assert!(!ops.is_empty(), "an empty page: {page}");
        seen.extend(ops.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/operations?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    started.sort();
    seen.sort();
    assert_eq!(seen, started);
    // The audit log pages the same way (five POSTs by the admin token).
    let (_, first) = d.request("GET", "/v1/audit?limit=3", Some(&admin), None, None);
    let before = first["next_before"].as_i64().expect("a second page");
    let (_, second) = d.request(
        "GET",
        &format!("/v1/audit?limit=3&before={before}"),
        Some(&admin),
        None,
        None,
    );
    assert_eq!(
        first["entries"].as_array().unwrap().len() + second["entries"].as_array().unwrap().len(),
        5
    );
    assert!(second["next_before"].is_null());
}
