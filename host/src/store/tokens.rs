//! API tokens: stored as sha256 hashes, never in the clear.

use super::{Store, now_ms};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A token as stored and listed: never the token itself, only its hash
/// (which is not part of this row either).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

const COLUMNS: &str = "id, name, role, created_at, revoked_at, last_used_at";

impl Store {
    /// Store a token by its hash. Fails if the name is taken.
    pub fn token_insert(&self, id: &str, name: &str, role: &str, hash: &str) -> Result<TokenRow> {
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO tokens (id, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, role, hash, now],
        )?;
        Ok(TokenRow {
            id: id.into(),
            name: name.into(),
            role: role.into(),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        })
    }

    /// The live (not revoked) token with this hash; records its use.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1 AND revoked_at IS NULL"),
                params![hash],
                row,
            )
            .optional()?;
        if let Some(t) = &found {
            // Coarse: at most one write a minute per token.
            conn.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1
                 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
                params![t.id, now_ms()],
            )?;
        }
        Ok(found)
    }

    pub fn token_by_name(&self, name: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM tokens WHERE name = ?1"),
                params![name],
                row,
            )
            .optional()?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tokens ORDER BY created_at, name"
        ))?;
        let rows = stmt
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn token_rename(&self, id: &str, name: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE tokens SET name = ?2 WHERE id = ?1",
            params![id, name],
        )?;
        Ok(())
    }

    /// Revoke by id or name; returns the token if it existed.
    pub fn token_revoke(&self, id_or_name: &str) -> Result<Option<TokenRow>> {
        let conn = self.conn();
        conn.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE (id = ?1 OR name = ?1) AND revoked_at IS NULL",
            params![id_or_name, now_ms()],
        )?;
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1 OR name = ?1"),
                params![id_or_name],
                row,
            )
            .optional()?)
    }
}
