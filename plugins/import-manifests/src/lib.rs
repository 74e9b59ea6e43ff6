//! `import-manifests`: Drover's first-party plugin for the `import-manifests`
//! world, bundled with the daemon and installed on its first start.
//!
//! Given a [`RenderRequest`], it renders, in the order they must be applied:
//!
//! 1. the agent's `Namespace` (`drover-system` unless the request names one),
//! 2. the `drover-agent` `ServiceAccount`,
//! 3. RBAC: a `ClusterRoleBinding` to the built-in `cluster-admin`, or a
//!    `ClusterRole` with exactly the requested rules plus its binding,
//! 4. the credentials `Secret` (its `token` key left empty: the daemon fills
//!    it in; the plugin never sees the token),
//! 5. the `drover-agent` `Deployment`,
//! 6. the `drover-agent` `Service`.
//!
//! It depends on nothing but `drover-sdk`, like any third-party plugin.

use drover_sdk::import_manifests::exports::drover::plugin::manifests::{
    self, AgentSettings, Manifest, PolicyRule, PullPolicy, Rbac, RenderRequest, Resources, TlsMode,
    Toleration,
};
use drover_sdk::import_manifests::exports::drover::plugin::plugin_info;
use drover_sdk::serde_json::{Map, Value, json};
use drover_sdk::{Error, PluginInfo, log, state};

/// Namespace used when the request leaves it empty.
const DEFAULT_NAMESPACE: &str = "drover-system";
/// Name of the agent's ServiceAccount, RBAC objects, Deployment and Service.
const AGENT: &str = "drover-agent";
/// Port of the agent's `/healthz` and `/readyz` (plain HTTP, inside the
/// cluster), in the container and on the Service.
const AGENT_PORT: u16 = 8443;
/// Name of that container port; the Service and the probes target it by name.
const AGENT_PORT_NAME: &str = "health";
/// The user and group the agent runs as (the image's own non-root user).
const AGENT_UID: i64 = 65532;
/// Where the credentials Secret's `token` key is mounted, read-only.
const TOKEN_DIR: &str = "/var/run/secrets/drover";
/// Requests and limits when the request sets none: the agent idles at a
/// few MiB and a sliver of a core.
fn default_resources() -> Resources {
    Resources {
        cpu_request: Some("10m".into()),
        memory_request: Some("32Mi".into()),
        cpu_limit: Some("500m".into()),
        memory_limit: Some("128Mi".into()),
    }
}
/// Taints the agent tolerates by default, so a cluster of only control-plane
/// nodes can run it.
const CONTROL_PLANE_TAINTS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];
const RBAC_API_GROUP: &str = "rbac.authorization.k8s.io";

/// The plugin. `pub` so that native builds, which leave out the component
/// exports, still count its trait implementations as used.
pub struct ImportManifests;

impl plugin_info::Guest for ImportManifests {
    fn info() -> PluginInfo {
        // name, version and description from Cargo.toml; import-manifests.toml
        // must say the same.
        drover_sdk::plugin_info!()
    }
}

impl manifests::Guest for ImportManifests {
    fn render(request: RenderRequest) -> Result<Vec<Manifest>, Error> {
        let objects = render_objects(&request)?;
        let manifests: Vec<Manifest> = objects.into_iter().map(to_manifest).collect();

        count_render(&request.cluster_id);
        log::info(
            "rendered import manifests",
            &[
                ("cluster", &request.cluster_id),
                ("objects", &manifests.len().to_string()),
            ],
        );
        Ok(manifests)
    }
}

// Export only when building the component. On native targets (unit tests,
// `cargo build --workspace`) the export names, such as
// `drover:plugin/manifests@0.1.0#render`, break the linker's version script
// (rust-lang/rust#141310), so native builds leave them out.
#[cfg(target_arch = "wasm32")]
drover_sdk::import_manifests::export!(ImportManifests);

/// Bump the per-cluster render counter in the plugin's private state.
///
/// The counter is bookkeeping, not part of the answer: when the store refuses
/// (a quota, say) the render still succeeds and the failure is logged.
fn count_render(cluster_id: &str) {
    let key = format!("renders/{cluster_id}");
    let result =
        state::get::<u64>(&key).and_then(|renders| state::set(&key, &(renders.unwrap_or(0) + 1)));
    if let Err(e) = result {
        log::warn(
            "could not update the render counter",
            &[("cluster", cluster_id), ("error", &format!("{e:?}"))],
        );
    }
}

/// The Kubernetes objects for `request`, in apply order. Pure: no host calls.
fn render_objects(request: &RenderRequest) -> Result<Vec<Value>, Error> {
    validate(request)?;
    let namespace = namespace_of(request);
    let labels = json!({
        "app.kubernetes.io/name": AGENT,
        "drover.dev/cluster-id": request.cluster_id,
    });
    let metadata = |name: &str, namespaced: bool| {
        let mut metadata = json!({ "name": name, "labels": labels });
        if namespaced {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    };

    let mut objects = vec![
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata(namespace, false),
        }),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(AGENT, true),
        }),
    ];

    let role = match &request.rbac {
        Rbac::ClusterAdmin => "cluster-admin",
        Rbac::Rules(rules) => {
            objects.push(json!({
                "apiVersion": format!("{RBAC_API_GROUP}/v1"),
                "kind": "ClusterRole",
                "metadata": metadata(AGENT, false),
                "rules": rules.iter().map(policy_rule).collect::<Vec<_>>(),
            }));
            AGENT
        }
    };
    objects.push(json!({
        "apiVersion": format!("{RBAC_API_GROUP}/v1"),
        "kind": "ClusterRoleBinding",
        "metadata": metadata(AGENT, false),
        "roleRef": { "apiGroup": RBAC_API_GROUP, "kind": "ClusterRole", "name": role },
        "subjects": [{ "kind": "ServiceAccount", "name": AGENT, "namespace": namespace }],
    }));

    objects.push(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(&request.credentials.secret_name, true),
        "type": "Opaque",
        "stringData": {
            "url": request.credentials.server_url,
            // Filled in by the daemon when it serves the manifests.
            "token": "",
            "namespace": namespace,
        },
    }));

    let mut deployment_metadata = metadata(AGENT, true);
    if !request.cluster_name.is_empty() {
        deployment_metadata["annotations"] =
            json!({ "drover.dev/cluster-name": request.cluster_name });
    }
    objects.push(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": deployment_metadata,
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app.kubernetes.io/name": AGENT } },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
            },
            "template": {
                "metadata": { "labels": labels },
                "spec": pod_spec(request),
            },
        },
    }));

    objects.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(AGENT, true),
        "spec": {
            "type": "ClusterIP",
            "selector": { "app.kubernetes.io/name": AGENT },
            "ports": [{
                "name": AGENT_PORT_NAME,
                "port": AGENT_PORT,
                "targetPort": AGENT_PORT_NAME,
                "protocol": "TCP",
            }],
        },
    }));
    Ok(objects)
}

/// The agent pod's spec.
fn pod_spec(request: &RenderRequest) -> Value {
    let agent = &request.agent;
    let container = json!({
        "name": AGENT,
        "image": agent.image,
        "imagePullPolicy": match agent.pull_policy {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        },
        "env": agent_env(request),
        "ports": [{
            "name": AGENT_PORT_NAME,
            "containerPort": AGENT_PORT,
            "protocol": "TCP",
        }],
        // Alive while the process serves; ready once registered with Drover.
        "livenessProbe": {
            "httpGet": { "path": "/healthz", "port": AGENT_PORT_NAME },
            "periodSeconds": 20,
        },
        "readinessProbe": {
            "httpGet": { "path": "/readyz", "port": AGENT_PORT_NAME },
            "periodSeconds": 10,
        },
        // What Pod Security `restricted` asks, and nothing the agent needs.
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "capabilities": { "drop": ["ALL"] },
        },
        "resources": resources(agent),
        "volumeMounts": [{ "name": "credentials", "mountPath": TOKEN_DIR, "readOnly": true }],
    });
    let mut spec = json!({
        "serviceAccountName": AGENT,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": AGENT_UID,
            "runAsGroup": AGENT_UID,
            // The token file belongs to this group, so the agent can read it.
            "fsGroup": AGENT_UID,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "containers": [container],
        // Only the token, as a file only the agent's group can read.
        "volumes": [{
            "name": "credentials",
            "secret": {
                "secretName": request.credentials.secret_name,
                "items": [{ "key": "token", "path": "token" }],
                "defaultMode": 0o440,
            },
        }],
    });
    if !agent.image_pull_secrets.is_empty() {
        spec["imagePullSecrets"] = agent
            .image_pull_secrets
            .iter()
            .map(|name| json!({ "name": name }))
            .collect();
    }
    spec["tolerations"] = CONTROL_PLANE_TAINTS
        .iter()
        .map(|key| json!({ "key": key, "operator": "Exists", "effect": "NoSchedule" }))
        .chain(agent.tolerations.iter().map(toleration))
        .collect();
    if let Some(class) = given(&agent.priority_class) {
        spec["priorityClassName"] = json!(class);
    }
    spec
}

/// The agent container's environment.
fn agent_env(request: &RenderRequest) -> Vec<Value> {
    let agent = &request.agent;
    let var = |name: &str, value: &str| json!({ "name": name, "value": value });
    let mut env = vec![var("DROVER_SERVER", &request.credentials.server_url)];
    if let Some(checksum) = given(&agent.ca_checksum) {
        env.push(var("DROVER_CA_CHECKSUM", checksum));
    }
    env.push(var("DROVER_CLUSTER_ID", &request.cluster_id));
    env.push(var(
        "DROVER_TLS_MODE",
        match agent.tls_mode {
            TlsMode::Strict => "strict",
            TlsMode::SystemStore => "system-store",
            TlsMode::Insecure => "insecure",
        },
    ));
    env.push(var("DROVER_TOKEN_FILE", &format!("{TOKEN_DIR}/token")));
    for (name, value) in [
        ("HTTP_PROXY", &agent.proxy.http_proxy),
        ("HTTPS_PROXY", &agent.proxy.https_proxy),
        ("NO_PROXY", &agent.proxy.no_proxy),
    ] {
        if let Some(value) = given(value) {
            env.push(var(name, value));
        }
    }
    env
}

/// Container resources: what the request sets, or the defaults when it sets
/// none.
fn resources(agent: &AgentSettings) -> Value {
    let defaults;
    let r = match &agent.resources {
        Some(r) => r,
        None => {
            defaults = default_resources();
            &defaults
        }
    };
    let pair = |cpu: &Option<String>, memory: &Option<String>| {
        let mut quantities = Map::new();
        if let Some(cpu) = given(cpu) {
            quantities.insert("cpu".into(), json!(cpu));
        }
        if let Some(memory) = given(memory) {
            quantities.insert("memory".into(), json!(memory));
        }
        quantities
    };
    let mut resources = Map::new();
    let requests = pair(&r.cpu_request, &r.memory_request);
    if !requests.is_empty() {
        resources.insert("requests".into(), Value::Object(requests));
    }
    let limits = pair(&r.cpu_limit, &r.memory_limit);
    if !limits.is_empty() {
        resources.insert("limits".into(), Value::Object(limits));
    }
    Value::Object(resources)
}

fn toleration(t: &Toleration) -> Value {
    let mut out = Map::new();
    for (field, value) in [
        ("key", &t.key),
        ("operator", &t.operator),
        ("value", &t.value),
        ("effect", &t.effect),
    ] {
        if let Some(value) = value {
            out.insert(field.into(), json!(value));
        }
    }
    if let Some(seconds) = t.toleration_seconds {
        out.insert("tolerationSeconds".into(), json!(seconds));
    }
    Value::Object(out)
}

fn policy_rule(rule: &PolicyRule) -> Value {
    json!({
        "apiGroups": rule.api_groups,
        "resources": rule.resources,
        "verbs": rule.verbs,
    })
}

/// A [`Manifest`] for one rendered object; its identity comes from the object.
fn to_manifest(object: Value) -> Manifest {
    let field = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    Manifest {
        api_version: field("/apiVersion").unwrap_or_default().to_string(),
        kind: field("/kind").unwrap_or_default().to_string(),
        name: field("/metadata/name").unwrap_or_default().to_string(),
        namespace: field("/metadata/namespace").map(str::to_string),
        body: object.to_string(),
    }
}

/// An optional string that is set and not empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn namespace_of(request: &RenderRequest) -> &str {
    if request.namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        &request.namespace
    }
}

/// Refuse requests that would render objects Kubernetes rejects.
fn validate(request: &RenderRequest) -> Result<(), Error> {
    let invalid = |message: String| Err(Error::InvalidInput(message));
    if request.cluster_id.is_empty() {
        return invalid(
            "cluster-id is empty: pass the Drover id of the cluster being imported".into(),
        );
    }
    if request.credentials.server_url.is_empty() {
        return invalid(
            "credentials.server-url is empty: pass the URL the agent dials to reach the \
             Drover server, e.g. https://drover.example.com:7600"
                .into(),
        );
    }
    if request.credentials.secret_name.is_empty() {
        return invalid(
            "credentials.secret-name is empty: pass the name for the agent's credentials Secret"
                .into(),
        );
    }
    if !is_dns1123_subdomain(&request.credentials.secret_name) {
        return invalid(format!(
            "credentials.secret-name {:?} is not a valid Secret name: use at most 253 lowercase \
             letters, digits, '-' and '.', starting and ending with a letter or digit",
            request.credentials.secret_name
        ));
    }
    if request.agent.image.is_empty() {
        return invalid(
            "agent.image is empty: pass the agent's image reference, e.g. \
             ghcr.io/example/drover-agent:0.1.0"
                .into(),
        );
    }
    if !request.namespace.is_empty() && !is_dns1123_label(&request.namespace) {
        return invalid(format!(
            "namespace {:?} is not a valid Kubernetes namespace name: use at most 63 lowercase \
             letters, digits and '-', starting and ending with a letter or digit, or leave it \
             empty for {DEFAULT_NAMESPACE}",
            request.namespace
        ));
    }
    if let Rbac::Rules(rules) = &request.rbac {
        for (i, rule) in rules.iter().enumerate() {
            if rule.verbs.is_empty() || rule.resources.is_empty() {
                return invalid(format!(
                    "rbac rule {i} has no {}: every rule needs at least one resource and one \
                     verb, e.g. resources [\"pods\"] and verbs [\"get\", \"list\"]",
                    if rule.verbs.is_empty() {
                        "verbs"
                    } else {
                        "resources"
                    }
                ));
            }
        }
    }
    Ok(())
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric.
fn is_dns1123_label(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(&a), Some(&z)) if alnum(a) && alnum(z))
        && bytes.len() <= 63
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
}

/// A DNS-1123 subdomain: at most 253 characters of dot-separated labels.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_sdk::import_manifests::exports::drover::plugin::manifests::{
        Credentials, Proxy, Resources,
    };

    fn request() -> RenderRequest {
        RenderRequest {
            cluster_id: "c-123".into(),
            cluster_name: "Prod EU".into(),
            namespace: String::new(),
            rbac: Rbac::ClusterAdmin,
            credentials: Credentials {
                server_url: "https://drover.example.com:7600".into(),
                secret_name: "drover-credentials-ab12cd".into(),
            },
            agent: AgentSettings {
                image: "ghcr.io/example/drover-agent:0.1.0".into(),
                pull_policy: PullPolicy::IfNotPresent,
                ca_checksum: None,
                tls_mode: TlsMode::SystemStore,
                proxy: Proxy {
                    http_proxy: None,
                    https_proxy: None,
                    no_proxy: None,
                },
                image_pull_secrets: Vec::new(),
                resources: None,
                tolerations: Vec::new(),
                priority_class: None,
            },
        }
    }

    fn kinds(objects: &[Value]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect()
    }

    fn env(deployment: &Value) -> Vec<(String, Value)> {
        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
            .collect()
    }

    #[test]
    fn renders_the_minimal_request_in_apply_order() {
        let objects = render_objects(&request()).unwrap();
        assert_eq!(
            kinds(&objects),
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRoleBinding",
                "Secret",
                "Deployment",
                "Service"
            ]
        );
        assert_eq!(objects[0]["metadata"]["name"], DEFAULT_NAMESPACE);
        assert_eq!(objects[2]["roleRef"]["name"], "cluster-admin");
        assert_eq!(objects[3]["stringData"]["token"], "");
        assert_eq!(objects[3]["metadata"]["namespace"], DEFAULT_NAMESPACE);

        let deployment = &objects[4];
        let names: Vec<String> = env(deployment).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "DROVER_SERVER",
                "DROVER_CLUSTER_ID",
                "DROVER_TLS_MODE",
                "DROVER_TOKEN_FILE"
            ]
        );
        let pod = &deployment["spec"]["template"]["spec"];
        assert!(pod.get("imagePullSecrets").is_none());
        assert!(pod.get("priorityClassName").is_none());
        // Hardened by default: non-root, read-only, no capabilities, the
        // runtime's seccomp profile, bounded resources, and it fits on a
        // cluster of control-plane nodes.
        let container = &pod["containers"][0];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(
            container["resources"],
            json!({ "requests": { "cpu": "10m", "memory": "32Mi" },
                    "limits": { "cpu": "500m", "memory": "128Mi" } })
        );
        let tolerated: Vec<&str> = pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(tolerated, CONTROL_PLANE_TAINTS);
        // The token is a read-only file from the Secret, not an environment variable.
        assert_eq!(
            env(deployment)[3].1["value"],
            "/var/run/secrets/drover/token"
        );
        assert_eq!(container["volumeMounts"][0]["readOnly"], true);
        assert_eq!(
            pod["volumes"][0]["secret"]["secretName"],
            "drover-credentials-ab12cd"
        );
        assert_eq!(
            pod["volumes"][0]["secret"]["items"],
            json!([{ "key": "token", "path": "token" }])
        );
        assert_eq!(
            objects[5]["spec"]["ports"][0]["targetPort"],
            AGENT_PORT_NAME
        );

        let manifests: Vec<Manifest> = objects.into_iter().map(to_manifest).collect();
        assert_eq!(manifests[0].namespace, None);
        assert_eq!(manifests[4].api_version, "apps/v1");
        assert_eq!(manifests[4].namespace.as_deref(), Some(DEFAULT_NAMESPACE));
    }

    #[test]
    fn renders_every_optional_setting() {
        let r = full_request();
        let objects = render_objects(&r).unwrap();
        assert_every_object_is_its_kubernetes_type(&objects);
        check_full_render(&r, objects);
    }

    /// Each object deserializes into its k8s-openapi type (which checks
    /// apiVersion, kind and every known field's type), and serializing it
    /// back gives the same JSON, so no field is misspelt or misplaced.
    fn assert_every_object_is_its_kubernetes_type(objects: &[Value]) {
        use k8s_openapi::api::{apps, core, rbac};
        fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(o: &Value) {
            let typed: T = drover_sdk::serde_json::from_value(o.clone())
                .unwrap_or_else(|e| panic!("{} does not deserialize: {e}\n{o:#}", o["kind"]));
            let back = drover_sdk::serde_json::to_value(&typed).unwrap();
            assert_eq!(
                &back, o,
                "{} changed in a round trip through its type",
                o["kind"]
            );
        }
        for o in objects {
            match o["kind"].as_str().unwrap() {
                "Namespace" => round_trip::<core::v1::Namespace>(o),
                "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(o),
                "ClusterRole" => round_trip::<rbac::v1::ClusterRole>(o),
                "ClusterRoleBinding" => round_trip::<rbac::v1::ClusterRoleBinding>(o),
                "Secret" => round_trip::<core::v1::Secret>(o),
                "Deployment" => round_trip::<apps::v1::Deployment>(o),
                "Service" => round_trip::<core::v1::Service>(o),
                other => panic!("unexpected kind {other}"),
            }
        }
    }

    #[test]
    fn the_minimal_render_is_typed_kubernetes_too() {
        assert_every_object_is_its_kubernetes_type(&render_objects(&request()).unwrap());
    }

    fn full_request() -> RenderRequest {
        let mut r = request();
        r.namespace = "agents".into();
        r.rbac = Rbac::Rules(vec![PolicyRule {
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            verbs: vec!["get".into()],
        }]);
        r.agent.ca_checksum = Some("ab".repeat(32));
        r.agent.tls_mode = TlsMode::Strict;
        r.agent.proxy.https_proxy = Some("http://proxy:3128".into());
        r.agent.image_pull_secrets = vec!["regcred".into()];
        r.agent.resources = Some(Resources {
            cpu_request: Some("100m".into()),
            memory_request: None,
            cpu_limit: None,
            memory_limit: Some("128Mi".into()),
        });
        r.agent.tolerations = vec![Toleration {
            key: Some("dedicated".into()),
            operator: Some("Exists".into()),
            value: None,
            effect: Some("NoExecute".into()),
            toleration_seconds: Some(30),
        }];
        r.agent.priority_class = Some("system-cluster-critical".into());
        r
    }

    fn check_full_render(r: &RenderRequest, objects: Vec<Value>) {
        let _ = r;
        assert_eq!(
            kinds(&objects),
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Secret",
                "Deployment",
                "Service"
            ]
        );
        assert_eq!(objects[2]["rules"][0]["resources"], json!(["pods"]));
        assert_eq!(objects[3]["roleRef"]["name"], AGENT);
        assert_eq!(objects[3]["subjects"][0]["namespace"], "agents");

        let deployment = &objects[5];
        let env = env(deployment);
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "DROVER_SERVER",
                "DROVER_CA_CHECKSUM",
                "DROVER_CLUSTER_ID",
                "DROVER_TLS_MODE",
                "DROVER_TOKEN_FILE",
                "HTTPS_PROXY"
            ]
        );
        assert_eq!(env[3].1["value"], "strict");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["imagePullSecrets"], json!([{ "name": "regcred" }]));
        // The request's tolerations follow the control-plane ones.
        assert_eq!(pod["tolerations"][2]["tolerationSeconds"], 30);
        assert!(pod["tolerations"][2].get("value").is_none());
        assert_eq!(pod["priorityClassName"], "system-cluster-critical");
        assert_eq!(
            pod["containers"][0]["resources"],
            json!({ "requests": { "cpu": "100m" }, "limits": { "memory": "128Mi" } })
        );
    }

    #[test]
    fn refuses_invalid_requests_saying_what_is_wrong() {
        type Breakage = fn(&mut RenderRequest);
        let cases: [(Breakage, &str); 7] = [
            (|r| r.cluster_id.clear(), "cluster-id is empty"),
            (|r| r.credentials.server_url.clear(), "server-url is empty"),
            (
                |r| r.credentials.secret_name.clear(),
                "secret-name is empty",
            ),
            (
                |r| r.credentials.secret_name = "Bad_Name".into(),
                "Secret name",
            ),
            (|r| r.agent.image.clear(), "agent.image is empty"),
            (|r| r.namespace = "Not.A-Label".into(), "namespace name"),
            (
                |r| {
                    r.rbac = Rbac::Rules(vec![PolicyRule {
                        api_groups: Vec::new(),
                        resources: vec!["pods".into()],
                        verbs: Vec::new(),
                    }])
                },
                "no verbs",
            ),
        ];
        for (break_it, expected) in cases {
            let mut r = request();
            break_it(&mut r);
            match render_objects(&r) {
                Err(Error::InvalidInput(message)) => {
                    assert!(message.contains(expected), "{message}")
                }
                other => panic!("expected invalid-input with {expected:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "drover-system", "x1", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }
}
