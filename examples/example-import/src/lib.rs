//! `example-import`: a small but complete third-party `import-manifests`
//! plugin, written against `drover-sdk` alone.
//!
//! It renders, in apply order, the objects a cluster owner applies to import
//! a cluster: a Namespace, the agent's ServiceAccount, its RBAC, the
//! credentials Secret (whose `token` the daemon fills in — a plugin never
//! sees it), the agent Deployment and a Service. Drover's own, fuller
//! version is `plugins/import-manifests`. `examples/README.md` walks through
//! building, checking and installing it.

use drover_sdk::import_manifests::manifests::{self, Manifest, Rbac, RenderRequest, TlsMode};
use drover_sdk::import_manifests::plugin_info;
use drover_sdk::serde_json::{Value, json};
use drover_sdk::{Error, PluginInfo, log, state};

const AGENT: &str = "drover-agent";

/// `pub`: native builds (tests, clippy) leave out the export below, and the
/// type must not look unused there.
pub struct ExampleImport;

impl plugin_info::Guest for ExampleImport {
    fn info() -> PluginInfo {
        // From Cargo.toml; example-import.toml must say the same.
        drover_sdk::plugin_info!()
    }
}

impl manifests::Guest for ExampleImport {
    fn render(request: RenderRequest) -> Result<Vec<Manifest>, Error> {
        let objects = render_objects(&request)?;
        // Private state survives between calls; every call is a fresh
        // instance. The counter is bookkeeping, not part of the answer: if
        // the store refuses (a quota, say), log it and render all the same.
        let key = format!("renders/{}", request.cluster_id);
        let counted = state::get::<u64>(&key)
            .and_then(|renders| state::set(&key, &(renders.unwrap_or(0) + 1)));
        if let Err(e) = counted {
            log::warn(
                "could not count this render",
                &[
                    ("cluster", &request.cluster_id),
                    ("error", &format!("{e:?}")),
                ],
            );
        }
        log::info(
            "rendered import manifests",
            &[
                ("cluster", &request.cluster_id),
                ("objects", &objects.len().to_string()),
            ],
        );
        Ok(objects.into_iter().map(to_manifest).collect())
    }
}

// Only wasm builds export: on native targets the export names upset the linker.
#[cfg(target_arch = "wasm32")]
drover_sdk::import_manifests::export!(ExampleImport);

fn render_objects(r: &RenderRequest) -> Result<Vec<Value>, Error> {
    let ns = if r.namespace.is_empty() {
        "drover-system"
    } else {
        r.namespace.as_str()
    };
    if !is_dns_label(ns) {
        return Err(Error::InvalidInput(format!(
            "namespace {ns:?} is not a valid Kubernetes namespace name: use lowercase letters, \
             digits and '-'"
        )));
    }
    for (field, value) in [
        ("cluster-id", &r.cluster_id),
        ("credentials.server-url", &r.credentials.server_url),
        ("credentials.secret-name", &r.credentials.secret_name),
        ("agent.image", &r.agent.image),
    ] {
        if value.trim().is_empty() {
            return Err(Error::InvalidInput(format!("{field} is empty")));
        }
    }
    let labels = json!({ "app.kubernetes.io/name": AGENT, "drover.dev/cluster-id": r.cluster_id });
    let meta = |name: &str, namespaced: bool| {
        let mut m = json!({ "name": name, "labels": labels });
        if namespaced {
            m["namespace"] = json!(ns);
        }
        m
    };
    let mut objects = vec![
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, false) }),
        json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(AGENT, true) }),
    ];
    let role = match &r.rbac {
        Rbac::ClusterAdmin => "cluster-admin".to_string(),
        Rbac::Rules(rules) => {
            let rules: Vec<Value> = rules
                .iter()
                .map(|p| json!({ "apiGroups": p.api_groups, "resources": p.resources, "verbs": p.verbs }))
                .collect();
            objects.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": meta(AGENT, false), "rules": rules,
            }));
            AGENT.to_string()
        }
    };
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": meta(AGENT, false),
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": [{ "kind": "ServiceAccount", "name": AGENT, "namespace": ns }],
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": meta(&r.credentials.secret_name, true),
        "stringData": { "url": r.credentials.server_url, "token": "", "namespace": ns },
    }));
    let tls_mode = match r.agent.tls_mode {
        TlsMode::Strict => "strict",
        TlsMode::SystemStore => "system-store",
        TlsMode::Insecure => "insecure",
    };
    // The agent contract (see examples/README.md): the server, the cluster,
    // how to check TLS, and the token as a file from the Secret's `token` key.
    let mut env = vec![
        json!({ "name": "DROVER_SERVER", "value": r.credentials.server_url }),
        json!({ "name": "DROVER_CLUSTER_ID", "value": r.cluster_id }),
        json!({ "name": "DROVER_TLS_MODE", "value": tls_mode }),
        json!({ "name": "DROVER_TOKEN_FILE", "value": "/var/run/secrets/drover/token" }),
    ];
    if let Some(sum) = &r.agent.ca_checksum {
        env.push(json!({ "name": "DROVER_CA_CHECKSUM", "value": sum }));
    }
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(AGENT, true),
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app.kubernetes.io/name": AGENT } },
            "strategy": { "type": "RollingUpdate",
                          "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 } },
            "template": {
                "metadata": { "labels": labels },
                "spec": {
                    "serviceAccountName": AGENT,
                    "securityContext": {
                        "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                        "fsGroup": 65532, "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    // No command or args: the image's entrypoint is `drover agent`.
                    "containers": [{
                        "name": "agent", "image": r.agent.image, "env": env,
                        "ports": [{ "name": "health", "containerPort": 8443 }],
                        "livenessProbe": { "httpGet": { "path": "/healthz", "port": "health" } },
                        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "health" } },
                        "securityContext": {
                            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] },
                        },
                        "volumeMounts": [{ "name": "credentials",
                                           "mountPath": "/var/run/secrets/drover",
                                           "readOnly": true }],
                    }],
                    "volumes": [{ "name": "credentials", "secret": {
                        "secretName": r.credentials.secret_name,
                        "items": [{ "key": "token", "path": "token" }],
                        "defaultMode": 0o440,
                    } }],
                },
            },
        },
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta(AGENT, true),
        "spec": {
            "selector": { "app.kubernetes.io/name": AGENT },
            "ports": [{ "name": "health", "port": 8443, "targetPort": "health" }],
        },
    }));
    Ok(objects)
}

fn to_manifest(object: Value) -> Manifest {
    let metadata = &object["metadata"];
    Manifest {
        api_version: object["apiVersion"].as_str().unwrap_or_default().into(),
        kind: object["kind"].as_str().unwrap_or_default().into(),
        name: metadata["name"].as_str().unwrap_or_default().into(),
        namespace: metadata["namespace"].as_str().map(str::to_string),
        body: object.to_string(),
    }
}

/// A DNS-1123 label: what Kubernetes accepts as a namespace name.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
