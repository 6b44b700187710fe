//! Kind → loaded plugin, swapped atomically. A call holds the `Arc` it started
//! with, so replacing a plugin never disturbs deliveries already running.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::runtime::LoadedPlugin;

/// The current plugins by kind.
#[derive(Default)]
pub struct PluginRegistry {
    by_kind: ArcSwap<BTreeMap<String, Arc<LoadedPlugin>>>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.by_kind.load().iter()).finish()
    }
}

impl PluginRegistry {
    /// The plugin handling `kind`, if any. Lock-free.
    pub fn get(&self, kind: &str) -> Option<Arc<LoadedPlugin>> {
        self.by_kind.load().get(kind).cloned()
    }

    /// Every kind and its plugin, as of now.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Arc<LoadedPlugin>>> {
        self.by_kind.load_full()
    }

    /// Registers a plugin for all its kinds, replacing whatever handled them,
    /// and drops kinds that the same file used to provide but no longer does.
    pub fn insert(&self, plugin: Arc<LoadedPlugin>) {
        self.by_kind.rcu(|current| {
            let mut next: BTreeMap<_, _> = current
                .iter()
                .filter(|(_, p)| p.path != plugin.path)
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect();
            for kind in &plugin.kinds {
                next.insert(kind.clone(), plugin.clone());
            }
            next
        });
    }

    /// Unloads every kind provided by the file at `path`; returns the kinds removed.
    pub fn remove_path(&self, path: &Path) -> Vec<String> {
        let mut removed = Vec::new();
        self.by_kind.rcu(|current| {
            removed = current
                .iter()
                .filter(|(_, p)| p.path == path)
                .map(|(k, _)| k.clone())
                .collect();
            current
                .iter()
                .filter(|(_, p)| p.path != path)
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect::<BTreeMap<_, _>>()
        });
        removed
    }
}
