//! `/v1/tokens`: API tokens, stored hashed and shown once.

use super::AppState;
use super::auth::Caller;
use super::auth::{Role, hash_token};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::TokenRow;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// A name for people and the audit log, e.g. `ci-pipeline`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    pub role: Role,
}

/// A new token: `token` is shown this once and never again.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub view: TokenRow,
    pub token: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenRow>,
}

/// Create a token. Admin only.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    request_body = TokenCreate,
    responses(
        (status = 201, body = TokenCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<TokenCreate>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    if !crate::config::is_valid_object_name(&req.name) {
        return Err(ApiError::invalid(format!(
            "{:?} is not a valid token name: use 1-64 letters, digits, '-', '_' or '.'",
            req.name
        )));
    }
    if state
        .store
        .token_by_name(&req.name)
        .map_err(ApiError::internal)?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "a token named {:?} already exists: pick another name",
            req.name
        )));
    }
    let token = format!("drv_{}", hex::encode(rand::random::<[u8; 32]>()));
    let id = format!("tok_{}", hex::encode(rand::random::<[u8; 6]>()));
    let row = state
        .store
        .token_insert(&id, &req.name, req.role.as_str(), &hash_token(&token))
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(TokenCreated { view: row, token })))
}

/// List tokens (without their values).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])), responses(
    (status = 200, body = TokenList), (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.store.tokens().map_err(ApiError::internal)?;
    Ok(Json(TokenList { tokens }))
}

/// Revoke a token by id or name. Admin only.
#[utoipa::path(post, path = "/v1/tokens/{name}/revoke", tag = "tokens", security(("bearer" = [])),
    params(("name" = String, Path, description = "the token's name (or id)")),
    responses(
        (status = 200, body = TokenRow), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(token): Path<String>,
) -> Result<Json<TokenRow>, ApiError> {
    // Revoking the token this very request is made with would lock the
    // caller out mid-conversation (the admin token, typically).
    if token == caller.token || token == caller.token_id {
        return Err(ApiError::conflict(format!(
            "{token:?} is the token this request is made with: revoke it with another admin \
             token (`drover token create NAME --role admin` makes one)"
        )));
    }
    match state
        .store
        .token_revoke(&token)
        .map_err(ApiError::internal)?
    {
        Some(row) => Ok(Json(row)),
        None => Err(ApiError::not_found(format!(
            "no token with id or name {token:?}"
        ))),
    }
}
