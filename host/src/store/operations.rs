//! Durable operations: the rows behind `workflows`. Every state change is
//! one transaction that also appends to the operation's activity log, so the
//! log and the state never disagree.

use super::{Store, now_ms};
use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OpStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Cancelled,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::Pending => "pending",
            OpStatus::InProgress => "in-progress",
            OpStatus::Succeeded => "succeeded",
            OpStatus::Failed => "failed",
            OpStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OpStatus> {
        [
            OpStatus::Pending,
            OpStatus::InProgress,
            OpStatus::Succeeded,
            OpStatus::Failed,
            OpStatus::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OpStatus::Succeeded | OpStatus::Failed | OpStatus::Cancelled
        )
    }
}

fn status(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<OpStatus> {
    let s: String = r.get(i)?;
    OpStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, s.into())
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperationRow {
    pub id: String,
    pub kind: String,
    /// The inputs the operation was started with (JSON).
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
    pub status: OpStatus,
    pub error: Option<String>,
    /// Why it failed, for scripts: `denied`, `upstream`, `timeout`, …
    pub error_code: Option<String>,
    pub cancel_requested: bool,
    /// Token (or `daemon`) that started it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepRow {
    pub index: u32,
    pub name: String,
    pub status: OpStatus,
    pub attempts: u32,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Activity {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub message: String,
}

const OP_COLUMNS: &str = "id, kind, inputs, status, error, cancel_requested, created_by, created_at, \
                          updated_at, finished_at, error_code";

fn op_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperationRow> {
    let inputs: String = r.get(2)?;
    Ok(OperationRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        inputs: serde_json::from_str(&inputs).unwrap_or(serde_json::Value::Null),
        status: status(r, 3)?,
        error: r.get(4)?,
        cancel_requested: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        finished_at: r.get(9)?,
        error_code: r.get(10)?,
    })
}

fn activity(tx: &Transaction<'_>, op: &str, message: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO operation_activities (op_id, at, message) VALUES (?1, ?2, ?3)",
        params![op, now_ms(), message],
    )?;
    Ok(())
}

fn set_op(
    tx: &Transaction<'_>,
    op: &str,
    st: OpStatus,
    error: Option<&StepFailure>,
) -> rusqlite::Result<()> {
    let now = now_ms();
    tx.execute(
        "UPDATE operations SET status = ?2, error = ?3, error_code = ?6, updated_at = ?4,
                finished_at = CASE WHEN ?5 THEN ?4 ELSE NULL END
         WHERE id = ?1",
        params![
            op,
            st.as_str(),
            error.map(|e| e.message.as_str()),
            now,
            st.is_terminal(),
            error.map(|e| e.code.as_str())
        ],
    )?;
    Ok(())
}

/// Why a step failed: a stable code for scripts and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub code: String,
    pub message: String,
}

impl StepFailure {
    /// The code of a failure without a more specific one.
    pub const FAILED: &str = "failed";

    pub fn new(code: impl Into<String>, message: impl Into<String>) -> StepFailure {
        StepFailure {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<String> for StepFailure {
    /// A failure without a more specific code.
    fn from(message: String) -> StepFailure {
        StepFailure::new(StepFailure::FAILED, message)
    }
}

/// Query for listing operations; newest first, cursor-paged.
#[derive(Debug, Clone, Default)]
pub struct OpListQuery {
    pub status: Option<OpStatus>,
    pub kind: Option<String>,
    /// (created_at, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

impl Store {
    /// Create an operation with its steps, pending.
    pub fn op_create(
        &self,
        id: &str,
        kind: &str,
        inputs: &serde_json::Value,
        steps: &[String],
        created_by: &str,
    ) -> Result<OperationRow> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO operations (id, kind, inputs, status, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?5)",
            params![id, kind, inputs.to_string(), created_by, now],
        )?;
        for (i, name) in steps.iter().enumerate() {
            tx.execute(
                "INSERT INTO operation_steps (op_id, idx, name, status) VALUES (?1, ?2, ?3, 'pending')",
                params![id, i as i64, name],
            )?;
        }
        activity(
            &tx,
            id,
            &format!("created by {created_by} with {} steps", steps.len()),
        )?;
        tx.commit()?;
        drop(conn);
        self.op_get(id)?
            .ok_or_else(|| anyhow::anyhow!("operation {id} vanished"))
    }

    pub fn op_get(&self, id: &str) -> Result<Option<OperationRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {OP_COLUMNS} FROM operations WHERE id = ?1"),
                params![id],
                op_row,
            )
            .optional()?)
    }

    pub fn op_steps(&self, id: &str) -> Result<Vec<StepRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT idx, name, status, attempts, started_at, finished_at, error, output, error_code
             FROM operation_steps WHERE op_id = ?1 ORDER BY idx",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                let output: Option<String> = r.get(7)?;
                Ok(StepRow {
                    index: r.get(0)?,
                    name: r.get(1)?,
                    status: status(r, 2)?,
                    attempts: r.get(3)?,
                    started_at: r.get(4)?,
                    finished_at: r.get(5)?,
                    error: r.get(6)?,
                    error_code: r.get(8)?,
                    output: output.and_then(|o| serde_json::from_str(&o).ok()),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Activities with an id above `after`, oldest first.
    pub fn op_activities(&self, id: &str, after: i64) -> Result<Vec<Activity>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, message FROM operation_activities WHERE op_id = ?1 AND id > ?2
             ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![id, after], |r| {
                Ok(Activity {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    message: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Whether operation `id` has an activity with an id above `after`.
    pub fn op_has_activities_after(&self, id: &str, after: i64) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM operation_activities WHERE op_id = ?1 AND id > ?2)",
            params![id, after],
            |r| r.get(0),
        )?)
    }

    pub fn op_list(&self, q: &OpListQuery) -> Result<Vec<OperationRow>> {
        let mut sql = format!("SELECT {OP_COLUMNS} FROM operations WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = q.status {
            args.push(s.as_str().to_string().into());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if let Some(k) = &q.kind {
            args.push(k.clone().into());
            sql.push_str(&format!(" AND kind = ?{}", args.len()));
        }
        if let Some((at, id)) = &q.after {
            args.push((*at).into());
            args.push(id.clone().into());
            sql.push_str(&format!(
                " AND (created_at < ?{a} OR (created_at = ?{a} AND id < ?{b}))",
                a = args.len() - 1,
                b = args.len()
            ));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            q.limit.clamp(1, 1001)
        ));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), op_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Operations not finished: the ones to resume on start.
    pub fn op_unfinished(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM operations WHERE status IN ('pending', 'in-progress')
             ORDER BY created_at, id",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    /// A step found in progress at start-up was interrupted: make it pending
    /// again and say so in the log.
    pub fn op_mark_interrupted(&self, id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let running: Option<(i64, String, i64)> = tx
            .query_row(
                "SELECT idx, name, attempts FROM operation_steps
                 WHERE op_id = ?1 AND status = 'in-progress'",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((idx, name, attempts)) = running {
            tx.execute(
                "UPDATE operation_steps SET status = 'pending' WHERE op_id = ?1 AND idx = ?2",
                params![id, idx],
            )?;
            activity(
                &tx,
                id,
                &format!(
                    "interrupted: the daemon stopped while step {} ({name}) was running \
                     (attempt {attempts}); it will run again",
                    idx + 1
                ),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The operation starts (or resumes) running.
    pub fn op_running(&self, id: &str, message: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        set_op(&tx, id, OpStatus::InProgress, None)?;
        activity(&tx, id, message)?;
        tx.commit()?;
        Ok(())
    }

    /// Recorded before a step runs.
    pub fn op_step_started(&self, id: &str, idx: u32, name: &str) -> Result<u32> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE operation_steps SET status = 'in-progress', attempts = attempts + 1,
                    started_at = ?3, finished_at = NULL, error = NULL
             WHERE op_id = ?1 AND idx = ?2",
            params![id, idx, now_ms()],
        )?;
        let attempts: u32 = tx.query_row(
            "SELECT attempts FROM operation_steps WHERE op_id = ?1 AND idx = ?2",
            params![id, idx],
            |r| r.get(0),
        )?;
        let suffix = if attempts > 1 {
            format!(" (attempt {attempts})")
        } else {
            String::new()
        };
        activity(
            &tx,
            id,
            &format!("step {} ({name}) started{suffix}", idx + 1),
        )?;
        tx.execute(
            "UPDATE operations SET updated_at = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        tx.commit()?;
        Ok(attempts)
    }

    /// Recorded after a step ran. A failed or cancelled step ends the
    /// operation with the same status.
    pub fn op_step_finished(
        &self,
        id: &str,
        idx: u32,
        name: &str,
        outcome: OpStatus,
        output: Option<&serde_json::Value>,
        error: Option<&StepFailure>,
    ) -> Result<()> {
        if !matches!(
            outcome,
            OpStatus::Succeeded | OpStatus::Failed | OpStatus::Cancelled
        ) {
            bail!("a step cannot finish as {}", outcome.as_str());
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE operation_steps SET status = ?3, finished_at = ?4, error = ?5, output = ?6,
                    error_code = ?7
             WHERE op_id = ?1 AND idx = ?2",
            params![
                id,
                idx,
                outcome.as_str(),
                now_ms(),
                error.map(|e| e.message.as_str()),
                output.map(|o| o.to_string()),
                error.map(|e| e.code.as_str())
            ],
        )?;
        let message = match outcome {
            OpStatus::Succeeded => format!("step {} ({name}) succeeded", idx + 1),
            OpStatus::Cancelled => format!("step {} ({name}) cancelled", idx + 1),
            _ => format!(
                "step {} ({name}) failed: {}",
                idx + 1,
                error.map_or("no reason", |e| e.message.as_str())
            ),
        };
        activity(&tx, id, &message)?;
        match outcome {
            OpStatus::Failed => {
                let failure = StepFailure {
                    code: error
                        .map_or(StepFailure::FAILED, |e| e.code.as_str())
                        .to_string(),
                    message,
                };
                set_op(&tx, id, OpStatus::Failed, Some(&failure))?;
                activity(
                    &tx,
                    id,
                    "operation failed; `drover op retry` runs it again from the failed step",
                )?;
            }
            OpStatus::Cancelled => self.cancel_rest(&tx, id)?,
            _ => {
                tx.execute(
                    "UPDATE operations SET updated_at = ?2 WHERE id = ?1",
                    params![id, now_ms()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn cancel_rest(&self, tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
        tx.execute(
            "UPDATE operation_steps SET status = 'cancelled'
             WHERE op_id = ?1 AND status IN ('pending', 'in-progress')",
            params![id],
        )?;
        set_op(tx, id, OpStatus::Cancelled, None)?;
        activity(tx, id, "operation cancelled")?;
        Ok(())
    }

    /// The operation ended: every step succeeded, or it was cancelled
    /// between steps.
    pub fn op_finish(&self, id: &str, outcome: OpStatus) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match outcome {
            OpStatus::Succeeded => {
                set_op(&tx, id, OpStatus::Succeeded, None)?;
                activity(&tx, id, "operation succeeded")?;
            }
            OpStatus::Cancelled => self.cancel_rest(&tx, id)?,
            other => bail!("an operation cannot finish as {}", other.as_str()),
        }
        tx.commit()?;
        Ok(())
    }

    /// Ask an unfinished operation to stop. Returns the status it had.
    pub fn op_request_cancel(&self, id: &str, by: &str) -> Result<Option<OpStatus>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<(String, bool)> = tx
            .query_row(
                "SELECT status, cancel_requested FROM operations WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((st, already)) = current else {
            return Ok(None);
        };
        let st = OpStatus::parse(&st).unwrap_or(OpStatus::Failed);
        if !st.is_terminal() && !already {
            tx.execute(
                "UPDATE operations SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            activity(&tx, id, &format!("cancellation requested by {by}"))?;
        }
        tx.commit()?;
        Ok(Some(st))
    }

    /// Make a failed or cancelled operation runnable again from its first
    /// unfinished step. Returns the status it had.
    pub fn op_reset_for_retry(&self, id: &str, by: &str) -> Result<Option<OpStatus>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let st: Option<String> = tx
            .query_row(
                "SELECT status FROM operations WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(st) = st.and_then(|s| OpStatus::parse(&s)) else {
            return Ok(None);
        };
        if matches!(st, OpStatus::Failed | OpStatus::Cancelled) {
            tx.execute(
                "UPDATE operation_steps SET status = 'pending', error = NULL, error_code = NULL
                 WHERE op_id = ?1 AND status IN ('failed', 'cancelled')",
                params![id],
            )?;
            tx.execute(
                "UPDATE operations SET status = 'pending', error = NULL, error_code = NULL,
                        cancel_requested = 0,
                        finished_at = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            activity(&tx, id, &format!("retry requested by {by}"))?;
        }
        tx.commit()?;
        Ok(Some(st))
    }

    pub fn op_cancel_requested(&self, id: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT cancel_requested FROM operations WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?)
    }

    /// (kind, status, count) of every operation.
    pub fn op_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT kind, status, COUNT(*) FROM operations GROUP BY kind, status")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Checkpoint the WAL into the main file (on shutdown).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
