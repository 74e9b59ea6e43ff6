//! Prometheus metrics, served at `/metrics`: plugin calls by plugin and
//! outcome, call latency, limit hits, reloads, operations by kind and status,
//! and API requests.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub plugin: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub plugin: String,
    pub limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub kind: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

/// Every metric the daemon exports. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub plugin_calls: Family<CallLabels, Counter>,
    pub plugin_call_seconds: Family<PluginLabels, Histogram>,
    pub limit_hits: Family<LimitLabels, Counter>,
    pub reloads: Family<CallLabels, Counter>,
    pub operations: Family<OpLabels, Gauge>,
    pub api_requests: Family<RequestLabels, Counter>,
    /// Calls running now, per plugin.
    pub plugin_calls_in_flight: Family<PluginLabels, Gauge>,
    /// Calls waiting for a concurrency slot or for guest memory, per plugin.
    pub plugin_calls_waiting: Family<PluginLabels, Gauge>,
    /// Guest memory (MiB) reserved by running calls, and the budget.
    pub guest_memory_reserved_mib: Gauge,
    pub guest_memory_budget_mib: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("drover");
        let plugin_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "plugin_calls",
            "Plugin calls by plugin and outcome (ok, plugin-error, cpu-limit, memory-limit, timeout, stack-overflow, busy, output-limit, panic, trap, instantiate)",
            plugin_calls.clone(),
        );
        let plugin_call_seconds = Family::<PluginLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00001, 4.0, 12))
        });
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call latency: fresh instance, call and teardown",
            plugin_call_seconds.clone(),
        );
        let limit_hits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "plugin_limit_hits",
            "Calls stopped by a limit (cpu, memory, timeout)",
            limit_hits.clone(),
        );
        let reloads = Family::<CallLabels, Counter>::default();
        registry.register(
            "plugin_reloads",
            "Plugin loads and reloads by outcome (loaded, failed)",
            reloads.clone(),
        );
        let operations = Family::<OpLabels, Gauge>::default();
        registry.register(
            "operations",
            "Operations by kind and status",
            operations.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by method, route and status",
            api_requests.clone(),
        );
        let plugin_calls_in_flight = Family::<PluginLabels, Gauge>::default();
        registry.register(
            "plugin_calls_in_flight",
            "Plugin calls running now",
            plugin_calls_in_flight.clone(),
        );
        let plugin_calls_waiting = Family::<PluginLabels, Gauge>::default();
        registry.register(
            "plugin_calls_waiting",
            "Plugin calls waiting for a concurrency slot or for guest memory",
            plugin_calls_waiting.clone(),
        );
        let guest_memory_reserved_mib = Gauge::default();
        registry.register(
            "guest_memory_reserved_mib",
            "Guest memory reserved by running plugin calls (each reserves its memory cap), MiB",
            guest_memory_reserved_mib.clone(),
        );
        let guest_memory_budget_mib = Gauge::default();
        registry.register(
            "guest_memory_budget_mib",
            "Guest memory all plugin calls running at once may reserve ([limits] guest_memory_mib), MiB",
            guest_memory_budget_mib.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            plugin_calls_in_flight,
            plugin_calls_waiting,
            guest_memory_reserved_mib,
            guest_memory_budget_mib,
            plugin_calls,
            plugin_call_seconds,
            limit_hits,
            reloads,
            operations,
            api_requests,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("cannot encode metrics: {e}");
        }
        out
    }

    pub fn plugin_call(&self, plugin: &str, outcome: &str, seconds: f64) {
        self.plugin_calls
            .get_or_create(&CallLabels {
                plugin: plugin.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.plugin_call_seconds
            .get_or_create(&PluginLabels {
                plugin: plugin.into(),
            })
            .observe(seconds);
        let limit = match outcome {
            "cpu-limit" => "cpu",
            "memory-limit" => "memory",
            "timeout" => "timeout",
            _ => return,
        };
        self.limit_hits
            .get_or_create(&LimitLabels {
                plugin: plugin.into(),
                limit: limit.into(),
            })
            .inc();
    }

    pub fn reload(&self, plugin: &str, outcome: &str) {
        self.reloads
            .get_or_create(&CallLabels {
                plugin: plugin.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_what_was_recorded() {
        let m = super::Metrics::new();
        m.plugin_call("p", "ok", 0.001);
        m.plugin_call("p", "cpu-limit", 0.5);
        m.reload("p", "failed");
        let text = m.encode();
        assert!(
            text.contains("drover_plugin_calls_total{plugin=\"p\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("drover_plugin_limit_hits_total{plugin=\"p\",limit=\"cpu\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("drover_plugin_reloads_total{plugin=\"p\",outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("drover_plugin_call_duration_seconds_bucket"),
            "{text}"
        );
    }
}
