//! The sandbox's limits, with the defaults the daemon uses.

use std::time::Duration;

/// Limits applied to every plugin call and to what a plugin may ask for.
#[derive(Debug, Clone)]
pub struct RuntimeLimits {
    /// Linear memory one instance may grow to; growing past it fails and
    /// the call ends as a `permanent` error.
    pub memory_cap: usize,
    /// Wall-clock budget of a single export call (`prepare`, `handle-response`, ...).
    pub call_timeout: Duration,
    /// How often the epoch ticks; a runaway call is stopped within one tick
    /// after its deadline, and yields to the executor at every tick.
    pub epoch_tick: Duration,
    /// Largest request body a plugin may ask the host to send.
    pub max_request_body: usize,
    /// Largest response body handed back to a plugin (longer bodies are cut).
    pub max_response_body: usize,
    /// Requests one delivery may chain (`handle-response` returning `send`).
    pub max_requests_per_delivery: usize,
    /// Instances that may exist at once; sizes the pooling allocator and the
    /// semaphore in front of it.
    pub max_instances: u32,
    /// Longest state key and value, and most state writes per delivery.
    pub max_state_key: usize,
    pub max_state_value: usize,
    pub max_state_writes: usize,
    /// Most `log` lines one call may write (more are dropped and counted), and their length.
    pub max_log_lines: u32,
    pub max_log_line: usize,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            memory_cap: 64 << 20,
            call_timeout: Duration::from_secs(1),
            epoch_tick: Duration::from_millis(10),
            max_request_body: 1 << 20,
            max_response_body: 1 << 20,
            max_requests_per_delivery: 4,
            max_instances: 256,
            max_state_key: 256,
            max_state_value: 64 << 10,
            max_state_writes: 64,
            max_log_lines: 64,
            max_log_line: 4096,
        }
    }
}

impl RuntimeLimits {
    /// Rejects limits that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_cap < (1 << 20) {
            return Err("plugin memory cap must be at least 1 MiB".into());
        }
        if self.call_timeout < self.epoch_tick {
            return Err("plugin call timeout must be at least one epoch tick".into());
        }
        if self.epoch_tick.is_zero() {
            return Err("epoch tick must be positive".into());
        }
        if self.max_instances == 0 {
            return Err("max_instances must be positive".into());
        }
        if self.max_requests_per_delivery == 0 {
            return Err("max_requests_per_delivery must be positive".into());
        }
        Ok(())
    }
}
