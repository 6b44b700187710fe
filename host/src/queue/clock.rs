//! The queue's one clock. Scheduling runs on tokio's [`Instant`] (so a paused
//! test clock drives it); what is persisted is wall-clock time in
//! milliseconds since the Unix epoch, because it must survive a restart.
//! Wall time is derived from the monotonic clock and the wall time read at
//! start, so both move together, also under a paused clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Monotonic and wall time from one origin.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Wall time at `mono0`, in ms since the epoch.
    wall0_ms: u64,
    mono0: Instant,
}

impl Clock {
    /// The system's clock: wall time read now.
    pub fn system() -> Self {
        let wall0_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self::starting_at(wall0_ms)
    }

    /// A clock whose wall time is `wall0_ms` now (tests pick their own epoch).
    pub fn starting_at(wall0_ms: u64) -> Self {
        Self {
            wall0_ms,
            mono0: Instant::now(),
        }
    }

    /// Now, for scheduling.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Now, in ms since the epoch, for persisting.
    pub fn wall_ms(&self) -> u64 {
        self.wall_ms_at(Instant::now())
    }

    /// The wall time of a scheduling instant.
    pub fn wall_ms_at(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.mono0);
        self.wall0_ms.saturating_add(d.as_millis() as u64)
    }

    /// The scheduling instant of a persisted wall time; times before this
    /// clock started map to its start (they are due).
    pub fn instant_of(&self, wall_ms: u64) -> Instant {
        self.mono0 + Duration::from_millis(wall_ms.saturating_sub(self.wall0_ms))
    }
}

/// A persisted time as a timestamp for people.
pub fn to_datetime(ms: u64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default()
}
