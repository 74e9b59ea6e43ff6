//! `drover:plugin/log`: structured records into the daemon's `tracing` log,
//! tagged with the plugin, bounded per call. Control characters are escaped,
//! so a plugin cannot forge log lines or reach the operator's terminal.

use crate::runtime::HostState;
use crate::runtime::bindings::import_manifests::drover::plugin::log::{Field, Host, Level};
use crate::text::one_line;

/// Longest message kept; the rest is cut.
const MAX_MESSAGE: usize = 4096;
/// Fields kept per record, and the longest field value.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_VALUE: usize = 1024;

impl Host for HostState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<Field>,
    ) -> wasmtime::Result<()> {
        // A record the daemon's log filter drops costs nothing; one that
        // cannot fit the call's budget (its message alone, escaped and cut,
        // is at least this long) is counted, not formatted.
        let enabled = match level {
            Level::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        };
        if !enabled {
            return Ok(());
        }
        if !self.log.has_room(message.len().min(MAX_MESSAGE)) {
            self.log.reject();
            return Ok(());
        }
        let message = one_line(&message, MAX_MESSAGE);
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|f| {
                format!(
                    "{}={}",
                    one_line(&f.key, 64),
                    one_line(&f.value, MAX_FIELD_VALUE)
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        if !self.log.take(message.len() + fields.len()) {
            return Ok(());
        }
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
