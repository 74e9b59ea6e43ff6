//! `/v1/audit`: the audit log, newest first, filtered and paged.

use super::AppState;
use super::error::{ApiError, ErrorBody, Json, Query};
use crate::store::{AuditEntry, AuditFilter};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only calls made by this plugin.
    pub plugin: Option<String>,
    /// Only API mutations made with this token (by name).
    pub token: Option<String>,
    /// Only entries whose subject contains this text.
    pub subject: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, inclusive.
    pub until: Option<i64>,
    /// Page: entries with an id below this (from `next_before`).
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Audit entries: host-interface calls by plugins, API mutations by tokens.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let mut entries = state
        .store
        .audit_list(&AuditFilter {
            plugin: q.plugin,
            token: q.token,
            subject: q.subject,
            since: q.since,
            until: q.until,
            before_id: q.before,
            // One more than asked tells whether another page exists.
            limit: limit + 1,
        })
        .map_err(ApiError::internal)?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_before = more.then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(AuditPage {
        entries,
        next_before,
    }))
}
