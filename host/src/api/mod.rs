//! The HTTP API: JSON under `/v1/…` behind bearer tokens, the unauthenticated
//! probes `/healthz` and `/readyz`, and `/openapi.json`, generated from the
//! handlers below. Errors are `{"error":{"code","message"}}` with the
//! matching status; bodies are capped and requests time out.

mod aks;
mod audit;
pub mod auth;
mod clusters;
mod credentials;
pub mod error;
mod operations;
mod plugins;
mod tokens;

use crate::metrics::Metrics;
use crate::plugins::Registry;
use crate::secrets::credentials::Credentials;
use crate::store::Store;
use crate::workflows::Operations;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use error::{ApiError, ErrorBody, Json};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use plugins::PluginList;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: Store,
    pub credentials: Credentials,
    pub operations: Operations,
    pub metrics: Metrics,
    pub tls: Arc<TlsInfo>,
    pub imports: Arc<crate::imports::Imports>,
    pub aks: Arc<crate::aks::Aks>,
    /// Set once the initial plugin scan has finished.
    pub ready: Arc<AtomicBool>,
    /// `[api] request_timeout`: how long a request (other than a plugin
    /// call) may take before it is answered 504.
    pub request_timeout: Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Drover API",
        description = "Drover brings Kubernetes clusters under central management through \
                       sandboxed WebAssembly plugins. Every /v1 endpoint needs a bearer token; \
                       `viewer` tokens may only read.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, crate::aks::LookupKind))
)]
struct ApiDoc;

struct BearerAuth;

/// The variants of request enums (`kind`-tagged credentials and operations,
/// `{"custom": …}` RBAC) take no other fields, as serde enforces: say so,
/// so that the document and the server agree on what is valid.
struct ClosedVariants;

impl utoipa::Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for schema in components.schemas.values_mut() {
            if let RefOr::T(Schema::OneOf(one_of)) = schema {
                for item in one_of.items.iter_mut() {
                    if let RefOr::T(Schema::Object(object)) = item {
                        object.additional_properties =
                            Some(Box::new(AdditionalProperties::FreeForm(false)));
                    }
                }
            }
        }
    }
}

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "registration-token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A cluster's registration token (what `drover import command` mints)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The router and its OpenAPI document.
pub fn router(state: AppState) -> Router {
    let router = api(state.clone());
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A handler that panicked (a bug) still answers with the error body.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("an API handler panicked; this is a bug");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the daemon failed to handle the request; its log has the details",
    )
    .into_response()
}

/// The OpenAPI document, built once from the handlers' annotations.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        // Once the routes have added their schemas.
        let mut doc = api_routes(None).split_for_parts().1;
        utoipa::Modify::modify(&ClosedVariants, &mut doc);
        doc
    })
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "probes", responses(
    (status = 200, description = "the OpenAPI 3 document", content_type = "application/json", body = Object),
))]
async fn openapi_json() -> axum::Json<&'static utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}

/// Every route, each `[api] request_timeout` long at most (`None`: no
/// limit, for the document) but those whose work is one plugin call: they
/// are bounded by the plugin's own limits (a wait of at most `timeout_ms`
/// for a slot, then at most `timeout_ms` of running), which the operator
/// sets per plugin.
fn api_routes(limit: Option<Duration>) -> OpenApiRouter<AppState> {
    let plugin_calls = OpenApiRouter::new()
        .routes(routes!(clusters::create))
        .routes(routes!(clusters::manifests))
        .routes(routes!(aks::check_credential))
        .routes(routes!(aks::lookup));
    let v1 = OpenApiRouter::new()
        .routes(routes!(plugins::list))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(credentials::create, credentials::list))
        .routes(routes!(credentials::show, credentials::remove))
        .routes(routes!(credentials::rotate))
        .routes(routes!(operations::start, operations::list))
        .routes(routes!(operations::show))
        .routes(routes!(operations::cancel))
        .routes(routes!(operations::retry))
        .routes(routes!(audit::list))
        .routes(routes!(clusters::list))
        .routes(routes!(clusters::show, clusters::remove))
        .routes(routes!(clusters::import_command))
        .routes(routes!(clusters::tokens))
        .routes(routes!(clusters::revoke))
        .routes(routes!(aks::discover))
        .routes(routes!(aks::inventory))
        .routes(routes!(aks::show))
        .routes(routes!(ca));
    let mut bounded = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(clusters::cacerts))
        .routes(routes!(clusters::register))
        .routes(routes!(clusters::heartbeat))
        .merge(v1);
    if let Some(limit) = limit {
        bounded = bounded.route_layer(axum::middleware::from_fn_with_state(limit, request_timeout));
    }
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(bounded)
        .merge(plugin_calls)
}

fn api(state: AppState) -> Router<AppState> {
    let (router, _) = api_routes(Some(state.request_timeout)).split_for_parts();
    // Authenticate everything under /v1; probes, metrics and the document
    // stay open. Authentication (and the audit of mutations) wraps the
    // timeout, so a request that is cut off is still audited.
    router.route_layer(axum::middleware::from_fn_with_state(
        state,
        require_token_under_v1,
    ))
}

/// Answer 504 with the error body when a request takes longer than
/// `[api] request_timeout`.
async fn request_timeout(
    State(limit): State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Cheap to keep (shared bytes); formatted only if the request is cut off.
    let method = request.method().clone();
    let uri = request.uri().clone();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let what = format!("{method} {}", uri.path());
            tracing::warn!(request = %what, "request cut off at the request timeout");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "the daemon did not finish {what} within {} ([api] request_timeout) and \
                     stopped working on it; try again, and look at the daemon's log if it keeps \
                     happening",
                    humantime::format_duration(limit)
                ),
            )
            .into_response()
        }
    }
}

async fn require_token_under_v1(
    state: State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    if request.uri().path().starts_with("/v1/") {
        auth::require_token(state, request, next).await
    } else {
        Ok(next.run(request).await)
    }
}

/// Prometheus metrics (text exposition format), unauthenticated like the probes.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
))]
async fn metrics(State(state): State<AppState>) -> Response {
    match state.store.op_counts() {
        Ok(counts) => {
            state.metrics.operations.clear();
            for (kind, status, n) in counts {
                state
                    .metrics
                    .operations
                    .get_or_create(&crate::metrics::OpLabels { kind, status })
                    .set(n);
            }
        }
        Err(e) => tracing::error!("cannot count operations for /metrics: {e:#}"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn count_requests(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state
        .metrics
        .api_requests
        .get_or_create(&crate::metrics::RequestLabels {
            method,
            route,
            status: response.status().as_str().to_string(),
        })
        .inc();
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint: see /openapi.json for the API")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not accept that method: see /openapi.json",
    )
}

#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// Liveness: the daemon is up.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the plugin directory has been loaded.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, body = Health),
    (status = 503, description = "still loading plugins", body = ErrorBody),
))]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        Json(Health {
            status: "ready".into(),
        })
        .into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the daemon is still loading its plugins",
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pattern the document shows is the one the server checks with.
    #[test]
    fn the_documented_patterns_are_the_enforced_ones() {
        use crate::imports::options as o;
        let doc = serde_json::to_value(openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let import = &schemas["ImportOptions"]["properties"];
        for (field, pattern) in [
            ("namespace", o::DNS_LABEL),
            ("agent_image", o::IMAGE),
            ("http_proxy", o::PROXY_URL),
            ("https_proxy", o::PROXY_URL),
            ("no_proxy", o::NO_PROXY),
            ("cpu_request", o::QUANTITY),
            ("cpu_limit", o::QUANTITY),
            ("memory_request", o::QUANTITY),
            ("memory_limit", o::QUANTITY),
            ("priority_class", o::DNS_SUBDOMAIN),
        ] {
            assert_eq!(import[field]["pattern"], pattern, "ImportOptions.{field}");
        }
        assert_eq!(
            import["image_pull_secrets"]["items"]["pattern"],
            o::DNS_SUBDOMAIN
        );
        let toleration = &schemas["Toleration"]["properties"];
        assert_eq!(toleration["key"]["pattern"], o::LABEL_KEY);
        assert_eq!(toleration["value"]["pattern"], o::LABEL_VALUE);
        assert_eq!(
            schemas["ClusterCreate"]["properties"]["name"]["pattern"],
            o::DNS_LABEL
        );
        // Every pattern anywhere in the document is one the server checks
        // with: a copy that drifted would not be among them.
        let enforced = [
            o::DNS_LABEL,
            o::DNS_SUBDOMAIN,
            o::QUANTITY,
            o::IMAGE,
            o::PROXY_URL,
            o::NO_PROXY,
            o::LABEL_KEY,
            o::LABEL_VALUE,
            crate::config::OBJECT_NAME_PATTERN,
            crate::text::HAS_TEXT_PATTERN,
            crate::imports::PRINTABLE_PATTERN,
            operations::CURSOR_PATTERN,
        ];
        let mut stack = vec![&doc];
        let mut seen = 0;
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(p)) = m.get("pattern") {
                        assert!(enforced.contains(&p.as_str()), "unknown pattern {p:?}");
                        seen += 1;
                    }
                    stack.extend(m.values());
                }
                serde_json::Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
        assert!(seen > 20, "{seen} patterns");
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_gets_the_error_body() {
        use tower::ServiceExt;
        let app: Router = Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", axum::routing::get(|| async { "ok" }))
            .route_layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(100),
                request_timeout,
            ));
        let request = |path: &str| {
            axum::http::Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let fast = app.clone().oneshot(request("/fast")).await.unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
        let slow = app.oneshot(request("/slow")).await.unwrap();
        assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = axum::body::to_bytes(slow.into_body(), 10_000)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "timeout");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("GET /slow") && message.contains("100ms"),
            "{message}"
        );
    }

    #[test]
    fn every_route_is_documented_with_its_errors() {
        let doc = openapi();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        for p in [
            "/healthz",
            "/readyz",
            "/v1/plugins",
            "/v1/tokens",
            "/v1/credentials",
            "/v1/audit",
            "/v1/operations",
            "/v1/clusters",
            "/v1/clusters/{cluster}/import-command",
            "/import/{file}",
            "/agent/v1/register",
            "/agent/v1/heartbeat",
            "/v1/aks/discover",
            "/v1/aks/clusters",
            "/v1/aks/lookups/{kind}",
        ] {
            assert!(
                paths.iter().any(|x| x.as_str() == p),
                "{p} missing from {paths:?}"
            );
        }
    }
}

/// What `/v1/ca` reports.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema, Clone)]
pub struct TlsInfo {
    pub mode: crate::tls::TlsMode,
    /// sha256 (hex) of the CA certificate's PEM; agents pin it.
    pub ca_checksum: Option<String>,
    /// The CA certificate, PEM.
    pub ca_pem: Option<String>,
}

/// How the API is served and the CA agents pin.
#[utoipa::path(get, path = "/v1/ca", tag = "tls", security(("bearer" = [])), responses(
    (status = 200, body = TlsInfo), (status = 401, body = ErrorBody),
))]
async fn ca(State(state): State<AppState>) -> Json<TlsInfo> {
    Json(state.tls.as_ref().clone())
}

/// Resolves on SIGTERM or Ctrl-C: what stops the daemon and the agent.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// How long open connections may take to finish their requests once the
/// daemon is stopping.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serve `app` over TLS until `shutdown`, then let open connections finish
/// their requests (up to [`SHUTDOWN_GRACE`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(app.clone());
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open at the shutdown deadline were closed");
        }
    }
    Ok(())
}
