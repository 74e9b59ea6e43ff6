//! Clusters under management and the registration tokens that import them.
//!
//! A registration token is stored as its id (public, shown in listings) and
//! the sha256 of the whole token; the token itself is never stored.

use super::{Store, now_ms};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Where a cluster stands with its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterStatus {
    /// Added; no agent has registered yet.
    Pending,
    /// The agent checks in.
    Active,
    /// The agent has not checked in within the disconnect timeout.
    Disconnected,
}

impl ClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Pending => "pending",
            ClusterStatus::Active => "active",
            ClusterStatus::Disconnected => "disconnected",
        }
    }

    fn parse(s: &str) -> ClusterStatus {
        match s {
            "active" => ClusterStatus::Active,
            "disconnected" => ClusterStatus::Disconnected,
            _ => ClusterStatus::Pending,
        }
    }
}

/// A cluster as stored and listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ClusterRow {
    /// `c-` and 12 hex digits.
    pub id: String,
    pub name: String,
    /// `imported` (through the import URL) or `aks`.
    pub kind: String,
    pub status: ClusterStatus,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When an agent first registered.
    pub registered_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    /// As the agent reported it, e.g. `v1.33.2`.
    pub kubernetes_version: Option<String>,
    pub node_count: Option<i64>,
    pub agent_version: Option<String>,
    /// The import settings (namespace, RBAC, agent image, proxy, …) as JSON.
    #[schema(value_type = Object)]
    pub import: serde_json::Value,
}

const CLUSTER_COLUMNS: &str = "id, name, kind, status, created_at, registered_at, \
     last_heartbeat_at, kubernetes_version, node_count, agent_version, import";

fn cluster(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterRow> {
    let status: String = r.get(3)?;
    let import: String = r.get(10)?;
    Ok(ClusterRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        status: ClusterStatus::parse(&status),
        created_at: r.get(4)?,
        registered_at: r.get(5)?,
        last_heartbeat_at: r.get(6)?,
        kubernetes_version: r.get(7)?,
        node_count: r.get(8)?,
        agent_version: r.get(9)?,
        import: serde_json::from_str(&import).unwrap_or(serde_json::Value::Null),
    })
}

/// Migration 7: import settings stored by an earlier Drover (`rbac` and
/// `rules` side by side; tolerations with `operator`, optional `key` and
/// `effect`, `toleration_seconds`) rewritten once into the current shape,
/// so the API, the CLI and rendering all read one shape.
pub(super) fn current_import_settings(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let rows: Vec<(String, String, String)> = tx
        .prepare("SELECT id, name, import FROM clusters")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, name, text) in rows {
        let Ok(mut import) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let dropped = rewrite_import_settings(&mut import);
        for what in &dropped {
            tracing::warn!(
                cluster = %crate::text::escape_control(&name),
                "an import setting stored by an earlier Drover has no equivalent now and was \
                 dropped: {what}; set the cluster's tolerations again if it needs one"
            );
        }
        tx.execute(
            "UPDATE clusters SET import = ?2 WHERE id = ?1",
            params![id, import.to_string()],
        )?;
    }
    Ok(())
}

/// The earlier shape of import settings in the current one; returns what
/// could not be expressed (and was left out). A toleration without an
/// effect tolerates every effect: it becomes one per effect.
pub(super) fn rewrite_import_settings(import: &mut serde_json::Value) -> Vec<String> {
    use serde_json::{Value, json};
    let mut dropped = Vec::new();
    let Some(map) = import.as_object_mut() else {
        return dropped;
    };
    if let Some(rules) = map.remove("rules")
        && map.get("rbac").and_then(Value::as_str) == Some("custom")
    {
        map.insert("rbac".into(), json!({ "custom": rules }));
    }
    let Some(Value::Array(tolerations)) = map.get_mut("tolerations") else {
        return dropped;
    };
    let mut current = Vec::new();
    for t in tolerations.drain(..) {
        let Some(key) = t.get("key").and_then(Value::as_str) else {
            dropped.push(format!("a toleration of every taint ({t})"));
            continue;
        };
        if let Some(seconds) = t.get("toleration_seconds").filter(|s| !s.is_null()) {
            dropped.push(format!(
                "tolerationSeconds {seconds} of the toleration of {key:?}"
            ));
        }
        let value = t.get("value").filter(|v| !v.is_null());
        let effects = match t.get("effect").and_then(Value::as_str) {
            Some(effect) => vec![effect],
            None => vec!["NoSchedule", "PreferNoSchedule", "NoExecute"],
        };
        for effect in effects {
            let mut entry = json!({ "key": key, "effect": effect });
            if let Some(value) = value {
                entry["value"] = value.clone();
            }
            current.push(entry);
        }
    }
    *tolerations = current;
    dropped
}

/// A registration token as stored and listed: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImportTokenRow {
    /// The token's public id (its first 12 characters).
    pub id: String,
    pub cluster_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// When an agent first registered with it.
    pub registered_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl ImportTokenRow {
    /// `valid`, `expired`, `revoked` or, once an agent registered with it,
    /// `in-use`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.registered_at.is_some() {
            "in-use"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "valid"
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, cluster_id, created_at, expires_at, revoked_at, registered_at, last_used_at";

fn import_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImportTokenRow> {
    Ok(ImportTokenRow {
        id: r.get(0)?,
        cluster_id: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        revoked_at: r.get(4)?,
        registered_at: r.get(5)?,
        last_used_at: r.get(6)?,
    })
}

/// What an agent reports about its cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts<'a> {
    pub kubernetes_version: Option<&'a str>,
    pub node_count: Option<i64>,
    pub agent_version: Option<&'a str>,
}

impl Store {
    /// Add a cluster. Fails (unique constraint) if the name is taken.
    pub fn cluster_insert(
        &self,
        id: &str,
        name: &str,
        kind: &str,
        import: &serde_json::Value,
    ) -> Result<ClusterRow> {
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO clusters (id, name, kind, status, created_at, import)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
            params![id, name, kind, now, import.to_string()],
        )?;
        self.cluster(id)?
            .ok_or_else(|| anyhow::anyhow!("cluster {id} vanished right after insert"))
    }

    /// A cluster by id or name.
    pub fn cluster(&self, id_or_name: &str) -> Result<Option<ClusterRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = ?1 OR name = ?1"),
                params![id_or_name],
                cluster,
            )
            .optional()?)
    }

    pub fn clusters(&self) -> Result<Vec<ClusterRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters ORDER BY name"
        ))?;
        let rows = stmt
            .query_map([], cluster)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Remove a cluster and its registration tokens; returns it if it existed.
    pub fn cluster_remove(&self, id_or_name: &str) -> Result<Option<ClusterRow>> {
        let found = self.cluster(id_or_name)?;
        if let Some(c) = &found {
            // Tokens go with it (ON DELETE CASCADE).
            self.conn()
                .execute("DELETE FROM clusters WHERE id = ?1", params![c.id])?;
        }
        Ok(found)
    }

    /// An agent checked in: record its facts, mark the cluster Active, and
    /// (on `register`) the token as registered. Returns the previous status.
    pub fn cluster_check_in(
        &self,
        cluster_id: &str,
        token_id: &str,
        facts: &ClusterFacts<'_>,
        register: bool,
    ) -> Result<Option<ClusterStatus>> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let previous: Option<String> = tx
            .query_row(
                "SELECT status FROM clusters WHERE id = ?1",
                params![cluster_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(previous) = previous else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE clusters SET status = 'active', last_heartbeat_at = ?2,
                 registered_at = COALESCE(registered_at, ?2),
                 kubernetes_version = COALESCE(?3, kubernetes_version),
                 node_count = COALESCE(?4, node_count),
                 agent_version = COALESCE(?5, agent_version)
             WHERE id = ?1",
            params![
                cluster_id,
                now,
                facts.kubernetes_version,
                facts.node_count,
                facts.agent_version
            ],
        )?;
        if register {
            tx.execute(
                "UPDATE import_tokens SET registered_at = COALESCE(registered_at, ?2),
                     last_used_at = ?2 WHERE id = ?1",
                params![token_id, now],
            )?;
        } else {
            tx.execute(
                "UPDATE import_tokens SET last_used_at = ?2 WHERE id = ?1
                 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
                params![token_id, now],
            )?;
        }
        tx.commit()?;
        Ok(Some(ClusterStatus::parse(&previous)))
    }

    /// Mark Active clusters whose last heartbeat is older than `cutoff`
    /// (Unix ms) Disconnected; returns their names.
    pub fn clusters_disconnect_stale(&self, cutoff: i64) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "UPDATE clusters SET status = 'disconnected'
             WHERE status = 'active' AND last_heartbeat_at < ?1 RETURNING name",
        )?;
        let names = stmt
            .query_map(params![cutoff], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    // ---- registration tokens --------------------------------------------

    pub fn import_token_insert(
        &self,
        id: &str,
        cluster_id: &str,
        hash: &[u8],
        expires_at: i64,
    ) -> Result<ImportTokenRow> {
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO import_tokens (id, cluster_id, hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, cluster_id, hash, now, expires_at],
        )?;
        Ok(ImportTokenRow {
            id: id.into(),
            cluster_id: cluster_id.into(),
            created_at: now,
            expires_at,
            revoked_at: None,
            registered_at: None,
            last_used_at: None,
        })
    }

    /// A token by its public id, with its stored hash.
    pub fn import_token(&self, id: &str) -> Result<Option<(ImportTokenRow, Vec<u8>)>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS}, hash FROM import_tokens WHERE id = ?1"),
                params![id],
                |r| Ok((import_token(r)?, r.get::<_, Vec<u8>>(7)?)),
            )
            .optional()?)
    }

    pub fn import_tokens(&self, cluster_id: &str) -> Result<Vec<ImportTokenRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM import_tokens WHERE cluster_id = ?1
             ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map(params![cluster_id], import_token)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revoke a token by id; returns it if it existed.
    pub fn import_token_revoke(&self, id: &str) -> Result<Option<ImportTokenRow>> {
        self.conn().execute(
            "UPDATE import_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now_ms()],
        )?;
        Ok(self.import_token(id)?.map(|(row, _)| row))
    }
}
