//! The adapters' part of target validation: each target's kind must be
//! provided by a loaded plugin, and that plugin's `validate-target` must
//! accept the target.
//!
//! This is start-up and reload glue, so unlike the rest of `config` it
//! depends on `plugin` (a sibling, never the other way round): it opens one
//! sandboxed session per target, exactly as a delivery would.

use crate::model::Target;
use crate::plugin::convert::wit_target;
use crate::plugin::{CallOptions, PluginRuntime, StateScope};

use super::error::ConfigError;
use super::targets::TargetSet;

/// The state scope's "fingerprint" for validation calls (never a real alert's).
const VALIDATE_SCOPE: &str = "(validate)";

/// Checks every target in `set` against the loaded plugins. A kind no plugin
/// provides gives [`ConfigError::NotRoutable`]; an adapter that rejects the
/// target (or traps doing so) gives [`ConfigError::AdapterRejected`] with
/// the adapter's message, secret values redacted. Disabled targets are
/// checked too: `enabled = false` pauses a target, it does not excuse it.
pub async fn validate_with_plugins(set: &TargetSet, runtime: &PluginRuntime) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    for (target, file) in set.entries() {
        if let Some(problem) = validate_one(target, file, runtime).await {
            problems.push(problem);
        }
    }
    problems
}

/// One target's adapter check; `None` when the adapter accepts it.
pub async fn validate_one(
    target: &Target,
    file: &std::path::Path,
    runtime: &PluginRuntime,
) -> Option<ConfigError> {
    let rejected = |message: String| ConfigError::AdapterRejected {
        file: file.to_path_buf(),
        target: target.name.clone(),
        kind: target.kind.clone(),
        message: target.secrets.redact(&message),
    };
    let Some(plugin) = runtime.adapter(&target.kind) else {
        return Some(ConfigError::NotRoutable {
            file: file.to_path_buf(),
            target: target.name.clone(),
            kind: target.kind.clone(),
        });
    };
    let scope = StateScope::new(target.name.as_str(), VALIDATE_SCOPE);
    let call = CallOptions {
        clock: None,
        // Scrubbed from anything the adapter logs while validating.
        secrets: target.secrets.expose().values().cloned().collect(),
    };
    let mut session = match runtime.session(&plugin, scope, call).await {
        Ok(s) => s,
        Err(e) => {
            return Some(rejected(format!(
                "could not start the adapter: {}",
                e.message
            )));
        }
    };
    match session.validate_target(&wit_target(target)).await {
        Ok(Ok(())) => None,
        Ok(Err(message)) => Some(rejected(message)),
        Err(e) => Some(rejected(format!(
            "the adapter failed while validating: {}",
            e.message
        ))),
    }
}
