//! `drover:plugin/log`: structured records into the daemon's `tracing` log,
//! tagged with the plugin, bounded per call.

use crate::runtime::HostState;
use crate::runtime::bindings::import_manifests::drover::plugin::log::{Field, Host, Level};

/// Longest message kept; the rest is cut.
const MAX_MESSAGE: usize = 4096;
/// Fields kept per record, and the longest field value.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_VALUE: usize = 1024;

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Host for HostState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<Field>,
    ) -> wasmtime::Result<()> {
        if self.log_budget == 0 {
            self.log_dropped += 1;
            return Ok(());
        }
        self.log_budget -= 1;
        let message = clip(&message, MAX_MESSAGE);
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|f| format!("{}={}", clip(&f.key, 64), clip(&f.value, MAX_FIELD_VALUE)))
            .collect::<Vec<_>>()
            .join(" ");
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, fields, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, fields, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, fields, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, fields, "{message}"),
        }
        Ok(())
    }
}
