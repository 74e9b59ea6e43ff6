//! The daemon's state: one SQLite file in the data directory (WAL, foreign
//! keys on, numbered migrations embedded in the binary).
//!
//! One connection behind a mutex serialises writers inside the process, and
//! every multi-statement change runs in a transaction, so readers never see a
//! half-written row and concurrent callers never see "database is locked".

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// One schema or data change.
enum Migration {
    Sql(&'static str),
    /// A rewrite of stored data that SQL says badly.
    Rust(fn(&rusqlite::Transaction<'_>) -> Result<()>),
}

/// Numbered migrations; `PRAGMA user_version` records the last one applied.
/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[Migration] = &[
    // 1: plugins and their private key/value state.
    Migration::Sql(
        "CREATE TABLE plugins (
        name        TEXT PRIMARY KEY,
        version     TEXT,
        description TEXT,
        sha256      TEXT,
        capability  TEXT,
        wit_version TEXT,
        status      TEXT NOT NULL CHECK (status IN ('loaded', 'failed')),
        error       TEXT,
        loaded_at   INTEGER,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE plugin_state (
        plugin     TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (plugin, key)
    ) WITHOUT ROWID;",
    ),
    // 2: API tokens, the audit log, encrypted credentials.
    Migration::Sql(
        "CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        hash         TEXT NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        revoked_at   INTEGER,
        last_used_at INTEGER
    );
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('plugin', 'token')),
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        subject     TEXT NOT NULL,
        verb        TEXT NOT NULL,
        allowed     INTEGER NOT NULL,
        status      TEXT NOT NULL,
        duration_us INTEGER NOT NULL
    );
    CREATE INDEX audit_actor ON audit (actor_kind, actor, at);
    CREATE INDEX audit_at ON audit (at);
    CREATE TABLE credentials (
        name       TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        metadata   TEXT NOT NULL,
        sealed     BLOB,
        created_at INTEGER NOT NULL,
        rotated_at INTEGER
    );",
    ),
    // 3: durable operations, their steps and activity log.
    Migration::Sql(
        "CREATE TABLE operations (
        id               TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        inputs           TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN
                            ('pending', 'in-progress', 'succeeded', 'failed', 'cancelled')),
        error            TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_by       TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        finished_at      INTEGER
    );
    CREATE INDEX operations_by_created ON operations (created_at DESC, id DESC);
    CREATE INDEX operations_by_status ON operations (status);
    CREATE TABLE operation_steps (
        op_id       TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
        idx         INTEGER NOT NULL,
        name        TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN
                       ('pending', 'in-progress', 'succeeded', 'failed', 'cancelled')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        started_at  INTEGER,
        finished_at INTEGER,
        error       TEXT,
        output      TEXT,
        PRIMARY KEY (op_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE operation_activities (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        op_id   TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
        at      INTEGER NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX activities_by_op ON operation_activities (op_id, id);",
    ),
    // 4: clusters and the registration tokens that import them.
    Migration::Sql(
        "CREATE TABLE clusters (
        id                 TEXT PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        kind               TEXT NOT NULL,
        status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disconnected')),
        created_at         INTEGER NOT NULL,
        registered_at      INTEGER,
        last_heartbeat_at  INTEGER,
        kubernetes_version TEXT,
        node_count         INTEGER,
        agent_version      TEXT,
        import             TEXT NOT NULL
    );
    CREATE TABLE import_tokens (
        id            TEXT PRIMARY KEY,
        cluster_id    TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
        hash          BLOB NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        revoked_at    INTEGER,
        registered_at INTEGER,
        last_used_at  INTEGER
    );
    CREATE INDEX import_tokens_by_cluster ON import_tokens (cluster_id, created_at);",
    ),
    // 5: the AKS inventory: clusters discovery found, keyed by ARM id.
    Migration::Sql(
        "CREATE TABLE aks_clusters (
        key             TEXT PRIMARY KEY,
        id              TEXT NOT NULL,
        credential      TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        resource_group  TEXT NOT NULL,
        name            TEXT NOT NULL,
        data            TEXT NOT NULL,
        first_seen      INTEGER NOT NULL,
        last_seen       INTEGER NOT NULL,
        missing_since   INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX aks_clusters_by_subscription ON aks_clusters (subscription_id, name);
    CREATE INDEX aks_clusters_by_name ON aks_clusters (name);",
    ),
    // 6: a stable, machine-readable code for why an operation or step failed.
    Migration::Sql(
        "ALTER TABLE operations ADD COLUMN error_code TEXT;
    ALTER TABLE operation_steps ADD COLUMN error_code TEXT;",
    ),
    // 7: import settings of clusters added by an earlier Drover, in the
    // current shape.
    Migration::Rust(clusters::current_import_settings),
];

/// Per-plugin state quotas (documented in `wit/state.wit`).
#[derive(Debug, Clone, Copy)]
pub struct StateQuota {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_keys: u64,
    pub max_total_bytes: u64,
}

impl StateQuota {
    pub const DEFAULT: StateQuota = StateQuota {
        max_key_bytes: 256,
        max_value_bytes: 64 * 1024,
        max_keys: 1024,
        max_total_bytes: 4 * 1024 * 1024,
    };
}

/// Why a state write was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state quota: {0}")]
    Quota(String),
    #[error("state storage failed: {0:#}")]
    Storage(#[from] anyhow::Error),
}

/// One row of the plugins table, as `drover plugin ls` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PluginRow {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub sha256: Option<String>,
    pub capability: Option<String>,
    pub wit_version: Option<String>,
    /// `loaded` or `failed`.
    pub status: String,
    /// Why the last load failed. With status `loaded` this is a reload that
    /// failed while the previous version kept serving.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub loaded_at: Option<i64>,
}

mod aks;
mod audit;
mod clusters;
mod credentials;
mod operations;
mod tokens;

pub use aks::{AksRow, InventoryChange};
pub use audit::{AuditEntry, AuditFilter, NewAudit};
pub use clusters::{ClusterFacts, ClusterRow, ClusterStatus, ImportTokenRow};
pub use credentials::CredentialRow;
pub use operations::{Activity, OpListQuery, OpStatus, OperationRow, StepFailure, StepRow};
pub use tokens::TokenRow;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Open (creating if needed) the database at `path` and migrate it.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        Self::init(conn).with_context(|| format!("cannot prepare database {}", path.display()))
    }

    fn init(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            anyhow::bail!("SQLite refused WAL mode (journal_mode is {mode})");
        }
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite mid-transaction
        // (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`; `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    // ---- plugins -------------------------------------------------------

    /// Record a successfully loaded version.
    pub fn plugin_loaded(&self, row: &PluginRow) -> Result<()> {
        self.conn().execute(
            "INSERT INTO plugins (name, version, description, sha256, capability, wit_version,
                                  status, error, loaded_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'loaded', NULL, ?7, ?7)
             ON CONFLICT(name) DO UPDATE SET
                version = excluded.version, description = excluded.description,
                sha256 = excluded.sha256, capability = excluded.capability,
                wit_version = excluded.wit_version, status = 'loaded', error = NULL,
                loaded_at = excluded.loaded_at, updated_at = excluded.updated_at",
            params![
                row.name,
                row.version,
                row.description,
                row.sha256,
                row.capability,
                row.wit_version,
                row.loaded_at.unwrap_or_else(now_ms)
            ],
        )?;
        Ok(())
    }

    /// Record a failed load. When a previous version is still serving
    /// (`still_serving`), its row keeps status `loaded` and gains the error;
    /// otherwise the row becomes `failed`.
    pub fn plugin_failed(&self, name: &str, error: &str, still_serving: bool) -> Result<()> {
        let now = now_ms();
        if still_serving {
            self.conn().execute(
                "UPDATE plugins SET error = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, error, now],
            )?;
        } else {
            self.conn().execute(
                "INSERT INTO plugins (name, status, error, updated_at)
                 VALUES (?1, 'failed', ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET
                    version = NULL, description = NULL, sha256 = NULL, capability = NULL,
                    wit_version = NULL, loaded_at = NULL,
                    status = 'failed', error = excluded.error, updated_at = excluded.updated_at",
                params![name, error, now],
            )?;
        }
        Ok(())
    }

    /// Forget a plugin whose files were removed. Its state is kept, so a
    /// plugin that comes back finds its data.
    pub fn plugin_removed(&self, name: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM plugins WHERE name = ?1", params![name])?;
        Ok(())
    }

    /// Drop rows of plugins that are not on disk any more (a daemon that was
    /// down when files were deleted).
    pub fn plugins_retain(&self, names: &[String]) -> Result<()> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM plugins")?;
        let stored: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for name in stored.iter().filter(|n| !names.contains(n)) {
            conn.execute("DELETE FROM plugins WHERE name = ?1", params![name])?;
        }
        Ok(())
    }

    pub fn plugins(&self) -> Result<Vec<PluginRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, version, description, sha256, capability, wit_version, status, error,
                    loaded_at
             FROM plugins ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PluginRow {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    description: r.get(2)?,
                    sha256: r.get(3)?,
                    capability: r.get(4)?,
                    wit_version: r.get(5)?,
                    status: r.get(6)?,
                    error: r.get(7)?,
                    loaded_at: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    // ---- per-plugin state ------------------------------------------------

    pub fn state_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM plugin_state WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Store `value` under `key` if the plugin stays within `quota`; a refused
    /// write changes nothing.
    pub fn state_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota: &StateQuota,
    ) -> Result<(), StateError> {
        if key.is_empty() {
            return Err(StateError::Quota("keys must not be empty".into()));
        }
        if key.len() > quota.max_key_bytes {
            return Err(StateError::Quota(format!(
                "key of {} bytes is over the limit of {} bytes",
                key.len(),
                quota.max_key_bytes
            )));
        }
        if value.len() > quota.max_value_bytes {
            return Err(StateError::Quota(format!(
                "value of {} bytes for key {key:?} is over the limit of {} bytes",
                value.len(),
                quota.max_value_bytes
            )));
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(anyhow::Error::from)?;
        let (keys, bytes): (u64, u64) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0)
                 FROM plugin_state WHERE plugin = ?1 AND key <> ?2",
                params![plugin, key],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(anyhow::Error::from)?;
        if keys + 1 > quota.max_keys {
            return Err(StateError::Quota(format!(
                "plugin already holds {keys} keys, the limit is {}; delete keys it no longer needs",
                quota.max_keys
            )));
        }
        let total = bytes + key.len() as u64 + value.len() as u64;
        if total > quota.max_total_bytes {
            return Err(StateError::Quota(format!(
                "writing {key:?} would bring the plugin's state to {total} bytes, the limit is {} \
                 bytes; delete keys it no longer needs",
                quota.max_total_bytes
            )));
        }
        tx.execute(
            "INSERT INTO plugin_state (plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value,
                                                    updated_at = excluded.updated_at",
            params![plugin, key, value, now_ms()],
        )
        .map_err(anyhow::Error::from)?;
        tx.commit().map_err(anyhow::Error::from)?;
        Ok(())
    }

    pub fn state_delete(&self, plugin: &str, key: &str) -> Result<bool> {
        let n = self.conn().execute(
            "DELETE FROM plugin_state WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(n > 0)
    }

    pub fn state_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key FROM plugin_state WHERE plugin = ?1 AND substr(key, 1, ?3) = ?2
             ORDER BY key",
        )?;
        let keys = stmt
            .query_map(params![plugin, prefix, prefix.len() as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(keys)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        anyhow::bail!(
            "the database is at schema version {current}, newer than this drover knows \
             ({known}): run the newer drover, or restore a backup made before the upgrade"
        );
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction()?;
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql).map_err(anyhow::Error::from),
            Migration::Rust(rewrite) => rewrite(&tx),
        }
        .with_context(|| format!("migration {version} failed"))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::init(Connection::open_in_memory().unwrap()).unwrap()
    }

    #[test]
    fn migrations_apply_once_and_refuse_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drover.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        s.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let err = Store::open(&path).err().unwrap();
        assert!(
            format!("{err:#}").contains("newer than this drover knows"),
            "{err:#}"
        );
    }

    #[test]
    fn import_settings_of_an_earlier_drover_are_rewritten_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drover.db");
        // A database as Drover left it at schema version 5, with a cluster
        // added through the API of the time.
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for m in &MIGRATIONS[..5] {
                let Migration::Sql(sql) = m else { panic!() };
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 5).unwrap();
            let old = serde_json::json!({
                "namespace": "agents",
                "rbac": "custom",
                "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get"] }],
                "tolerations": [
                    { "key": "dedicated", "operator": "Equal", "value": "infra",
                      "effect": "NoSchedule", "toleration_seconds": null },
                    { "key": "gpu", "operator": "Exists", "value": null, "effect": null,
                      "toleration_seconds": null },
                    { "key": null, "operator": "Exists", "value": null, "effect": null,
                      "toleration_seconds": null },
                ],
            });
            tx.execute(
                "INSERT INTO clusters (id, name, kind, status, created_at, import)
                 VALUES ('c-1', 'edge', 'imported', 'pending', 1, ?1)",
                [old.to_string()],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        let import = s.cluster("edge").unwrap().unwrap().import;
        assert_eq!(
            import,
            serde_json::json!({
                "namespace": "agents",
                "rbac": { "custom": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get"] }] },
                "tolerations": [
                    { "key": "dedicated", "value": "infra", "effect": "NoSchedule" },
                    { "key": "gpu", "effect": "NoSchedule" },
                    { "key": "gpu", "effect": "PreferNoSchedule" },
                    { "key": "gpu", "effect": "NoExecute" },
                ],
            })
        );
        // Settings in today's shape read back as they were written.
        let read_only = serde_json::json!({ "rbac": "read-only", "rules": [] });
        let mut rewritten = read_only.clone();
        assert!(clusters::rewrite_import_settings(&mut rewritten).is_empty());
        assert_eq!(rewritten, serde_json::json!({ "rbac": "read-only" }));
    }

    #[test]
    fn plugin_rows_track_load_failure_and_removal() {
        let s = store();
        let row = PluginRow {
            name: "p".into(),
            version: Some("1.0.0".into()),
            description: Some("d".into()),
            sha256: Some("ab".into()),
            capability: Some("import-manifests".into()),
            wit_version: Some("0.1.0".into()),
            status: "loaded".into(),
            error: None,
            loaded_at: Some(5),
        };
        s.plugin_loaded(&row).unwrap();
        s.plugin_failed("p", "bad bytes", true).unwrap();
        let rows = s.plugins().unwrap();
        assert_eq!(rows[0].status, "loaded");
        assert_eq!(rows[0].version.as_deref(), Some("1.0.0"));
        assert_eq!(rows[0].error.as_deref(), Some("bad bytes"));
        s.plugin_loaded(&row).unwrap();
        assert_eq!(s.plugins().unwrap()[0].error, None);
        s.plugin_failed("p", "gone wrong", false).unwrap();
        let rows = s.plugins().unwrap();
        assert_eq!(
            (rows[0].status.as_str(), rows[0].version.as_deref()),
            ("failed", None)
        );
        s.plugin_removed("p").unwrap();
        assert!(s.plugins().unwrap().is_empty());
    }

    #[test]
    fn state_quota_refusals_change_nothing() {
        let s = store();
        let q = StateQuota {
            max_key_bytes: 8,
            max_value_bytes: 10,
            max_keys: 2,
            max_total_bytes: 20,
        };
        s.state_set("p", "a", b"12345", &q).unwrap();
        assert!(matches!(
            s.state_set("p", "toolongkey", b"x", &q),
            Err(StateError::Quota(_))
        ));
        assert!(matches!(
            s.state_set("p", "b", &[0; 11], &q),
            Err(StateError::Quota(_))
        ));
        s.state_set("p", "b", b"123456789", &q).unwrap();
        // Third key is over the key count.
        let err = s.state_set("p", "c", b"1", &q).unwrap_err();
        assert!(err.to_string().contains("limit is 2"), "{err}");
        // Replacing a key does not count it twice, but total bytes still apply.
        s.state_set("p", "a", b"1234567890", &q).unwrap_err();
        assert_eq!(
            s.state_get("p", "a").unwrap().as_deref(),
            Some(&b"12345"[..])
        );
        // Other plugins have their own quota and namespace.
        s.state_set("q", "a", b"other", &q).unwrap();
        assert_eq!(s.state_keys("p", "").unwrap(), vec!["a", "b"]);
        assert_eq!(s.state_keys("p", "b").unwrap(), vec!["b"]);
        assert!(s.state_delete("p", "a").unwrap());
        assert!(!s.state_delete("p", "a").unwrap());
        assert_eq!(
            s.state_get("q", "a").unwrap().as_deref(),
            Some(&b"other"[..])
        );
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}
