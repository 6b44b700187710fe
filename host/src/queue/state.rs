//! The adapters' state (Rootly incident ids, Slack thread `ts`) kept in the
//! queue's store, so a resolve after a restart finds what the firing
//! remembered. Reads come from memory; writes update memory at once and are
//! queued to the store's writer, which commits them in order — before the
//! commit that records the delivery as done, so after a crash a delivery is
//! never marked done without the state it wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::clock::Clock;
use super::store::{Change, Writer};
use crate::plugin::state::MAX_STATE_TTL;
use crate::plugin::{StateChange, StateScope, StateStore};

/// Entries of one scope: key → (value, expires at ms).
type Entries = HashMap<String, (String, u64)>;

/// A [`StateStore`] persisted in the queue's store (see [`super::Store::state_store`]).
pub struct DurableStateStore {
    writer: Arc<Writer>,
    clock: Clock,
    /// Every live entry, by (target, fingerprint).
    entries: Mutex<HashMap<(String, String), Entries>>,
}

impl std::fmt::Debug for DurableStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStateStore").finish_non_exhaustive()
    }
}

impl DurableStateStore {
    pub(crate) fn new(
        writer: Arc<Writer>,
        clock: Clock,
        entries: HashMap<(String, String), Entries>,
    ) -> Self {
        Self {
            writer,
            clock,
            entries: Mutex::new(entries),
        }
    }

    fn key(scope: &StateScope) -> (String, String) {
        (scope.target.clone(), scope.fingerprint.clone())
    }
}

impl StateStore for DurableStateStore {
    fn get(&self, scope: &StateScope, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (value, expires) = entries.get(&Self::key(scope))?.get(key)?;
        (*expires > self.clock.wall_ms()).then(|| value.clone())
    }

    fn apply(&self, scope: &StateScope, changes: &[StateChange]) {
        if changes.is_empty() {
            return;
        }
        let now = self.clock.wall_ms();
        let mut writes = Vec::with_capacity(changes.len());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let map = entries.entry(Self::key(scope)).or_default();
        map.retain(|key, (_, expires)| {
            let live = *expires > now;
            if !live {
                writes.push(Change::DelState {
                    target: scope.target.clone(),
                    fingerprint: scope.fingerprint.clone(),
                    key: key.clone(),
                });
            }
            live
        });
        for change in changes {
            match change {
                StateChange::Set { key, value, ttl } => {
                    let ttl = if ttl.is_zero() || *ttl > MAX_STATE_TTL {
                        MAX_STATE_TTL
                    } else {
                        *ttl
                    };
                    let expires_ms = now.saturating_add(ttl.as_millis() as u64);
                    map.insert(key.clone(), (value.clone(), expires_ms));
                    writes.push(Change::PutState {
                        target: scope.target.clone(),
                        fingerprint: scope.fingerprint.clone(),
                        key: key.clone(),
                        value: value.clone(),
                        expires_ms,
                    });
                }
                StateChange::Remove { key } => {
                    map.remove(key);
                    writes.push(Change::DelState {
                        target: scope.target.clone(),
                        fingerprint: scope.fingerprint.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        if map.is_empty() {
            entries.remove(&Self::key(scope));
        }
        // Submitted under the lock, so the store sees writes in the order memory did.
        self.writer.submit(writes, None);
    }

    fn entries(&self, scope: &StateScope) -> Vec<(String, String)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.wall_ms();
        let mut out: Vec<_> = entries
            .get(&Self::key(scope))
            .map(|m| {
                m.iter()
                    .filter(|(_, (_, expires))| *expires > now)
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}
