//! `drover:plugin/state`: per-plugin key/value storage in SQLite, within the
//! quotas documented in `wit/state.wit`. Writes and deletes are audited one
//! by one; reads (`get`, `list-keys`) are counted into one audit row per
//! plugin call.

use super::{Reach, audited};
use crate::runtime::HostState;
use crate::runtime::bindings::WitError;
use crate::runtime::bindings::import_manifests::drover::plugin::state::Host;
use crate::store::{StateError, StateQuota};

fn storage_error(e: impl std::fmt::Display) -> WitError {
    WitError::Internal(format!("state storage failed: {e}"))
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        Ok(audited(self, "state", "get", &key, Reach::Read, |s| {
            s.db.state_get(&s.plugin, &key).map_err(storage_error)
        }))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        Ok(audited(
            self,
            "state",
            "set",
            &key,
            Reach::Act,
            |s| match s
                .db
                .state_set(&s.plugin, &key, &value, &StateQuota::DEFAULT)
            {
                Ok(()) => Ok(()),
                Err(StateError::Quota(m)) => {
                    Err(WitError::InvalidInput(format!("state quota: {m}")))
                }
                Err(StateError::Storage(e)) => Err(storage_error(e)),
            },
        ))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, WitError>> {
        Ok(audited(self, "state", "delete", &key, Reach::Act, |s| {
            s.db.state_delete(&s.plugin, &key).map_err(storage_error)
        }))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        Ok(audited(
            self,
            "state",
            "list-keys",
            &prefix,
            Reach::Read,
            |s| s.db.state_keys(&s.plugin, &prefix).map_err(storage_error),
        ))
    }
}
