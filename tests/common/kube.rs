//! A Kubernetes API server stand-in on 127.0.0.1: the parts of the real wire
//! protocol the agent reads (`GET /version`, paged `GET /api/v1/nodes`),
//! bearer-token authentication, and `Status` bodies for errors.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct KubeStandIn {
    pub url: String,
    pub kubeconfig: PathBuf,
    /// Requests served (any path).
    pub requests: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct Cluster {
    git_version: String,
    nodes: usize,
    token: String,
    requests: Arc<AtomicU64>,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

fn authorized(c: &Cluster, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", c.token))
}

async fn version(State(c): State<Cluster>, headers: HeaderMap) -> Response {
    c.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&c, &headers) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let minor = c.git_version.split('.').nth(1).unwrap_or("0").to_string();
    axum::Json(json!({
        "major": "1", "minor": minor, "gitVersion": c.git_version,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-06-17T18:00:00Z", "goVersion": "go1.24.4", "compiler": "gc",
        "platform": "linux/amd64",
    }))
    .into_response()
}

async fn list_nodes(
    State(c): State<Cluster>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    c.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&c, &headers) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let start: usize = q.get("continue").and_then(|l| l.parse().ok()).unwrap_or(0);
    let end = start.saturating_add(limit).min(c.nodes);
    let items: Vec<Value> = (start..end)
        .map(|i| {
            json!({
                "metadata": { "name": format!("node-{i}"), "uid": format!("uid-{i}"),
                              "resourceVersion": "1" },
                "status": { "nodeInfo": { "kubeletVersion": c.git_version } },
            })
        })
        .collect();
    let mut metadata = json!({ "resourceVersion": "42" });
    if end < c.nodes {
        metadata["continue"] = json!(end.to_string());
    }
    axum::Json(
        json!({ "kind": "NodeList", "apiVersion": "v1", "metadata": metadata, "items": items }),
    )
    .into_response()
}

impl KubeStandIn {
    /// Serve a cluster of `nodes` nodes at `git_version`; writes a kubeconfig
    /// for it into `dir`.
    pub fn start(dir: &Path, git_version: &str, nodes: usize) -> KubeStandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let cluster = Cluster {
            git_version: git_version.to_string(),
            nodes,
            token: "stand-in-service-account-token".to_string(),
            requests: requests.clone(),
        };
        let token = cluster.token.clone();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/version", axum::routing::get(version))
            .route("/api/v1/nodes", axum::routing::get(list_nodes))
            .fallback(|| async {
                status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })
            .with_state(cluster);
        runtime.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let url = format!("http://{addr}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {url}\n\
                 users:\n- name: agent\n  user:\n    token: {token}\n\
                 contexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: agent\n\
                 current-context: stand-in\n"
            ),
        )
        .unwrap();
        KubeStandIn {
            url,
            kubeconfig,
            requests,
            _runtime: runtime,
        }
    }
}
