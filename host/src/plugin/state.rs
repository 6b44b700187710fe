//! The adapters' memory between calls (Rootly ids, Slack `ts`), scoped to
//! (target name, fingerprint) so that no adapter can see another target's entries.
//!
//! A delivery reads through [`StateStore::get`] and stages its writes; the
//! writes are applied together with [`StateStore::apply`] when the delivery ends,
//! so a delivery that traps halfway leaves the state as it was.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whose state: one target's view of one alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateScope {
    pub target: String,
    pub fingerprint: String,
}

impl StateScope {
    /// The scope for `target` delivering the alert `fingerprint`.
    pub fn new(target: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            fingerprint: fingerprint.into(),
        }
    }
}

/// One staged write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Set {
        key: String,
        value: String,
        /// Zero means the store's maximum.
        ttl: Duration,
    },
    Remove {
        key: String,
    },
}

/// Where adapter state lives. Implementations must be cheap to read on the publish path.
pub trait StateStore: Send + Sync + 'static {
    /// The live value of `key` in `scope`, if any and not expired.
    fn get(&self, scope: &StateScope, key: &str) -> Option<String>;
    /// Applies a delivery's staged writes, in order, atomically.
    fn apply(&self, scope: &StateScope, changes: &[StateChange]);
    /// Every live entry of a scope (for tests and the case runner).
    fn entries(&self, scope: &StateScope) -> Vec<(String, String)>;
}

/// The longest an entry lives, and what a TTL of zero means.
pub const MAX_STATE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// One scope's entries: key → (value, expiry).
type ScopeEntries = HashMap<String, (String, Instant)>;

/// An in-process store with TTLs: state lives as long as the process.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<HashMap<StateScope, ScopeEntries>>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn expiry(ttl: Duration) -> Instant {
    let ttl = if ttl.is_zero() || ttl > MAX_STATE_TTL {
        MAX_STATE_TTL
    } else {
        ttl
    };
    Instant::now() + ttl
}

impl StateStore for MemoryStateStore {
    fn get(&self, scope: &StateScope, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (value, until) = entries.get(scope)?.get(key)?;
        (*until > Instant::now()).then(|| value.clone())
    }

    fn apply(&self, scope: &StateScope, changes: &[StateChange]) {
        if changes.is_empty() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let map = entries.entry(scope.clone()).or_default();
        let now = Instant::now();
        map.retain(|_, (_, until)| *until > now);
        for change in changes {
            match change {
                StateChange::Set { key, value, ttl } => {
                    map.insert(key.clone(), (value.clone(), expiry(*ttl)));
                }
                StateChange::Remove { key } => {
                    map.remove(key);
                }
            }
        }
        if map.is_empty() {
            entries.remove(scope);
        }
    }

    fn entries(&self, scope: &StateScope) -> Vec<(String, String)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut out: Vec<_> = entries
            .get(scope)
            .map(|m| {
                m.iter()
                    .filter(|(_, (_, until))| *until > now)
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}
