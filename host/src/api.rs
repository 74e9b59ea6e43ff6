//! The HTTP API: JSON under `/v1/…` behind a bearer token, plus the
//! unauthenticated probes `/healthz` and `/readyz`. Errors are
//! `{"error":{"code","message"}}` with the matching status.

use crate::plugins::{PluginStatus, Registry};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub admin_token: Arc<str>,
    /// Set once the initial plugin scan has finished.
    pub ready: Arc<AtomicBool>,
}

/// An API error: status, stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl ApiError {
    fn internal(e: anyhow::Error) -> ApiError {
        tracing::error!("API request failed: {e:#}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("{e:#}"),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/plugins", get(list_plugins))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(v1)
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not-found",
        message: "no such endpoint".into(),
    }
}

/// Constant-time comparison, so a token cannot be guessed byte by byte.
pub fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated",
            message: "missing bearer token: send `Authorization: Bearer <token>` (the admin \
                      token is in the daemon's data directory, file admin-token)"
                .into(),
        }),
        Some(token) if tokens_equal(token.trim().as_bytes(), state.admin_token.as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated",
            message: "the bearer token is not valid".into(),
        }),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        Json(Health { status: "ready" }).into_response()
    } else {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "starting",
            message: "the daemon is still loading its plugins".into(),
        }
        .into_response()
    }
}

/// `GET /v1/plugins`.
#[derive(Serialize, serde::Deserialize)]
pub struct PluginList<T = PluginStatus> {
    pub plugins: Vec<T>,
}

async fn list_plugins(State(state): State<AppState>) -> Result<Json<PluginList>, ApiError> {
    let plugins = state.registry.statuses().map_err(ApiError::internal)?;
    Ok(Json(PluginList { plugins }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(tokens_equal(b"abc", b"abc"));
        assert!(!tokens_equal(b"abc", b"abd"));
        assert!(!tokens_equal(b"abc", b"abcd"));
        assert!(!tokens_equal(b"", b"a"));
    }
}
