//! Importing a cluster end to end: the real daemon (HTTPS with its own CA),
//! the import YAML fetched like `curl` would, and a real `drover agent`
//! process with the environment the Deployment gives it, reading a loopback
//! Kubernetes API stand-in.

mod common;

use common::daemon::{DROVER, Daemon, bearer, send, wait_for};
use common::kube::KubeStandIn;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A daemon beyond loopback (so HTTPS with a generated CA) with `config`.
fn daemon(home: &Path, config: &str, log: &Path) -> Daemon {
    Daemon::start_configured(home, "0.0.0.0:0", config, Some(log))
}

fn cluster(d: &Daemon, name: &str) -> Value {
    d.cli_json(&["cluster", "show", name])
}

/// GET a URL the way `curl --insecure -sfL` does: (status, body).
fn fetch(url: &str) -> (u16, String) {
    send(|c| c.get(url))
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).expect("the import YAML parses")
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

/// How the Deployment runs the agent: its argv and environment, resolved as
/// the kubelet would — the image's entrypoint (from the `Dockerfile`) unless
/// the container sets `command`, then its `args`; the credentials Secret's
/// files mounted where its `volumeMounts` say (in a new directory under
/// `base` standing for the container's file system), and environment values
/// that point into a mount pointing at that copy.
#[derive(Clone)]
struct AgentSpec {
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// The image's entrypoint, read from the repository's `Dockerfile`.
fn image_entrypoint() -> Vec<String> {
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile");
    let text = std::fs::read_to_string(dockerfile).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("the Dockerfile has an ENTRYPOINT");
    serde_json::from_str(line).expect("ENTRYPOINT is in exec (JSON) form")
}

fn agent_spec(docs: &[Value], base: &Path) -> AgentSpec {
    let deployment: Deployment = serde_json::from_value(find(docs, "Deployment").clone()).unwrap();
    let secret: Secret = serde_json::from_value(find(docs, "Secret").clone()).unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let mut argv = container.command.clone().unwrap_or_else(image_entrypoint);
    argv.extend(container.args.clone().unwrap_or_default());
    // The image's binary is this build's.
    assert_eq!(argv[0], "/usr/local/bin/drover", "{argv:?}");
    argv[0] = DROVER.to_string();

    let root = base.join(format!("pod-{:016x}", rand::random::<u64>()));
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for m in container.volume_mounts.clone().unwrap_or_default() {
        let volume = pod
            .volumes
            .as_ref()
            .and_then(|v| v.iter().find(|v| v.name == m.name))
            .unwrap_or_else(|| panic!("no volume {}", m.name));
        let source = volume.secret.as_ref().expect("only Secret volumes");
        assert_eq!(source.secret_name, secret.metadata.name);
        assert_eq!(
            m.read_only,
            Some(true),
            "the credentials are mounted read-only"
        );
        let dir = root.join(m.mount_path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        for item in source.items.clone().unwrap_or_default() {
            let value = &secret.string_data.as_ref().unwrap()[&item.key];
            std::fs::write(dir.join(&item.path), value).unwrap();
        }
        mounts.push((m.mount_path.clone(), dir));
    }
    let env = container
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let value = match (e.value, e.value_from) {
                (Some(v), _) => v,
                (None, Some(from)) => {
                    let r = from.secret_key_ref.expect("only secret references");
                    assert_eq!(Some(r.name), secret.metadata.name);
                    secret.string_data.as_ref().unwrap()[&r.key].clone()
                }
                _ => panic!("env {} has no value", e.name),
            };
            let value = mounts
                .iter()
                .find_map(|(path, dir)| {
                    value
                        .strip_prefix(path.as_str())
                        .map(|rest| format!("{}{rest}", dir.display()))
                })
                .unwrap_or(value);
            (e.name, value)
        })
        .collect();
    AgentSpec { argv, env }
}

impl AgentSpec {
    /// The value of environment variable `key`, if the container sets it.
    fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The token the agent would read: from its token file.
fn token_of(spec: &AgentSpec) -> String {
    let path = spec
        .env("DROVER_TOKEN_FILE")
        .expect("the token comes as a file");
    std::fs::read_to_string(path).unwrap()
}

struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    /// Start the agent as the Deployment says (`spec.argv`, `spec.env`).
    fn start(spec: &AgentSpec, kube: &KubeStandIn, log: PathBuf) -> Agent {
        let child = Command::new(&spec.argv[0])
            .args(&spec.argv[1..])
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DROVER_KUBECONFIG", &kube.kubeconfig)
            .env("DROVER_AGENT_LISTEN", "127.0.0.1:0")
            .env("DROVER_MAX_BACKOFF", "2s")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait for the agent to exit on its own; returns its log.
    fn exits(mut self) -> (std::process::ExitStatus, String) {
        let status = wait_for(Duration::from_secs(20), "the agent to exit", || {
            self.child.try_wait().unwrap()
        });
        (status, self.log())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_status(d: &Daemon, name: &str, want: &str, limit: Duration) -> Value {
    wait_for(limit, &format!("cluster {name} to be {want}"), || {
        let c = cluster(d, name);
        (c["status"] == want).then_some(c)
    })
}

#[test]
fn an_imported_cluster_goes_active_then_disconnected_then_active_again() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("daemon.log");
    let d = daemon(home.path(), "[import]\ndisconnect_after = \"2s\"\n", &log);
    let kube = KubeStandIn::start(home.path(), "v1.33.2", 7);

    // The operator adds the cluster and prints its import command.
    let out = d.cli(&["cluster", "add", "edge-1"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("https://") && w.ends_with(".yaml"))
        .unwrap_or_else(|| panic!("no import URL in {text}"))
        .to_string();
    assert!(text.contains(&format!("kubectl apply -f {url}")), "{text}");
    assert!(
        text.contains(&format!("curl --insecure -sfL {url} | kubectl apply -f -")),
        "a self-signed CA gets the curl variant: {text}"
    );
    assert!(text.contains("CA checksum"), "{text}");
    assert_eq!(cluster(&d, "edge-1")["status"], "pending");

    // The cluster owner fetches the YAML like curl would.
    let (status, yaml) = fetch(&url);
    assert_eq!(status, 200, "{yaml}");
    let docs = documents(&yaml);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
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
    let env = agent_spec(&docs, home.path());
    let ca = d.cli_json(&["ca"]);
    assert_eq!(env.env("DROVER_CA_CHECKSUM"), ca["ca_checksum"].as_str());
    assert_eq!(env.env("DROVER_TLS_MODE"), Some("strict"));
    assert_eq!(env.env("DROVER_SERVER"), Some(d.url.as_str()));
    assert!(
        env.env("DROVER_TOKEN").is_none(),
        "the token is not in the environment"
    );
    let token = token_of(&env);
    assert!(url.contains(&token), "the Secret carries the URL's token");

    // The agent runs with exactly that environment and checks in.
    let agent = Agent::start(&env, &kube, home.path().join("agent.log"));
    let active = wait_status(&d, "edge-1", "active", Duration::from_secs(20));
    assert_eq!(active["kubernetes_version"], "v1.33.2");
    assert_eq!(active["node_count"], 7);
    assert_eq!(active["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(active["last_heartbeat_at"].as_i64().is_some());
    let table = String::from_utf8_lossy(&d.cli(&["cluster", "ls"]).stdout).to_string();
    let row = table.lines().find(|l| l.starts_with("edge-1")).unwrap();
    assert!(row.contains("active") && row.contains("v1.33.2"), "{table}");
    // Heartbeats keep it fresh.
    let first = active["last_heartbeat_at"].as_i64().unwrap();
    wait_for(Duration::from_secs(5), "a later heartbeat", || {
        (cluster(&d, "edge-1")["last_heartbeat_at"].as_i64().unwrap() > first).then_some(())
    });
    assert!(
        agent.log().contains("registered; heartbeating"),
        "{}",
        agent.log()
    );
    drop(agent);

    // No heartbeats for the disconnect timeout: Disconnected.
    wait_status(&d, "edge-1", "disconnected", Duration::from_secs(10));
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("stopped checking in"),
        "the daemon logs the disconnect"
    );
    // The agent restarts (a new pod): Active again with the same token.
    let _agent = Agent::start(&env, &kube, home.path().join("agent2.log"));
    wait_status(&d, "edge-1", "active", Duration::from_secs(20));

    // The token itself never reaches the daemon's log or the audit log; its id does.
    let daemon_log = std::fs::read_to_string(&log).unwrap();
    assert!(!daemon_log.contains(&token), "token in the daemon log");
    let audit = String::from_utf8_lossy(&d.cli(&["audit", "-o", "json"]).stdout).to_string();
    assert!(!audit.contains(&token), "token in the audit log");
    assert!(
        audit.contains(&format!("import-token:{}", &token[..12])),
        "{audit}"
    );
    assert!(kube.requests.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[test]
fn an_agent_refuses_a_server_whose_ca_does_not_match_the_checksum() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("daemon.log");
    let d = daemon(home.path(), "", &log);
    let kube = KubeStandIn::start(home.path(), "v1.33.2", 1);
    let created = d.cli_json(&["cluster", "add", "tampered"]);
    let (_, yaml) = fetch(created["command"]["url"].as_str().unwrap());
    let mut env = agent_spec(&documents(&yaml), home.path());
    for (k, v) in env.env.iter_mut() {
        if k == "DROVER_CA_CHECKSUM" {
            *v = "0".repeat(64);
        }
    }
    let agent = Agent::start(&env, &kube, home.path().join("agent.log"));
    let (status, text) = agent.exits();
    assert!(!status.success());
    assert!(
        text.contains(&format!("but DROVER_CA_CHECKSUM is {}", "0".repeat(64))),
        "{text}"
    );
    assert!(
        text.contains("refusing to send the registration token"),
        "{text}"
    );
    // The token was never presented: nothing registered, nothing used.
    let c = cluster(&d, "tampered");
    assert_eq!(c["status"], "pending");
    assert!(c["tokens"][0]["last_used_at"].is_null(), "{c}");
}

#[test]
fn tokens_expire_are_revoked_and_belong_to_one_cluster() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("daemon.log");
    // Heartbeats every 500 ms, so a revoked agent learns of it quickly.
    let d = daemon(home.path(), "[import]\ndisconnect_after = \"2s\"\n", &log);
    let kube = KubeStandIn::start(home.path(), "v1.34.1", 3);

    // A short-lived token serves until it expires, then 404 with no YAML.
    let short = d.cli_json(&["cluster", "add", "short", "--ttl", "2s"]);
    let url = short["command"]["url"].as_str().unwrap().to_string();
    let (status, yaml) = fetch(&url);
    assert_eq!(status, 200);
    let short_env = agent_spec(&documents(&yaml), home.path());
    std::thread::sleep(Duration::from_millis(2200));
    let (status, body) = fetch(&url);
    assert_eq!(status, 404);
    assert!(!body.contains("apiVersion"), "{body}");
    // …and an agent that never registered cannot start with it either.
    let (status, text) = Agent::start(&short_env, &kube, home.path().join("a0.log")).exits();
    assert!(!status.success());
    assert!(text.contains("expired"), "{text}");

    // Unknown, malformed and revoked tokens all get 404.
    let a = d.cli_json(&["cluster", "add", "alpha"]);
    let b = d.cli_json(&["cluster", "add", "beta"]);
    let a_url = a["command"]["url"].as_str().unwrap().to_string();
    let base = a_url.split("/import/").next().unwrap().to_string();
    for bad in [
        format!("{base}/import/{}.yaml", "0".repeat(52)),
        format!("{base}/import/not-a-token.yaml"),
        format!(
            "{base}/import/{}",
            a_url.rsplit('/').next().unwrap().trim_end_matches(".yaml")
        ),
        format!("{base}/import/{}.yaml", "é".repeat(26)),
    ] {
        let (status, body) = fetch(&bad);
        assert_eq!(status, 404, "{bad}: {body}");
        assert!(!body.contains("apiVersion"));
    }
    let (status, a_yaml) = fetch(&a_url);
    assert_eq!(status, 200);
    let a_env = agent_spec(&documents(&a_yaml), home.path());

    // Alpha's token cannot register beta.
    let mut as_beta = a_env.clone();
    for (k, v) in as_beta.env.iter_mut() {
        if k == "DROVER_CLUSTER_ID" {
            *v = b["cluster"]["id"].as_str().unwrap().to_string();
        }
    }
    let (status, text) = Agent::start(&as_beta, &kube, home.path().join("a1.log")).exits();
    assert!(!status.success());
    assert!(text.contains("another cluster"), "{text}");
    assert_eq!(cluster(&d, "beta")["status"], "pending");
    assert_eq!(cluster(&d, "alpha")["status"], "pending");

    // Alpha's own agent registers; then its token is revoked: the URL is
    // gone and the running agent is refused at its next heartbeat.
    let agent = Agent::start(&a_env, &kube, home.path().join("a2.log"));
    let active = wait_status(&d, "alpha", "active", Duration::from_secs(20));
    assert_eq!(active["kubernetes_version"], "v1.34.1");
    assert_eq!(active["node_count"], 3);
    let token_id = a["command"]["token_id"].as_str().unwrap();
    let tokens = d.cli_json(&["import", "tokens", "alpha"]);
    assert_eq!(tokens[0]["id"], token_id);
    assert!(tokens[0]["registered_at"].as_i64().is_some());
    let revoked = d.cli_json(&["import", "revoke", token_id]);
    assert!(revoked["revoked_at"].as_i64().is_some());
    assert_eq!(fetch(&a_url).0, 404);
    let (status, text) = agent.exits();
    assert!(!status.success());
    assert!(text.contains("unknown or revoked"), "{text}");

    // Check-ins without a token, or with garbage, are 401 with a reason;
    // revoking an unknown token id says so.
    let body = json!({ "cluster_id": a["cluster"]["id"] });
    let register = format!("{base}/agent/v1/register");
    let (status, reply) = post(&register, None, &body);
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DROVER_TOKEN")
    );
    let (status, reply) = post(&register, Some(&"0".repeat(52)), &body);
    assert_eq!(status, 401, "{reply}");
    let out = d.cli(&["import", "revoke", "ffffffffffff"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no registration token"));
}

/// POST JSON as the agent would (without verifying the server): (status, body).
fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let (status, reply) = send(|c| bearer(c.post(url).json(body), token));
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

/// The import YAML with what changes from run to run replaced by names.
fn normalized(d: &Daemon, created: &Value) -> (String, Vec<Value>) {
    let (status, yaml) = fetch(created["command"]["url"].as_str().unwrap());
    assert_eq!(status, 200, "{yaml}");
    let docs = documents(&yaml);
    let secret = find(&docs, "Secret")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let token = find(&docs, "Secret")["stringData"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let checksum = d.cli_json(&["ca"])["ca_checksum"]
        .as_str()
        .unwrap()
        .to_string();
    let text = yaml
        .replace(&checksum, "CA-CHECKSUM")
        .replace(&token, "REGISTRATION-TOKEN")
        .replace(&secret, "drover-credentials-HASH")
        .replace(created["cluster"]["id"].as_str().unwrap(), "c-CLUSTER-ID")
        .replace(&d.url, "https://drover.example.com:7600");
    (text, docs)
}

/// The manifests pass `kubernetes-validate --strict` (no field Kubernetes
/// does not know) and the agent's pod is admitted under Pod Security
/// `restricted`.
fn valid_and_restricted(variant: &str, yaml: &str, docs: &[Value]) {
    let tool = std::env::var("DROVER_KUBERNETES_VALIDATE")
        .unwrap_or_else(|_| "kubernetes-validate".into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{variant}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(&tool)
        .args(["--strict", "--kubernetes-version", "1.33.0", "--no-warn"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubernetes-validate ({tool}) is not installed ({e}): run the suite with \
                 ./dev test, which installs it, or set DROVER_KUBERNETES_VALIDATE"
            )
        });
    assert!(
        out.status.success(),
        "{variant}: kubernetes-validate --strict refused the manifests:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pod = &find(docs, "Deployment")["spec"]["template"]["spec"];
    let violations = common::pss::restricted_violations(pod);
    assert!(
        violations.is_empty(),
        "{variant}: Pod Security restricted would refuse the agent: {violations:?}"
    );
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(format!("{name}.yaml"));
    if std::env::var_os("DROVER_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with DROVER_UPDATE_GOLDEN=1 to write it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "the import YAML for {name} differs from {}; if the change is intended, rerun with \
         DROVER_UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

#[test]
fn import_options_change_the_manifests_as_documented() {
    let home = tempfile::tempdir().unwrap();
    let d = daemon(
        home.path(),
        "[import]\nagent_image = \"registry.example.com/drover:1.2.3\"\n",
        &home.path().join("daemon.log"),
    );

    // Defaults: drover-system, cluster-admin, the configured image, strict TLS.
    let created = d.cli_json(&["cluster", "add", "plain"]);
    let (text, docs) = normalized(&d, &created);
    golden("import-default", &text);
    valid_and_restricted("default", &text, &docs);
    let binding = find(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert!(docs.iter().all(|d| d["kind"] != "ClusterRole"));
    let deployment: Deployment = serde_json::from_value(find(&docs, "Deployment").clone()).unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.example.com/drover:1.2.3")
    );
    assert!(
        pod.containers[0]
            .env
            .as_ref()
            .unwrap()
            .iter()
            .all(|e| !e.name.ends_with("PROXY"))
    );

    // Proxy, image, namespace and scheduling options.
    let created = d.cli_json(&[
        "cluster",
        "add",
        "proxied",
        "--namespace",
        "ops-agents",
        "--http-proxy",
        "http://proxy.corp:3128",
        "--https-proxy",
        "http://proxy.corp:3128",
        "--no-proxy",
        "10.0.0.0/8,.svc,.cluster.local",
        "--image",
        "mirror.corp/drover:9.9.9",
        "--pull-policy",
        "always",
        "--image-pull-secret",
        "regcred",
        "--toleration",
        "dedicated=infra:NoSchedule",
        "--cpu-request",
        "50m",
        "--memory-limit",
        "128Mi",
        "--priority-class",
        "system-cluster-critical",
    ]);
    let (text, docs) = normalized(&d, &created);
    golden("import-proxy-image", &text);
    valid_and_restricted("proxy-image", &text, &docs);
    for doc in &docs {
        if doc["kind"] != "Namespace" && !doc["kind"].as_str().unwrap().starts_with("Cluster") {
            assert_eq!(doc["metadata"]["namespace"], "ops-agents", "{doc}");
        }
    }
    let deployment: Deployment = serde_json::from_value(find(&docs, "Deployment").clone()).unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("mirror.corp/drover:9.9.9"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    let env: Vec<(String, Option<String>)> = c
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    for (k, v) in [
        ("HTTP_PROXY", "http://proxy.corp:3128"),
        ("HTTPS_PROXY", "http://proxy.corp:3128"),
        ("NO_PROXY", "10.0.0.0/8,.svc,.cluster.local"),
    ] {
        assert!(
            env.contains(&(k.to_string(), Some(v.to_string()))),
            "{k} in {env:?}"
        );
    }
    assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "regcred");
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    // The control-plane taints are tolerated by default; the option adds to them.
    let tolerated: Vec<String> = pod
        .tolerations
        .unwrap()
        .into_iter()
        .filter_map(|t| t.key)
        .collect();
    assert_eq!(
        tolerated,
        [
            "node-role.kubernetes.io/control-plane",
            "node-role.kubernetes.io/master",
            "dedicated"
        ]
    );

    // Narrower RBAC: read-only, and the operator's own rules.
    let created = d.cli_json(&["cluster", "add", "reader", "--rbac", "read-only"]);
    let (text, docs) = normalized(&d, &created);
    golden("import-read-only", &text);
    valid_and_restricted("read-only", &text, &docs);
    let role: ClusterRole = serde_json::from_value(find(&docs, "ClusterRole").clone()).unwrap();
    let rules = role.rules.unwrap();
    // Everything readable but Secrets, as the built-in `view` role.
    for rule in &rules {
        assert_eq!(rule.verbs, ["get", "list", "watch"]);
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        assert!(!groups.iter().any(|g| g == "*"), "{rule:?}");
        if groups.iter().any(|g| g.is_empty()) {
            assert!(
                !resources.iter().any(|r| r == "secrets" || r == "*"),
                "{rule:?}"
            );
            assert!(resources.iter().any(|r| r == "nodes"), "{rule:?}");
        }
    }
    assert_eq!(
        find(&docs, "ClusterRoleBinding")["roleRef"]["name"],
        "drover-agent"
    );
    let rules_file = home.path().join("rules.yaml");
    std::fs::write(
        &rules_file,
        "- apiGroups: [\"\"]\n  resources: [nodes, namespaces]\n  verbs: [get, list]\n",
    )
    .unwrap();
    let created = d.cli_json(&[
        "cluster",
        "add",
        "custom",
        "--rbac",
        "custom",
        "--rbac-rules",
        rules_file.to_str().unwrap(),
    ]);
    let (text, docs) = normalized(&d, &created);
    valid_and_restricted("custom", &text, &docs);
    let role: ClusterRole = serde_json::from_value(find(&docs, "ClusterRole").clone()).unwrap();
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].resources.as_deref().unwrap(),
        ["nodes", "namespaces"]
    );
    assert_eq!(rules[0].verbs, ["get", "list"]);

    // Bad settings are refused with the reason, and nothing is stored.
    for (args, reason) in [
        (
            vec!["cluster", "add", "bad1", "--namespace", "Bad_NS"],
            "namespace",
        ),
        (
            vec!["cluster", "add", "bad2", "--rbac", "custom"],
            "no rules",
        ),
        (
            vec!["cluster", "add", "bad3", "--toleration", "dedicated"],
            "KEY[=VALUE]:EFFECT",
        ),
        (
            vec!["cluster", "add", "Bad_Name"],
            "not a valid cluster name",
        ),
        (vec!["cluster", "add", "plain"], "already exists"),
        (
            vec!["cluster", "add", "bad4", "--ttl", "soon"],
            "not a duration",
        ),
    ] {
        let out = d.cli(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    let names: Vec<Value> = d
        .cli_json(&["cluster", "ls"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, ["custom", "plain", "proxied", "reader"]);

    // Removing a cluster takes its tokens with it: its URL is gone.
    let url = d.cli_json(&["import", "command", "plain"])["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fetch(&url).0, 200);
    let removed = d.cli_json(&["cluster", "rm", "plain"]);
    assert_eq!(removed["name"], "plain");
    assert_eq!(fetch(&url).0, 404);
    assert!(!d.cli(&["cluster", "show", "plain"]).status.success());
}

#[test]
fn an_agent_backs_off_while_the_server_is_down_and_registers_when_it_returns() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("daemon.log");
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("0.0.0.0:{port}");
    let config = "[import]\ndisconnect_after = \"2s\"\n";
    let d = Daemon::start_configured(home.path(), &listen, config, Some(&log));
    let kube = KubeStandIn::start(home.path(), "v1.33.2", 2);
    let created = d.cli_json(&["cluster", "add", "patient"]);
    let (_, yaml) = fetch(created["command"]["url"].as_str().unwrap());
    let env = agent_spec(&documents(&yaml), home.path());
    assert!(d.stop().success());

    // The server is down: the agent retries, waiting longer each time.
    let agent = Agent::start(&env, &kube, home.path().join("agent.log"));
    wait_for(
        Duration::from_secs(15),
        "two retries in the agent's log",
        || {
            let text = agent.log();
            (text.contains("retrying in 1s") && text.contains("retrying in 2s")).then_some(())
        },
    );
    assert!(agent.log().contains("cannot reach"), "{}", agent.log());

    // The server comes back on the same address: the agent registers.
    let d = Daemon::start_configured(home.path(), &listen, config, Some(&log));
    let active = wait_status(&d, "patient", "active", Duration::from_secs(20));
    assert_eq!(active["node_count"], 2);
}

#[test]
fn an_unhardened_pod_is_refused_and_a_hardened_one_admitted() {
    let plain = serde_json::json!({ "containers": [{ "name": "a", "image": "x" }] });
    let v = common::pss::restricted_violations(&plain);
    assert!(
        v.iter().any(|m| m.contains("allowPrivilegeEscalation")),
        "{v:?}"
    );
    assert!(v.iter().any(|m| m.contains("seccomp")), "{v:?}");
    assert!(v.iter().any(|m| m.contains("drop ALL")), "{v:?}");
    assert!(v.iter().any(|m| m.contains("runAsNonRoot")), "{v:?}");
    let hardened = serde_json::json!({
        "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
        "containers": [{
            "name": "a",
            "image": "x",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": { "drop": ["ALL"] },
            },
        }],
        "volumes": [{ "name": "s", "secret": { "secretName": "s" } }],
    });
    assert_eq!(
        common::pss::restricted_violations(&hardened),
        Vec::<String>::new()
    );
    let host = serde_json::json!({
        "hostNetwork": true,
        "containers": [],
        "volumes": [{ "name": "h", "hostPath": { "path": "/" } }],
    });
    assert_eq!(
        common::pss::restricted_violations(&host).len(),
        3,
        "{:?}",
        common::pss::restricted_violations(&host)
    );
}

#[test]
fn the_example_plugins_manifests_start_a_working_agent() {
    // An operator selects another import plugin with `[import] plugin`.
    let home = tempfile::tempdir().unwrap();
    let plugins = home.path().join(".local/share/drover/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    common::install_plugin(
        &plugins,
        "example-import",
        drover_guests::EXAMPLE_IMPORT,
        &std::fs::read_to_string(drover_guests::EXAMPLE_IMPORT_MANIFEST).unwrap(),
    );
    let log = home.path().join("daemon.log");
    let d = daemon(home.path(), "[import]\nplugin = \"example-import\"\n", &log);
    let kube = KubeStandIn::start(home.path(), "v1.33.2", 4);
    let created = d.cli_json(&["cluster", "add", "example"]);
    let (status, yaml) = fetch(created["command"]["url"].as_str().unwrap());
    assert_eq!(status, 200, "{yaml}");
    let docs = documents(&yaml);
    // The example's own manifests, with the contract's token file.
    let deployment = find(&docs, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["name"],
        "agent"
    );
    valid_and_restricted("example", &yaml, &docs);
    // Started exactly as the Deployment says (image entrypoint, args, env,
    // mounted token), the agent registers.
    let spec = agent_spec(&docs, home.path());
    let agent = Agent::start(&spec, &kube, home.path().join("agent.log"));
    let active = wait_status(&d, "example", "active", Duration::from_secs(20));
    assert_eq!(active["node_count"], 4, "{}", agent.log());
}
