//! What `herald plugin inspect` shows about an adapter file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use crate::plugin::{LoadedPlugin, MemoryStateStore, PluginRuntime, RuntimeLimits};

/// An adapter as the runtime sees it after loading and validating it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    pub path: String,
    /// Bytes in the file.
    pub size: u64,
    /// Hex sha256 of the file, to tell builds apart.
    pub sha256: String,
    /// The `herald:adapter` WIT version it exports.
    pub wit_version: String,
    pub kinds: Vec<String>,
    /// The adapter's own version, from `info`.
    pub version: String,
    pub description: String,
    /// Component-level export and import names.
    pub exports: Vec<String>,
    pub imports: Vec<String>,
}

/// Loads `plugin` with the daemon's checks and describes it.
pub async fn inspect(plugin: &Path) -> anyhow::Result<Inspection> {
    let runtime = PluginRuntime::new(RuntimeLimits::default(), Arc::new(MemoryStateStore::new()))
        .context("the plugin runtime could not start")?;
    let loaded = runtime.load(plugin).await?;
    Ok(Inspection::of(&loaded))
}

impl Inspection {
    /// The description of a loaded plugin.
    pub fn of(plugin: &LoadedPlugin) -> Self {
        Self {
            path: plugin.path.display().to_string(),
            size: plugin.size,
            sha256: plugin.sha256.clone(),
            wit_version: plugin.wit_version.clone(),
            kinds: plugin.kinds.clone(),
            version: plugin.version.clone(),
            description: plugin.description.clone(),
            exports: plugin.exports.clone(),
            imports: plugin.imports.clone(),
        }
    }

    /// A small aligned table, one row per field, lists one entry per line.
    pub fn render(&self) -> String {
        let one = |s: String| vec![s];
        let rows: [(&str, Vec<String>); 9] = [
            ("path", one(self.path.clone())),
            ("size", one(format!("{} bytes", self.size))),
            ("sha256", one(self.sha256.clone())),
            ("wit", one(format!("herald:adapter@{}", self.wit_version))),
            ("kinds", one(self.kinds.join(", "))),
            ("version", one(self.version.clone())),
            (
                "description",
                self.description.lines().map(str::to_string).collect(),
            ),
            ("exports", self.exports.clone()),
            ("imports", self.imports.clone()),
        ];
        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, values) in rows {
            let mut values = values.into_iter();
            let first = values.next().unwrap_or_else(|| "(none)".into());
            out.push_str(&format!("{label:<width$}  {first}\n"));
            for value in values {
                out.push_str(&format!("{:<width$}  {value}\n", ""));
            }
        }
        out
    }
}
