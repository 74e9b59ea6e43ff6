//! `/v1/aks/…`: AKS discovery, the inventory, credential checks and lookups.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::aks::{AksCluster, AksError, CredentialCheck, DiscoverRequest, LookupItem, LookupKind};
use crate::store::OperationRow;
use crate::workflows::AksDiscover;
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<AksError> for ApiError {
    fn from(e: AksError) -> ApiError {
        let status = match &e {
            AksError::Internal(e) => return ApiError::internal(e),
            AksError::Denied(_) => StatusCode::FORBIDDEN,
            AksError::NotFound(_) => StatusCode::NOT_FOUND,
            AksError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AksError::Conflict(_) => StatusCode::CONFLICT,
            AksError::Upstream { .. } | AksError::BadPluginOutput(_) => StatusCode::BAD_GATEWAY,
            AksError::Credential(_) => StatusCode::FAILED_DEPENDENCY,
            AksError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AksError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AksClusterList {
    pub clusters: Vec<AksCluster>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InventoryQuery {
    /// Only this subscription.
    pub subscription: Option<String>,
    /// Only this resource group.
    pub resource_group: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub credential: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// A stored Azure credential.
    #[param(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub credential: String,
    pub subscription: Option<String>,
    /// Needed by versions and vm-sizes, e.g. `eastus`.
    pub location: Option<String>,
    /// Needed by upgrades: the cluster's ARM id or inventory name.
    pub cluster: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LookupList {
    pub items: Vec<LookupItem>,
}

/// Start discovering AKS clusters with a credential; they are recorded in
/// the inventory. Discovery of a large or slow tenant can take minutes, so
/// it runs as an `aks-discover` operation: follow it at
/// `/v1/operations/{id}`; its step's output is a `DiscoverySummary`, its
/// `error_code` says why it failed (`denied`, `credential-unavailable`,
/// `upstream`, `timeout`, …). Admin only.
#[utoipa::path(post, path = "/v1/aks/discover", tag = "aks", security(("bearer" = [])),
    request_body = DiscoverRequest,
    responses(
        (status = 202, description = "the discovery operation, started", body = OperationRow,
            headers(("location" = String, description = "the operation's URL"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn discover(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<DiscoverRequest>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<OperationRow>,
    ),
    ApiError,
> {
    req.check()?;
    state.aks.ready()?;
    let inputs = serde_json::to_value(&req).map_err(ApiError::internal)?;
    let op = state
        .operations
        .start(AksDiscover::KIND, inputs, &caller.token)?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/operations/{}", op.id))],
        Json(op),
    ))
}

/// The AKS inventory: every cluster discovery found, with first and last seen.
#[utoipa::path(get, path = "/v1/aks/clusters", tag = "aks", security(("bearer" = [])),
    params(InventoryQuery),
    responses(
        (status = 200, body = AksClusterList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn inventory(
    State(state): State<AppState>,
    Query(q): Query<InventoryQuery>,
) -> Result<Json<AksClusterList>, ApiError> {
    let clusters = state
        .aks
        .inventory(q.subscription.as_deref(), q.resource_group.as_deref())?;
    Ok(Json(AksClusterList { clusters }))
}

/// One inventory cluster by ARM id (URL-encoded) or unambiguous name.
#[utoipa::path(get, path = "/v1/aks/clusters/{cluster}", tag = "aks", security(("bearer" = [])),
    params(("cluster" = String, Path, description = "ARM id (URL-encoded) or cluster name")),
    responses(
        (status = 200, body = AksCluster), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> Result<Json<AksCluster>, ApiError> {
    Ok(Json(state.aks.show(&cluster)?))
}

/// What a credential can see, and why not. Admin only (it calls Azure).
#[utoipa::path(post, path = "/v1/aks/check-credential", tag = "aks", security(("bearer" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, body = CredentialCheck),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn check_credential(
    State(state): State<AppState>,
    Json(req): Json<CheckRequest>,
) -> Result<Json<CredentialCheck>, ApiError> {
    Ok(Json(state.aks.check_credential(&req.credential).await?))
}

/// Locations, Kubernetes versions, upgrades, VM sizes or virtual networks.
#[utoipa::path(get, path = "/v1/aks/lookups/{kind}", tag = "aks", security(("bearer" = [])),
    params(("kind" = LookupKind, Path, description = "what to look up"), LookupQuery),
    responses(
        (status = 200, body = LookupList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 424, body = ErrorBody),
        (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn lookup(
    State(state): State<AppState>,
    Path(kind): Path<LookupKind>,
    Query(q): Query<LookupQuery>,
) -> Result<Json<LookupList>, ApiError> {
    let items = state
        .aks
        .lookup(kind, &q.credential, q.subscription, q.location, q.cluster)
        .await?;
    Ok(Json(LookupList { items }))
}
