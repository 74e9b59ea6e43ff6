//! `/v1/operations`: durable operations, their steps and activity log.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::aks::DiscoverRequest;
use crate::store::{Activity, OpListQuery, OpStatus, OperationRow, StepRow};
use crate::workflows::{AksDiscover, OpError, SelfTest, SelfTestInputs};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;
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

/// An operation to start: its `kind`, then that kind's `inputs`, read once
/// the kind is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationStart {
    pub kind: OperationKind,
    pub inputs: serde_json::Value,
}

/// The kinds of operation the API starts.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum OperationKind {
    Selftest,
    AksDiscover,
}

/// [`OperationStart`] as the OpenAPI document describes it: `inputs` per `kind`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(
    tag = "kind",
    content = "inputs",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
pub enum OperationStartDoc {
    /// Exercises the operation engine, touching nothing outside the daemon.
    Selftest(SelfTestInputs),
    /// Discovers AKS clusters with a credential (what `POST /v1/aks/discover` starts).
    AksDiscover(DiscoverRequest),
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
    #[param(pattern = r"^-?[0-9]{1,18}\.[A-Za-z0-9_]{1,64}$")]
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
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
    /// Wait up to this many milliseconds (at most 20000) for a new activity
    /// after `after`, or for the operation to end, before answering.
    #[param(minimum = 0, maximum = 20000)]
    pub wait_ms: Option<u64>,
}

/// Start an operation. Admin only.
#[utoipa::path(post, path = "/v1/operations", tag = "operations", security(("bearer" = [])),
    request_body = OperationStartDoc,
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
    // The inputs are read as their kind's type, then handed on as JSON.
    fn checked<T: serde::de::DeserializeOwned + Serialize>(
        inputs: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let typed: T = crate::wire::from_value(inputs)
            .map_err(|e| ApiError::invalid(format!("invalid inputs: {e}")))?;
        serde_json::to_value(typed).map_err(ApiError::internal)
    }
    let (kind, inputs) = match req.kind {
        OperationKind::Selftest => (SelfTest::KIND, checked::<SelfTestInputs>(req.inputs)?),
        OperationKind::AksDiscover => (AksDiscover::KIND, checked::<DiscoverRequest>(req.inputs)?),
    };
    let op = state.operations.start(kind, inputs, &caller.token)?;
    Ok((StatusCode::CREATED, Json(op)))
}

fn cursor(op: &OperationRow) -> String {
    format!("{}.{}", op.created_at, op.id)
}

/// A page cursor as the document's `pattern` says it.
pub const CURSOR_PATTERN: &str = r"^-?[0-9]{1,18}\.[A-Za-z0-9_]{1,64}$";

/// `<created_at>.<id>`, as [`cursor`] writes it (and [`CURSOR_PATTERN`] says).
fn parse_cursor(s: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "{s:?} is not a cursor: pass the `next` of the previous page"
        ))
    };
    static CURSOR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(CURSOR_PATTERN).expect("the cursor pattern compiles")
    });
    if !CURSOR.is_match(s) {
        return Err(bad());
    }
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
        (status = 422, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<OperationDetail>, ApiError> {
    if let Some(wait) = q.wait_ms {
        if wait > 20_000 {
            return Err(ApiError::invalid("wait_ms must be at most 20000"));
        }
        // Answer well within the request timeout, whatever was asked.
        let wait = Duration::from_millis(wait).min(
            state
                .request_timeout
                .saturating_sub(Duration::from_millis(500)),
        );
        state
            .operations
            .wait_for_change(&id, q.after.unwrap_or(0), wait)
            .await?;
    }
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
