//! Clusters and their import: `/v1/clusters…` and `/v1/import-tokens…` for
//! operators; `/import/{token}.yaml`, `/cacerts` and `/agent/v1/…` for the
//! cluster owner and the agent, which authenticate with the registration
//! token (or not at all) instead of an API token.

use super::AppState;
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::imports::{CheckIn, CheckInReply, ImportCommand, ImportError, ImportOptions};
use crate::store::{ClusterRow, ImportTokenRow};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> ApiError {
        match e {
            ImportError::Invalid(m) => ApiError::invalid(m),
            ImportError::NotFound(m) => ApiError::not_found(m),
            ImportError::Conflict(m) => ApiError::conflict(m),
            ImportError::Unauthorized(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
            }
            ImportError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            ImportError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            ImportError::BadPluginOutput(m) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "bad-plugin-output", m)
            }
            ImportError::Internal(e) => ApiError::internal(e),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterCreate {
    /// A DNS label: lowercase letters, digits and '-'.
    #[schema(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub name: String,
    /// How the cluster is imported; every field is optional.
    #[serde(default)]
    pub import: ImportOptions,
    /// Lifetime of the first registration token in seconds (1 s to 365 days);
    /// the daemon's `[import] token_ttl` when unset.
    #[serde(default, deserialize_with = "crate::wire::opt_int")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub token_ttl_seconds: Option<u64>,
}

/// A new cluster and the command that imports it (shown once).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ClusterCreated {
    pub cluster: ClusterRow,
    pub command: ImportCommand,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<ClusterRow>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Lifetime in seconds (1 s to 365 days); the daemon's `[import]
    /// token_ttl` when unset.
    #[serde(default, deserialize_with = "crate::wire::opt_int")]
    #[schema(minimum = 1, maximum = 31536000)]
    pub ttl_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportTokenList {
    pub tokens: Vec<ImportTokenRow>,
}

/// A token lifetime, checked before anything is stored.
fn parse_ttl(seconds: Option<u64>) -> Result<Option<std::time::Duration>, ApiError> {
    seconds
        .map(|s| {
            let d = std::time::Duration::from_secs(s);
            crate::imports::check_ttl(d)?;
            Ok(d)
        })
        .transpose()
}

/// Add a generic imported cluster and mint its first registration token.
/// Admin only.
#[utoipa::path(post, path = "/v1/clusters", tag = "clusters", security(("bearer" = [])),
    request_body = ClusterCreate,
    responses(
        (status = 201, body = ClusterCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<ClusterCreate>,
) -> Result<(StatusCode, Json<ClusterCreated>), ApiError> {
    let ttl = parse_ttl(req.token_ttl_seconds)?;
    let cluster = state.imports.add_cluster(&req.name, &req.import).await?;
    let command = state.imports.new_token(&cluster.id, ttl)?;
    Ok((
        StatusCode::CREATED,
        Json(ClusterCreated { cluster, command }),
    ))
}

/// List clusters with their status and last heartbeat.
#[utoipa::path(get, path = "/v1/clusters", tag = "clusters", security(("bearer" = [])), responses(
    (status = 200, body = ClusterList), (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>) -> Result<Json<ClusterList>, ApiError> {
    let clusters = state.store.clusters().map_err(ApiError::internal)?;
    Ok(Json(ClusterList { clusters }))
}

/// One cluster, by id or name.
#[utoipa::path(get, path = "/v1/clusters/{cluster}", tag = "clusters", security(("bearer" = [])),
    params(("cluster" = String, Path, description = "cluster id or name")),
    responses(
        (status = 200, body = ClusterRow), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterRow>, ApiError> {
    Ok(Json(state.imports.cluster(&cluster)?))
}

/// Remove a cluster and its registration tokens (its agent's next check-in
/// is refused). Admin only.
#[utoipa::path(delete, path = "/v1/clusters/{cluster}", tag = "clusters", security(("bearer" = [])),
    params(("cluster" = String, Path, description = "cluster id or name")),
    responses(
        (status = 200, body = ClusterRow), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> Result<Json<ClusterRow>, ApiError> {
    match state
        .store
        .cluster_remove(&cluster)
        .map_err(ApiError::internal)?
    {
        Some(row) => {
            tracing::info!(cluster = %row.name, "removed a cluster");
            Ok(Json(row))
        }
        None => Err(ImportError::NotFound(format!(
            "no cluster with id or name {cluster:?}: `drover cluster ls` lists them"
        ))
        .into()),
    }
}

/// Mint a registration token for a cluster and return its import command
/// (shown once). Admin only.
#[utoipa::path(post, path = "/v1/clusters/{cluster}/import-command", tag = "clusters",
    security(("bearer" = [])),
    params(("cluster" = String, Path, description = "cluster id or name")),
    request_body(content = TokenRequest, description = "`{}` for the defaults"),
    responses(
        (status = 201, body = ImportCommand), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn import_command(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Json(req): Json<TokenRequest>,
) -> Result<(StatusCode, Json<ImportCommand>), ApiError> {
    let ttl = parse_ttl(req.ttl_seconds)?;
    Ok((
        StatusCode::CREATED,
        Json(state.imports.new_token(&cluster, ttl)?),
    ))
}

/// A cluster's registration tokens (ids and dates, never the tokens).
#[utoipa::path(get, path = "/v1/clusters/{cluster}/import-tokens", tag = "clusters",
    security(("bearer" = [])),
    params(("cluster" = String, Path, description = "cluster id or name")),
    responses(
        (status = 200, body = ImportTokenList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn tokens(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> Result<Json<ImportTokenList>, ApiError> {
    Ok(Json(ImportTokenList {
        tokens: state.imports.tokens(&cluster)?,
    }))
}

/// Revoke a registration token: its URL answers 404 and an agent using it
/// is refused. Admin only.
#[utoipa::path(post, path = "/v1/import-tokens/{token_id}/revoke", tag = "clusters",
    security(("bearer" = [])),
    params(("token_id" = String, Path, description = "the token's 12-character id")),
    responses(
        (status = 200, body = ImportTokenRow), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
) -> Result<Json<ImportTokenRow>, ApiError> {
    Ok(Json(state.imports.revoke(&token_id)?))
}

/// One Kubernetes object of the import manifests.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct KubernetesObject {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// The import manifests, a multi-document YAML stream (one object per
/// document, in apply order) for `kubectl apply -f`. No bearer token: the
/// URL's token is the credential. Unknown, expired and revoked tokens all
/// get 404.
#[utoipa::path(get, path = "/import/{file}", tag = "import",
    params(("file" = String, Path, description = "`<registration token>.yaml`")),
    responses(
        (status = 200, description = "the manifests, one YAML document per object",
            content_type = "application/yaml", body = Vec<KubernetesObject>),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn manifests(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "no import manifests here: the link is wrong, expired or revoked; ask for a new \
             import command",
        )
    };
    let Some(token) = file.strip_suffix(".yaml") else {
        return Err(not_found());
    };
    match state.imports.manifests(token).await {
        Ok(yaml) => Ok((
            [
                (header::CONTENT_TYPE, "application/yaml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            yaml,
        )
            .into_response()),
        Err(ImportError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The CA certificate (PEM) that signed the server's certificate, for
/// agents to check against their CA checksum. 404 when none is published.
#[utoipa::path(get, path = "/cacerts", tag = "import", responses(
    (status = 200, description = "PEM", content_type = "application/x-pem-file", body = String),
    (status = 404, body = ErrorBody),
))]
pub async fn cacerts(State(state): State<AppState>) -> Result<Response, ApiError> {
    match &state.tls.ca_pem {
        Some(pem) => Ok((
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem.clone(),
        )
            .into_response()),
        None => Err(ApiError::not_found(
            "this server publishes no CA certificate (it serves plain HTTP on loopback or an \
             operator certificate without [tls] ca)",
        )),
    }
}

/// The agent's registration token, checked before anything else about the
/// request: without a valid token, the answer is 401 whatever the body.
pub struct AgentToken(ImportTokenRow);

impl axum::extract::FromRequestParts<AppState> for AgentToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<AgentToken, ApiError> {
        let token = super::auth::bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing registration token: send `Authorization: Bearer <token>` (the agent \
                 reads it from DROVER_TOKEN_FILE)",
            )
        })?;
        Ok(AgentToken(state.imports.authenticate(token)?))
    }
}

/// An agent registers its cluster with the registration token.
#[utoipa::path(post, path = "/agent/v1/register", tag = "agent",
    security(("registration-token" = [])),
    request_body = CheckIn,
    responses(
        (status = 200, body = CheckInReply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    AgentToken(token): AgentToken,
    Json(report): Json<CheckIn>,
) -> Result<Json<CheckInReply>, ApiError> {
    Ok(Json(state.imports.check_in(token, &report, true)?))
}

/// A registered agent reports that its cluster is alive, with fresh facts.
#[utoipa::path(post, path = "/agent/v1/heartbeat", tag = "agent",
    security(("registration-token" = [])),
    request_body = CheckIn,
    responses(
        (status = 200, body = CheckInReply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn heartbeat(
    State(state): State<AppState>,
    AgentToken(token): AgentToken,
    Json(report): Json<CheckIn>,
) -> Result<Json<CheckInReply>, ApiError> {
    Ok(Json(state.imports.check_in(token, &report, false)?))
}
