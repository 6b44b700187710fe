//! Every metric Herald exports, in one place. Label values come from small
//! closed sets (target names and kinds, error classes, skip reasons, plugin
//! functions), never from alert labels.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
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
    /// Counters whose names lack `_total` for compatibility; exposed as `untyped`.
    pub const UNTYPED_COUNTERS: &[&str] = &[TARGETS_SUCCESS, TARGETS_FAILURE, TARGETS_SKIPPED];
    pub const PLUGIN_INVOCATIONS: &str = "plugin_invocations_total";
    pub const PLUGIN_DURATION: &str = "plugin_invocation_duration_seconds";
    pub const PLUGIN_RELOADS: &str = "plugin_reloads_total";
    pub const TARGET_RELOADS: &str = "target_reloads_total";
    pub const TARGET_HEALTH_STATUS: &str = "target_health_status";
    pub const HEALTH_CHECKS: &str = "health_checks_total";
    pub const HEALTH_CHECK_DURATION: &str = "health_check_duration_seconds";
    pub const CIRCUIT_BREAKER_STATE: &str = "circuit_breaker_state";
    pub const CIRCUIT_BREAKER_TRANSITIONS: &str = "circuit_breaker_transitions_total";
    pub const QUEUE_DEPTH: &str = "queue_depth";
    pub const QUEUE_ENQUEUED: &str = "queue_enqueued_total";
    pub const QUEUE_RETRIES: &str = "queue_retries_total";
    pub const QUEUE_OLDEST_JOB_AGE: &str = "queue_oldest_job_age_seconds";
    pub const DLQ_SIZE: &str = "dlq_size";
    pub const DLQ_WRITES: &str = "dlq_writes_total";
    pub const DLQ_REPLAYS: &str = "dlq_replays_total";
    pub const STORE_COMMIT_DURATION: &str = "store_commit_duration_seconds";
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
    /// 0 unknown, 1 healthy, 2 degraded, 3 unhealthy; `{target_name,target_type}`.
    pub target_health_status: IntGaugeVec,
    /// Active probes by `{target_name,result}` (result = success | failure).
    pub health_checks: IntCounterVec,
    pub health_check_duration: Histogram,
    /// 0 closed, 1 half-open, 2 open; `{target_name}`.
    pub circuit_breaker_state: IntGaugeVec,
    /// `{target_name,to}` (to = closed | half_open | open).
    pub circuit_breaker_transitions: IntCounterVec,
    /// `result` = ok | rejected | unloaded.
    pub plugin_reloads: IntCounterVec,
    /// `result` = ok | problems.
    pub target_reloads: IntCounterVec,
    /// Durable queue units by `{class,state}` (class = critical | firing | low;
    /// state = ready | in_flight | blocked | retry | held | parked).
    pub queue_depth: IntGaugeVec,
    /// Alerts accepted into the durable queue.
    pub queue_enqueued: IntCounter,
    /// Retries scheduled after a failed attempt, `{target_name}`.
    pub queue_retries: IntCounterVec,
    /// Age of the oldest alert waiting in the durable queue.
    pub queue_oldest_job_age: prometheus::Gauge,
    /// Dead letters held, `{target_name}`.
    pub dlq_size: IntGaugeVec,
    /// Dead letters written, `{target_name,error_class}`.
    pub dlq_writes: IntCounterVec,
    /// Dead-letter replays by `result` (ok | not_found | target_missing | queue_full | failed).
    pub dlq_replays: IntCounterVec,
    /// Duration of one group commit of the queue's store (fsync included).
    pub store_commit_duration: Histogram,
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
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
        let health_check_duration = Histogram::with_opts(
            HistogramOpts::new(HEALTH_CHECK_DURATION, "Duration of one active health probe")
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(health_check_duration.clone()))
            .expect("unique metric");
        Self {
            target_health_status: gauge_vec(
                &registry,
                TARGET_HEALTH_STATUS,
                "Target health: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy",
                &["target_name", "target_type"],
            ),
            health_checks: counter_vec(
                &registry,
                HEALTH_CHECKS,
                "Active health probes by result (success, failure)",
                &["target_name", "result"],
            ),
            health_check_duration,
            circuit_breaker_state: gauge_vec(
                &registry,
                CIRCUIT_BREAKER_STATE,
                "Circuit breaker state: 0 closed, 1 half-open, 2 open",
                &["target_name"],
            ),
            circuit_breaker_transitions: counter_vec(
                &registry,
                CIRCUIT_BREAKER_TRANSITIONS,
                "Circuit breaker transitions by the state entered (closed, half_open, open)",
                &["target_name", "to"],
            ),
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
            plugin_reloads: counter_vec(
                &registry,
                PLUGIN_RELOADS,
                "Plugin file loads by kind and result (ok, rejected, unloaded)",
                &["kind", "result"],
            ),
            target_reloads: counter_vec(
                &registry,
                TARGET_RELOADS,
                "Target set reloads by result (ok, problems)",
                &["result"],
            ),
            queue_depth: gauge_vec(
                &registry,
                QUEUE_DEPTH,
                "Durable queue units by class and state",
                &["class", "state"],
            ),
            queue_enqueued: counter(
                &registry,
                QUEUE_ENQUEUED,
                "Alerts accepted into the durable queue",
            ),
            queue_retries: counter_vec(
                &registry,
                QUEUE_RETRIES,
                "Retries scheduled after a failed delivery attempt",
                &["target_name"],
            ),
            queue_oldest_job_age: {
                let g = prometheus::Gauge::new(
                    QUEUE_OLDEST_JOB_AGE,
                    "Age of the oldest alert waiting in the durable queue",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            dlq_size: gauge_vec(
                &registry,
                DLQ_SIZE,
                "Dead letters held per target",
                &["target_name"],
            ),
            dlq_writes: counter_vec(
                &registry,
                DLQ_WRITES,
                "Dead letters written per target and error class",
                &["target_name", "error_class"],
            ),
            dlq_replays: counter_vec(
                &registry,
                DLQ_REPLAYS,
                "Dead-letter replays by result",
                &["result"],
            ),
            store_commit_duration: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        STORE_COMMIT_DURATION,
                        "Duration of one group commit of the queue store",
                    )
                    .buckets(vec![
                        0.000_1, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                    ]),
                )
                .expect("valid metric");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            publish_duration,
            in_flight,
            plugin_invocation_duration,
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    ///
    /// The per-target counters keep their historical names without `_total`
    /// (dashboards use them); they are declared `untyped` so that the
    /// exposition passes `promtool check metrics`, whose lint requires the
    /// suffix on anything typed `counter`.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("cannot encode metrics: {e}");
        }
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        for name in names::UNTYPED_COUNTERS {
            text = text.replace(
                &format!("# TYPE {name} counter\n"),
                &format!("# TYPE {name} untyped\n"),
            );
        }
        text
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}
