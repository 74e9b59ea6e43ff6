//! The AKS inventory: every cluster discovery has found, keyed by its ARM id
//! (lower-cased: ARM spells ids with varying case), with when it was first
//! and last seen and, if a later full discovery of its subscription no longer
//! found it, since when it is missing.

use super::{Store, now_ms};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};

/// One inventory row; `data` is the cluster as discovery described it (JSON).
#[derive(Debug, Clone)]
pub struct AksRow {
    pub id: String,
    pub credential: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    pub data: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub missing_since: Option<i64>,
}

/// What one discovery changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryChange {
    pub new: u64,
    pub updated: u64,
    /// Clusters no longer found in a fully searched subscription.
    pub missing: u64,
}

const COLUMNS: &str = "id, credential, subscription_id, resource_group, name, data, \
                       first_seen, last_seen, missing_since";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AksRow> {
    Ok(AksRow {
        id: r.get(0)?,
        credential: r.get(1)?,
        subscription_id: r.get(2)?,
        resource_group: r.get(3)?,
        name: r.get(4)?,
        data: r.get(5)?,
        first_seen: r.get(6)?,
        last_seen: r.get(7)?,
        missing_since: r.get(8)?,
    })
}

impl Store {
    /// Record one discovery in one transaction: upsert what was found, and
    /// in `complete_subscriptions` (searched in full, without filters) mark
    /// what was not found as missing. Nothing else is touched. Returns the
    /// change and the found clusters as now stored (first and last seen).
    pub fn aks_record(
        &self,
        credential: &str,
        found: &[AksRow],
        complete_subscriptions: &[String],
    ) -> Result<(InventoryChange, Vec<AksRow>)> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut change = InventoryChange::default();
        let mut seen = std::collections::HashSet::new();
        let mut stored = Vec::with_capacity(found.len());
        for c in found {
            let key = c.id.to_ascii_lowercase();
            let existed: bool = tx
                .query_row(
                    "SELECT 1 FROM aks_clusters WHERE key = ?1",
                    params![key],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            let row = tx.query_row(
                &format!(
                    "INSERT INTO aks_clusters (key, id, credential, subscription_id, resource_group,
                                               name, data, first_seen, last_seen, missing_since)
                     VALUES (?1, ?2, ?3, lower(?4), ?5, ?6, ?7, ?8, ?8, NULL)
                     ON CONFLICT(key) DO UPDATE SET
                        id = excluded.id, credential = excluded.credential,
                        subscription_id = excluded.subscription_id,
                        resource_group = excluded.resource_group, name = excluded.name,
                        data = excluded.data, last_seen = excluded.last_seen, missing_since = NULL
                     RETURNING {COLUMNS}"
                ),
                params![
                    key,
                    c.id,
                    credential,
                    c.subscription_id,
                    c.resource_group,
                    c.name,
                    c.data,
                    now
                ],
                row,
            )?;
            stored.push(row);
            if existed {
                change.updated += 1;
            } else {
                change.new += 1;
            }
            seen.insert(key);
        }
        for sub in complete_subscriptions {
            let mut stmt = tx.prepare(
                "SELECT key FROM aks_clusters WHERE subscription_id = lower(?1)
                 AND missing_since IS NULL",
            )?;
            let keys: Vec<String> = stmt
                .query_map(params![sub], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            for key in keys.into_iter().filter(|k| !seen.contains(k)) {
                tx.execute(
                    "UPDATE aks_clusters SET missing_since = ?2 WHERE key = ?1",
                    params![key, now],
                )?;
                change.missing += 1;
            }
        }
        tx.commit()?;
        Ok((change, stored))
    }

    /// The inventory, optionally narrowed; ordered by subscription, group, name.
    pub fn aks_list(
        &self,
        subscription: Option<&str>,
        resource_group: Option<&str>,
    ) -> Result<Vec<AksRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM aks_clusters
             WHERE (?1 IS NULL OR subscription_id = lower(?1))
               AND (?2 IS NULL OR lower(resource_group) = lower(?2))
             ORDER BY subscription_id, lower(resource_group), name"
        ))?;
        let rows = stmt
            .query_map(params![subscription, resource_group], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Clusters whose ARM id (any case) or name is `key`.
    pub fn aks_find(&self, key: &str) -> Result<Vec<AksRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM aks_clusters WHERE key = lower(?1) OR name = ?1 ORDER BY key"
        ))?;
        let rows = stmt
            .query_map(params![key], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, sub: &str) -> AksRow {
        AksRow {
            id: id.into(),
            credential: "prod".into(),
            subscription_id: sub.into(),
            resource_group: "rg".into(),
            name: id.rsplit('/').next().unwrap().into(),
            data: "{}".into(),
            first_seen: 0,
            last_seen: 0,
            missing_since: None,
        }
    }

    #[test]
    fn rediscovery_updates_and_marks_the_missing() {
        let s = Store::open(std::path::Path::new(":memory:")).unwrap();
        let a = c("/subscriptions/S1/resourcegroups/rg/x/a", "S1");
        let b = c("/subscriptions/S1/resourcegroups/rg/x/b", "S1");
        let z = c("/subscriptions/s2/resourcegroups/rg/x/z", "s2");
        let (change, stored) = s
            .aks_record("prod", &[a.clone(), b.clone(), z.clone()], &["S1".into()])
            .unwrap();
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[0].first_seen, stored[0].last_seen);
        assert_eq!(change.new, 3);
        let first = s.aks_find("a").unwrap()[0].first_seen;
        // b disappeared from S1; s2 failed this time (not complete), so z stays.
        let mut a_upper = a.clone();
        a_upper.id = a.id.to_uppercase();
        let (change, stored) = s.aks_record("prod", &[a_upper], &["s1".into()]).unwrap();
        assert_eq!(stored[0].first_seen, first);
        assert_eq!(
            change,
            InventoryChange {
                new: 0,
                updated: 1,
                missing: 1
            }
        );
        let rows = s.aks_list(None, None).unwrap();
        assert_eq!(rows.len(), 3);
        let get = |n: &str| rows.iter().find(|r| r.name == n).unwrap().clone();
        assert!(get("b").missing_since.is_some());
        assert!(get("z").missing_since.is_none());
        assert_eq!(get("a").first_seen, first);
        assert_eq!(s.aks_list(Some("S2"), None).unwrap().len(), 1);
        // Found again: no longer missing.
        s.aks_record("prod", &[b], &[]).unwrap();
        assert!(s.aks_find("b").unwrap()[0].missing_since.is_none());
    }
}
