//! The audit log: every host-interface call a plugin makes and every API
//! mutation, with who, what, on what, the decision and the outcome.

use super::{Store, now_ms};
use anyhow::Result;
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};

/// One entry to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    /// `plugin` or `token`.
    pub actor_kind: &'a str,
    /// Plugin name or token name.
    pub actor: &'a str,
    /// Interface (`state`, `azure`, …) or API route (`POST /v1/tokens`).
    pub action: &'a str,
    /// What was acted on: a key, a resource path, a request path.
    pub subject: &'a str,
    /// `get`, `set`, an HTTP method, …
    pub verb: &'a str,
    pub allowed: bool,
    /// `ok`, an error code, or an HTTP status.
    pub status: &'a str,
    pub duration_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub verb: String,
    pub allowed: bool,
    pub status: String,
    pub duration_us: i64,
}

/// Which entries to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub plugin: Option<String>,
    pub token: Option<String>,
    /// Substring of the subject.
    pub subject: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Entries with an id below this (for paging backwards).
    pub before_id: Option<i64>,
    pub limit: u32,
}

impl Store {
    pub fn audit_record(&self, e: &NewAudit<'_>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit (at, actor_kind, actor, action, subject, verb, allowed, status,
                                duration_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                now_ms(),
                e.actor_kind,
                e.actor,
                e.action,
                e.subject,
                e.verb,
                e.allowed,
                e.status,
                i64::try_from(e.duration_us).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    /// Delete entries recorded before `before` (Unix ms); returns how many.
    pub fn audit_prune(&self, before: i64) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM audit WHERE at < ?1", [before])?)
    }

    /// Newest first.
    pub fn audit_list(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, actor_kind, actor, action, subject, verb, allowed, status, duration_us
             FROM audit WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(p) = &f.plugin {
            push(" AND actor_kind = 'plugin' AND actor = ?", p.clone().into());
        }
        if let Some(t) = &f.token {
            push(" AND actor_kind = 'token' AND actor = ?", t.clone().into());
        }
        if let Some(s) = &f.subject {
            push(" AND instr(subject, ?) > 0", s.clone().into());
        }
        if let Some(t) = f.since {
            push(" AND at >= ?", t.into());
        }
        if let Some(t) = f.until {
            push(" AND at <= ?", t.into());
        }
        if let Some(id) = f.before_id {
            push(" AND id < ?", id.into());
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            f.limit.clamp(1, 1001)
        ));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor_kind: r.get(2)?,
                    actor: r.get(3)?,
                    action: r.get(4)?,
                    subject: r.get(5)?,
                    verb: r.get(6)?,
                    allowed: r.get(7)?,
                    status: r.get(8)?,
                    duration_us: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
