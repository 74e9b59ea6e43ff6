//! `/v1/operations`: durable operations, their steps and activity log.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::store::{Activity, OpListQuery, OpStatus, OperationRow, StepRow};
use crate::workflows::OpError;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        match &e {
            OpError::UnknownKind(..) | OpError::InvalidInputs(..) => {
                ApiError::invalid(e.to_string())
            }
            OpError::NotFound(_) => ApiError::not_found(e.to_string()),
            OpError::Conflict(..) => ApiError::conflict(e.to_string()),
            OpError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                e.to_string(),
            ),
            OpError::Internal(inner) => ApiError::internal(inner),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationStart {
    /// Operation kind, e.g. `selftest`.
    pub kind: String,
    /// Kind-specific inputs.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OperationDetail {
    #[serde(flatten)]
    pub operation: OperationRow,
    pub steps: Vec<StepRow>,
    pub activities: Vec<Activity>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OperationQuery {
    /// Only operations with this status.
    pub status: Option<OpStatus>,
    /// Only operations of this kind.
    pub kind: Option<String>,
    /// Page: the `next` cursor of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OperationPage {
    pub operations: Vec<OperationRow>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only activities with an id above this (for following a live operation).
    pub after: Option<i64>,
}

/// Start an operation. Admin only.
#[utoipa::path(post, path = "/v1/operations", tag = "operations", security(("bearer" = [])),
    request_body = OperationStart,
    responses(
        (status = 201, body = OperationRow),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<OperationStart>,
) -> Result<(StatusCode, Json<OperationRow>), ApiError> {
    let op = state
        .operations
        .start(&req.kind, req.inputs, &caller.token)?;
    Ok((StatusCode::CREATED, Json(op)))
}

fn cursor(op: &OperationRow) -> String {
    format!("{}.{}", op.created_at, op.id)
}

fn parse_cursor(s: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "{s:?} is not a cursor: pass the `next` of the previous page"
        ))
    };
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

/// Operations, newest first.
#[utoipa::path(get, path = "/v1/operations", tag = "operations", security(("bearer" = [])),
    params(OperationQuery),
    responses(
        (status = 200, body = OperationPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<OperationQuery>,
) -> Result<Json<OperationPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    // One more than asked tells whether another page exists.
    let mut operations = state
        .store
        .op_list(&OpListQuery {
            status: q.status,
            kind: q.kind,
            after,
            limit: limit + 1,
        })
        .map_err(ApiError::internal)?;
    let more = operations.len() > limit as usize;
    operations.truncate(limit as usize);
    let next = more.then(|| operations.last().map(cursor)).flatten();
    Ok(Json(OperationPage { operations, next }))
}

/// One operation with its steps and activities.
#[utoipa::path(get, path = "/v1/operations/{id}", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path), ActivityQuery),
    responses(
        (status = 200, body = OperationDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<OperationDetail>, ApiError> {
    let operation = state.operations.get(&id)?;
    let steps = state.store.op_steps(&id).map_err(ApiError::internal)?;
    let activities = state
        .store
        .op_activities(&id, q.after.unwrap_or(0))
        .map_err(ApiError::internal)?;
    Ok(Json(OperationDetail {
        operation,
        steps,
        activities,
    }))
}

/// Cancel an unfinished operation. Admin only.
#[utoipa::path(post, path = "/v1/operations/{id}/cancel", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OperationRow), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OperationRow>, ApiError> {
    Ok(Json(state.operations.cancel(&id, &caller.token)?))
}

/// Retry a failed or cancelled operation from its unfinished steps. Admin only.
#[utoipa::path(post, path = "/v1/operations/{id}/retry", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = OperationRow), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OperationRow>, ApiError> {
    Ok(Json(state.operations.retry(&id, &caller.token)?))
}
