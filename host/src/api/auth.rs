//! Bearer tokens and roles. `admin` may do anything; `viewer` may read.
//! Every mutation (any method but GET/HEAD) is written to the audit log with
//! the token's name, whatever its outcome.

use super::AppState;
use super::error::ApiError;
use crate::store::{NewAudit, Store};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::time::Instant;

/// Who is calling, attached to the request by [`require_token`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name.
    pub token: String,
    /// The token's id.
    pub token_id: String,
    pub role: Role,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May do anything.
    Admin,
    /// May only read.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// Tokens are stored by this hash only.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Register the admin token from the data directory under the name `admin`
/// (created on first start; re-registered if the file was replaced).
pub fn register_admin_token(store: &Store, token: &str) -> anyhow::Result<()> {
    let hash = hash_token(token);
    match store.token_by_name("admin")? {
        Some(_) if store.token_by_hash(&hash)?.is_some() => Ok(()),
        Some(existing) if existing.revoked_at.is_some() => {
            tracing::warn!(
                "the admin token is revoked; delete the admin-token file and restart to make a new one"
            );
            Ok(())
        }
        Some(existing) => {
            // The file was replaced: retire the old hash, register the new.
            store.token_revoke(&existing.id)?;
            let id = format!("tok_{}", hex::encode(rand::random::<[u8; 6]>()));
            store.token_rename(&existing.id, &format!("admin-retired-{}", existing.id))?;
            store.token_insert(&id, "admin", "admin", &hash)?;
            Ok(())
        }
        None => {
            let id = format!("tok_{}", hex::encode(rand::random::<[u8; 6]>()));
            store.token_insert(&id, "admin", "admin", &hash)?;
            Ok(())
        }
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let presented = bearer(request.headers()).map(str::to_string);
    let Some(presented) = presented else {
        return Err(unauthenticated(
            "missing bearer token: send `Authorization: Bearer <token>` (the admin token is in \
             the daemon's data directory, file admin-token; `drover token create` makes more)",
        ));
    };
    let row = state
        .store
        .token_by_hash(&hash_token(&presented))
        .map_err(ApiError::internal)?
        .ok_or_else(|| unauthenticated("the bearer token is not valid, or has been revoked"))?;
    let role = if row.role == "admin" {
        Role::Admin
    } else {
        Role::Viewer
    };
    let method = request.method().clone();
    let mutating = method != Method::GET && method != Method::HEAD;
    let caller = Caller {
        token: row.name.clone(),
        token_id: row.id.clone(),
        role,
    };
    // Audit every mutation whatever becomes of it: answered, refused, or
    // abandoned because the client went away (recorded as 499, the status
    // for "client closed the request").
    let mut audit = mutating.then(|| PendingAudit {
        store: state.store.clone(),
        token: row.name.clone(),
        action: format!(
            "{method} {}",
            request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str())
                .unwrap_or(request.uri().path())
        ),
        subject: request.uri().path().to_string(),
        verb: method.as_str().to_string(),
        started,
        status: None,
    });
    let outcome = if mutating && role != Role::Admin {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has role viewer, which may only read; this needs an admin token",
                row.name
            ),
        ))
    } else {
        request.extensions_mut().insert(caller);
        Ok(next.run(request).await)
    };
    if let Some(audit) = audit.as_mut() {
        audit.status = Some(match &outcome {
            Ok(r) => r.status(),
            Err(e) => e.status,
        });
    }
    outcome
}

/// A mutation's audit entry, written when the request ends — or when it is
/// dropped unanswered.
struct PendingAudit {
    store: Store,
    token: String,
    action: String,
    subject: String,
    verb: String,
    started: Instant,
    /// The answer's status; None while (or if never) answered.
    status: Option<StatusCode>,
}

impl Drop for PendingAudit {
    fn drop(&mut self) {
        // Unanswered: the client went away (499, "client closed the
        // request"), or the handler panicked (the client gets a 500).
        let status = match self.status {
            Some(s) => s.as_str().to_string(),
            None if std::thread::panicking() => "500".to_string(),
            None => "499".to_string(),
        };
        let entry = NewAudit {
            actor_kind: "token",
            actor: &self.token,
            action: &self.action,
            subject: &self.subject,
            verb: &self.verb,
            allowed: self.status != Some(StatusCode::FORBIDDEN),
            status: &status,
            duration_us: self.started.elapsed().as_micros() as u64,
        };
        if let Err(e) = self.store.audit_record(&entry) {
            tracing::error!("cannot write the audit log: {e:#}");
        }
    }
}
