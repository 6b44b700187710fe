//! Every metric Herald exports, in one place. Label values come from small
//! closed sets (target names and kinds, error classes, skip reasons, plugin
//! functions), never from alert labels.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Metric names, as dashboards know them.
pub mod names {
    pub const PUBLISH_DURATION: &str = "parallel_publish_duration_seconds";
    pub const PUBLISH_TOTAL: &str = "parallel_publish_total";
    pub const PUBLISH_SUCCESS: &str = "parallel_publish_success_total";
    pub const PUBLISH_PARTIAL: &str = "parallel_publish_partial_success_total";
    pub const PUBLISH_FAILURE: &str = "parallel_publish_failure_total";
    pub const TARGETS_TOTAL: &str = "parallel_publish_targets_total";
    pub const TARGETS_SUCCESS: &str = "parallel_publish_targets_success";
    pub const TARGETS_FAILURE: &str = "parallel_publish_targets_failure";
    pub const TARGETS_SKIPPED: &str = "parallel_publish_targets_skipped";
    /// The name is kept from the original system for dashboard compatibility.
    pub const IN_FLIGHT: &str = "parallel_publish_goroutines";
    pub const PLUGIN_INVOCATIONS: &str = "plugin_invocations_total";
    pub const PLUGIN_DURATION: &str = "plugin_invocation_duration_seconds";
}

/// The process's metrics.
pub struct Metrics {
    pub registry: Registry,
    pub publish_duration: Histogram,
    /// `result` = success | partial | failure | empty.
    pub publish_total: IntCounterVec,
    pub publish_success: IntCounter,
    pub publish_partial: IntCounter,
    pub publish_failure: IntCounter,
    pub targets_total: IntCounterVec,
    pub targets_success: IntCounterVec,
    pub targets_failure: IntCounterVec,
    pub targets_skipped: IntCounterVec,
    pub in_flight: IntGauge,
    pub plugin_invocations: IntCounterVec,
    pub plugin_invocation_duration: HistogramVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

impl Metrics {
    #[allow(clippy::expect_used)] // metric definitions are static; a failure is a programming error
    fn new() -> Self {
        use names::*;
        let registry = Registry::new();
        let publish_duration = Histogram::with_opts(
            HistogramOpts::new(
                PUBLISH_DURATION,
                "Duration of one publish to all its targets",
            )
            .buckets(vec![0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(publish_duration.clone()))
            .expect("unique metric");
        let in_flight =
            IntGauge::new(IN_FLIGHT, "Target deliveries in flight").expect("valid metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("unique metric");
        let plugin_invocation_duration = HistogramVec::new(
            HistogramOpts::new(PLUGIN_DURATION, "Duration of one call into a plugin").buckets(
                vec![
                    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                ],
            ),
            &["kind", "function"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(plugin_invocation_duration.clone()))
            .expect("unique metric");
        Self {
            publish_total: counter_vec(
                &registry,
                PUBLISH_TOTAL,
                "Publishes by result",
                &["result"],
            ),
            publish_success: counter(
                &registry,
                PUBLISH_SUCCESS,
                "Publishes where every attempted target succeeded",
            ),
            publish_partial: counter(
                &registry,
                PUBLISH_PARTIAL,
                "Publishes where some targets failed",
            ),
            publish_failure: counter(
                &registry,
                PUBLISH_FAILURE,
                "Publishes where no target succeeded",
            ),
            targets_total: counter_vec(
                &registry,
                TARGETS_TOTAL,
                "Target deliveries attempted, by kind",
                &["target_type"],
            ),
            targets_success: counter_vec(
                &registry,
                TARGETS_SUCCESS,
                "Successful deliveries per target",
                &["target_name"],
            ),
            targets_failure: counter_vec(
                &registry,
                TARGETS_FAILURE,
                "Failed deliveries per target and error class",
                &["target_name", "error_type"],
            ),
            targets_skipped: counter_vec(
                &registry,
                TARGETS_SKIPPED,
                "Skipped targets per reason",
                &["target_name", "skip_reason"],
            ),
            plugin_invocations: counter_vec(
                &registry,
                PLUGIN_INVOCATIONS,
                "Calls into plugins by result (ok, trap, timeout, memory)",
                &["kind", "function", "result"],
            ),
            publish_duration,
            in_flight,
            plugin_invocation_duration,
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("cannot encode metrics: {e}");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}
