//! Credentials: non-secret metadata in the clear (JSON), the secret sealed
//! by `secrets::Vault` before it reaches this module.

use super::{Store, now_ms};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub name: String,
    pub kind: String,
    /// JSON object of the kind's non-secret fields.
    pub metadata: String,
    /// Nonce and ciphertext; `None` for kinds without a secret.
    pub sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        name: r.get(0)?,
        kind: r.get(1)?,
        metadata: r.get(2)?,
        sealed: r.get(3)?,
        created_at: r.get(4)?,
        rotated_at: r.get(5)?,
    })
}

const COLUMNS: &str = "name, kind, metadata, sealed, created_at, rotated_at";

impl Store {
    /// Insert; false if the name is taken.
    pub fn credential_insert(
        &self,
        name: &str,
        kind: &str,
        metadata: &str,
        sealed: Option<&[u8]>,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT INTO credentials (name, kind, metadata, sealed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO NOTHING",
            params![name, kind, metadata, sealed, now_ms()],
        )?;
        Ok(n == 1)
    }

    pub fn credential(&self, name: &str) -> Result<Option<CredentialRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM credentials WHERE name = ?1"),
                params![name],
                row,
            )
            .optional()?)
    }

    pub fn credentials(&self) -> Result<Vec<CredentialRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM credentials ORDER BY name"))?;
        let rows = stmt
            .query_map([], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Replace the sealed secret; false if there is no such credential.
    pub fn credential_rotate(&self, name: &str, sealed: &[u8]) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE credentials SET sealed = ?2, rotated_at = ?3 WHERE name = ?1",
            params![name, sealed, now_ms()],
        )?;
        Ok(n == 1)
    }

    pub fn credential_delete(&self, name: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM credentials WHERE name = ?1", params![name])?;
        Ok(n == 1)
    }
}
