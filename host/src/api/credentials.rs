//! `/v1/credentials`: stored credentials. Secrets go in; they never come out.

use super::AppState;
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::secrets::credentials::{
    CredentialError, CredentialFields, CredentialKind, CredentialView,
};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> ApiError {
        match e {
            CredentialError::Invalid(m) => ApiError::invalid(m),
            CredentialError::Exists(_) => ApiError::conflict(e.to_string()),
            CredentialError::NotFound(_) => ApiError::not_found(e.to_string()),
            CredentialError::Internal(e) => ApiError::internal(e),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialCreate {
    pub name: String,
    pub kind: CredentialKind,
    /// azure-client-secret: the Entra tenant id.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// azure-client-secret: the application (client) id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// azure-*: subscriptions to use; empty means all the credential can see.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// azure-*: cloud name, e.g. AzurePublicCloud (the default).
    #[serde(default)]
    pub cloud: Option<String>,
    /// ssh-key: the remote user.
    #[serde(default)]
    pub user: Option<String>,
    /// kubeconfig: the context to use; the current context when empty.
    #[serde(default)]
    pub context: Option<String>,
    /// Client secret, kubeconfig document or private key. Stored encrypted;
    /// never returned.
    #[serde(default)]
    pub secret: Option<String>,
    /// ssh-key only: the key's passphrase.
    #[serde(default)]
    pub passphrase: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialRotate {
    pub secret: String,
    #[serde(default)]
    pub passphrase: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialView>,
}

/// Store a credential. Admin only.
#[utoipa::path(post, path = "/v1/credentials", tag = "credentials", security(("bearer" = [])),
    request_body = CredentialCreate,
    responses(
        (status = 201, body = CredentialView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<CredentialCreate>,
) -> Result<(StatusCode, Json<CredentialView>), ApiError> {
    let fields = CredentialFields {
        tenant_id: req.tenant_id,
        client_id: req.client_id,
        subscriptions: req.subscriptions,
        cloud: req.cloud,
        user: req.user,
        context: req.context,
    };
    let view = state.credentials.add(
        &req.name,
        req.kind,
        fields,
        req.secret.as_deref(),
        req.passphrase.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// List credentials (metadata only).
#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", security(("bearer" = [])), responses(
    (status = 200, body = CredentialList), (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>) -> Result<Json<CredentialList>, ApiError> {
    Ok(Json(CredentialList {
        credentials: state.credentials.list()?,
    }))
}

/// One credential (metadata only).
#[utoipa::path(get, path = "/v1/credentials/{name}", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = CredentialView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CredentialView>, ApiError> {
    Ok(Json(state.credentials.get(&name)?))
}

/// Replace a credential's secret. Admin only.
#[utoipa::path(post, path = "/v1/credentials/{name}/rotate", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = CredentialRotate,
    responses(
        (status = 200, body = CredentialView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(req): Json<CredentialRotate>,
) -> Result<Json<CredentialView>, ApiError> {
    Ok(Json(state.credentials.rotate(
        &name,
        &req.secret,
        req.passphrase.as_deref(),
    )?))
}

/// Remove a credential. Admin only.
#[utoipa::path(delete, path = "/v1/credentials/{name}", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "removed"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.credentials.remove(&name)?;
    Ok(StatusCode::NO_CONTENT)
}
