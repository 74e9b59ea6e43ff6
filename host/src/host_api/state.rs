//! `drover:plugin/state`: per-plugin key/value storage in SQLite, within the
//! quotas documented in `wit/state.wit`. Writes and deletes are audited one
//! by one; reads (`get`, `list-keys`) are counted into one audit row per
//! plugin call.

use super::{Reach, record_audit};
use crate::runtime::HostState;
use crate::runtime::bindings::WitError;
use crate::runtime::bindings::import_manifests::drover::plugin::state::Host;
use crate::store::{StateError, StateQuota};
use std::time::Instant;

fn storage_error(e: impl std::fmt::Display) -> WitError {
    WitError::Internal(format!("state storage failed: {e}"))
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        let started = Instant::now();
        let result = self.db.state_get(&self.plugin, &key).map_err(storage_error);
        record_audit(self, "state", "get", &key, Reach::Read, &result, started);
        Ok(result)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), WitError>> {
        let started = Instant::now();
        let result = match self
            .db
            .state_set(&self.plugin, &key, &value, &StateQuota::DEFAULT)
        {
            Ok(()) => Ok(()),
            Err(StateError::Quota(m)) => Err(WitError::InvalidInput(format!("state quota: {m}"))),
            Err(StateError::Storage(e)) => Err(storage_error(e)),
        };
        record_audit(self, "state", "set", &key, Reach::Act, &result, started);
        Ok(result)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, WitError>> {
        let started = Instant::now();
        let result = self
            .db
            .state_delete(&self.plugin, &key)
            .map_err(storage_error);
        record_audit(self, "state", "delete", &key, Reach::Act, &result, started);
        Ok(result)
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, WitError>> {
        let started = Instant::now();
        let result = self
            .db
            .state_keys(&self.plugin, &prefix)
            .map_err(storage_error);
        record_audit(
            self,
            "state",
            "list-keys",
            &prefix,
            Reach::Read,
            &result,
            started,
        );
        Ok(result)
    }
}
