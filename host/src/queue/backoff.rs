//! Retry delays: exponential backoff with full jitter, `Retry-After`
//! honoured up to the cap, and the small random source behind the jitter.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

use super::settings::RetryPolicy;

/// The ceiling of the delay after failed attempt `attempt` (1-based):
/// `min(max_delay, initial * factor^(attempt-1))`.
pub fn ceiling(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(1024) as i32;
    let secs = policy.initial.as_secs_f64() * policy.factor.powi(exp);
    let cap = policy.max_delay.as_secs_f64();
    if !secs.is_finite() || secs >= cap {
        policy.max_delay
    } else {
        Duration::from_secs_f64(secs)
    }
}

/// The delay before the next attempt after failed attempt `attempt`: a point
/// `unit` (in `[0, 1)`) of the way up to the ceiling (full jitter), or the
/// target's `retry_after` when that is longer, never past `max_delay`.
pub fn delay(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    let jittered = ceiling(policy, attempt).mul_f64(unit.clamp(0.0, 1.0));
    let hinted = retry_after.unwrap_or_default().min(policy.max_delay);
    jittered.max(hinted)
}

/// A small, fast random source (SplitMix64) for jitter; not for secrets.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// Seeded from `seed`, or from the OS's per-process random keys.
    pub fn new(seed: Option<u64>) -> Self {
        let state = seed.unwrap_or_else(|| {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(0x5eed);
            h.finish()
        });
        Self { state }
    }

    /// The next number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
