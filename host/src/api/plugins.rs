//! `/v1/plugins`.

use super::AppState;
use super::error::{ApiError, ErrorBody, Json};
use crate::plugins::PluginStatus;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// `GET /v1/plugins`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginStatus>,
}

/// Every plugin the daemon knows: loaded, or failed with the reason.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", security(("bearer" = [])), responses(
    (status = 200, body = PluginList),
    (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>) -> Result<Json<PluginList>, ApiError> {
    let plugins = state.registry.statuses().map_err(ApiError::internal)?;
    Ok(Json(PluginList { plugins }))
}
