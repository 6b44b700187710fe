//! One target's circuit breaker: closed → open after N consecutive failed
//! deliveries; open refuses until its cool-down ends; then half-open lets
//! exactly one trial through at a time; M successful trials close it, a
//! failed one reopens it with the cool-down doubled (up to a cap).
//!
//! The whole state the publish path reads is one `AtomicU64`: `admit` is a
//! load when closed, a load and a compare when open, and one compare-and-swap
//! for the transitions it makes itself (open → half-open, taking the trial).
//! `record` serialises its bookkeeping behind a mutex and publishes each
//! transition with a compare-and-swap, so it can race `admit` safely.
//!
//! Times are nanoseconds on the registry's clock (see `registry::Clock`), so
//! the logic is testable with explicit times and with a paused tokio clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use serde::Serialize;

use super::Verdict;
use super::config::BreakerConfig;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Deliveries go through; failures are counted.
    Closed,
    /// One trial delivery at a time goes through.
    HalfOpen,
    /// Deliveries are refused until the cool-down ends.
    Open,
}

impl BreakerState {
    /// The `circuit_breaker_state` gauge value: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    /// `closed`, `half_open` or `open` (also the `to` label of transitions).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    fn bits(self) -> u64 {
        self.as_gauge() as u64
    }

    fn from_bits(bits: u64) -> Self {
        match bits & STATE_MASK {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        }
    }
}

const STATE_MASK: u64 = 0b11;
const TRIAL: u64 = 0b100;
const SHIFT: u32 = 3;

/// The packed word: bits 0–1 the state, bit 2 "a trial is out", bits 3–63 a
/// deadline in nanoseconds (open: when the cool-down ends; half-open with a
/// trial out: when that trial stops blocking the next one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word {
    state: BreakerState,
    trial: bool,
    deadline: u64,
}

impl Word {
    fn pack(self) -> u64 {
        (self.deadline.min(u64::MAX >> SHIFT) << SHIFT)
            | if self.trial { TRIAL } else { 0 }
            | self.state.bits()
    }

    fn unpack(w: u64) -> Self {
        Self {
            state: BreakerState::from_bits(w),
            trial: w & TRIAL != 0,
            deadline: w >> SHIFT,
        }
    }

    const CLOSED: Word = Word {
        state: BreakerState::Closed,
        trial: false,
        deadline: 0,
    };
}

/// Counts that only `record` touches.
#[derive(Debug)]
struct Books {
    /// Failed deliveries in a row while closed.
    consecutive_failures: u32,
    /// Successful trials in a row while half-open.
    trial_successes: u32,
    /// The cool-down of the current (or next) opening.
    cool_down: Duration,
    /// How many times the breaker has opened.
    opened: u64,
}

/// The breaker's metric series, resolved once so transitions cost atomic ops only.
pub(crate) struct BreakerMetrics {
    pub(crate) state: IntGauge,
    pub(crate) to_closed: IntCounter,
    pub(crate) to_half_open: IntCounter,
    pub(crate) to_open: IntCounter,
}

/// One target's circuit breaker.
pub(crate) struct Breaker {
    word: AtomicU64,
    books: Mutex<Books>,
    config: BreakerConfig,
    /// The target's name, for log lines.
    target: std::sync::Arc<str>,
    metrics: Option<BreakerMetrics>,
}

/// What `record` decided, applied only once its compare-and-swap succeeded.
enum Plan {
    Keep,
    Move(Word),
}

/// A serializable view of a breaker, for the admin API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// Failed deliveries in a row while closed.
    pub consecutive_failures: u32,
    /// Successful trials so far while half-open.
    pub trial_successes: u32,
    /// The cool-down of the current (or next) opening, in milliseconds.
    pub cool_down_ms: u64,
    /// While open: milliseconds until a trial is let through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// How many times the breaker has opened.
    pub times_opened: u64,
}

impl Breaker {
    pub(crate) fn new(
        config: BreakerConfig,
        target: std::sync::Arc<str>,
        metrics: Option<BreakerMetrics>,
    ) -> Self {
        if let Some(m) = &metrics {
            m.state.set(BreakerState::Closed.as_gauge());
        }
        Self {
            word: AtomicU64::new(Word::CLOSED.pack()),
            books: Mutex::new(Books {
                consecutive_failures: 0,
                trial_successes: 0,
                cool_down: config.cool_down,
                opened: 0,
            }),
            config,
            target,
            metrics,
        }
    }

    /// The state as of `now` (an open breaker past its cool-down reads as
    /// half-open, which the next `admit` makes true).
    pub(crate) fn state(&self, now: u64) -> BreakerState {
        let w = Word::unpack(self.word.load(Ordering::Acquire));
        match w.state {
            BreakerState::Open if now >= w.deadline => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Lets one delivery through, or refuses it. Never blocks: a load when
    /// closed, a compare when open, a compare-and-swap to take the one trial.
    pub(crate) fn admit(&self, now: impl Fn() -> u64) -> bool {
        if !self.config.enabled {
            return true;
        }
        let mut current = self.word.load(Ordering::Acquire);
        // Read the clock only when not closed: the common case stays one load.
        let mut now_cache = None;
        loop {
            let w = Word::unpack(current);
            if w.state == BreakerState::Closed {
                return true;
            }
            let now = *now_cache.get_or_insert_with(&now);
            let blocked = match w.state {
                BreakerState::Open => now < w.deadline,
                _ => w.trial && now < w.deadline,
            };
            if blocked {
                return false;
            }
            let next = Word {
                state: BreakerState::HalfOpen,
                trial: true,
                deadline: now.saturating_add(nanos(self.config.trial_timeout)),
            };
            match self.word.compare_exchange_weak(
                current,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if w.state == BreakerState::Open {
                        self.transitioned(BreakerState::HalfOpen);
                    }
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Accounts for one delivery's outcome at `now`.
    ///
    /// Outcomes that arrive while open, or while half-open with no trial out,
    /// belong to deliveries admitted before the breaker opened; they are
    /// ignored, so only the trial decides what a half-open breaker does.
    pub(crate) fn record(&self, verdict: Verdict, now: u64) {
        if !self.config.enabled {
            return;
        }
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let current = self.word.load(Ordering::Acquire);
            let w = Word::unpack(current);
            let half_open_trial = w.state == BreakerState::HalfOpen && w.trial;
            let plan = match verdict {
                // Not a verdict on the target: give the trial back untouched.
                Verdict::NotAttempted | Verdict::Neutral if half_open_trial => Plan::Move(Word {
                    trial: false,
                    deadline: 0,
                    ..w
                }),
                Verdict::NotAttempted | Verdict::Neutral => Plan::Keep,
                Verdict::Success if w.state == BreakerState::Closed => {
                    books.consecutive_failures = 0;
                    Plan::Keep
                }
                Verdict::Failure if w.state == BreakerState::Closed => {
                    if books.consecutive_failures.saturating_add(1) >= self.config.failure_threshold
                    {
                        Plan::Move(Word {
                            state: BreakerState::Open,
                            trial: false,
                            deadline: now.saturating_add(nanos(self.config.cool_down)),
                        })
                    } else {
                        books.consecutive_failures += 1;
                        Plan::Keep
                    }
                }
                Verdict::Success if half_open_trial => {
                    if books.trial_successes.saturating_add(1) >= self.config.success_threshold {
                        Plan::Move(Word::CLOSED)
                    } else {
                        Plan::Move(Word {
                            trial: false,
                            deadline: 0,
                            ..w
                        })
                    }
                }
                Verdict::Failure if half_open_trial => {
                    let doubled = books
                        .cool_down
                        .saturating_mul(2)
                        .min(self.config.max_cool_down);
                    Plan::Move(Word {
                        state: BreakerState::Open,
                        trial: false,
                        deadline: now.saturating_add(nanos(doubled)),
                    })
                }
                Verdict::Success | Verdict::Failure => Plan::Keep,
            };
            let Plan::Move(next) = plan else { return };
            if self
                .word
                .compare_exchange(current, next.pack(), Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // `admit` moved it meanwhile (took a trial); decide again.
                continue;
            }
            match (w.state, next.state) {
                (BreakerState::Closed, BreakerState::Open) => {
                    books.consecutive_failures = 0;
                    books.trial_successes = 0;
                    books.cool_down = self.config.cool_down;
                    books.opened += 1;
                    tracing::warn!(
                        target = %self.target,
                        failures = self.config.failure_threshold,
                        cool_down_ms = books.cool_down.as_millis() as u64,
                        "circuit breaker opened after consecutive failed deliveries"
                    );
                    self.transitioned(BreakerState::Open);
                }
                (BreakerState::HalfOpen, BreakerState::Open) => {
                    books.cool_down = books
                        .cool_down
                        .saturating_mul(2)
                        .min(self.config.max_cool_down);
                    books.trial_successes = 0;
                    books.opened += 1;
                    tracing::warn!(
                        target = %self.target,
                        cool_down_ms = books.cool_down.as_millis() as u64,
                        "circuit breaker reopened: the trial delivery failed"
                    );
                    self.transitioned(BreakerState::Open);
                }
                (BreakerState::HalfOpen, BreakerState::Closed) => {
                    books.trial_successes = 0;
                    books.consecutive_failures = 0;
                    books.cool_down = self.config.cool_down;
                    tracing::info!(target = %self.target, "circuit breaker closed: trial deliveries succeeded");
                    self.transitioned(BreakerState::Closed);
                }
                (BreakerState::HalfOpen, BreakerState::HalfOpen) if verdict == Verdict::Success => {
                    books.trial_successes += 1;
                }
                _ => {}
            }
            return;
        }
    }

    /// The serializable view as of `now`.
    pub(crate) fn snapshot(&self, now: u64) -> BreakerSnapshot {
        let books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        let w = Word::unpack(self.word.load(Ordering::Acquire));
        let state = self.state(now);
        BreakerSnapshot {
            state,
            consecutive_failures: books.consecutive_failures,
            trial_successes: books.trial_successes,
            cool_down_ms: books.cool_down.as_millis() as u64,
            retry_in_ms: (w.state == BreakerState::Open && now < w.deadline)
                .then(|| (w.deadline - now) / 1_000_000),
            times_opened: books.opened,
        }
    }

    fn transitioned(&self, to: BreakerState) {
        if let Some(m) = &self.metrics {
            m.state.set(to.as_gauge());
            match to {
                BreakerState::Closed => m.to_closed.inc(),
                BreakerState::HalfOpen => m.to_half_open.inc(),
                BreakerState::Open => m.to_open.inc(),
            }
        }
    }
}

/// A duration in clock nanoseconds (saturating at about 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
