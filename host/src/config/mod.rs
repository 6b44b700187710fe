//! Configuration: the daemon's `herald.toml` (typed sections, unknown keys
//! rejected, parsed then validated in a separate step), target discovery from
//! files and Kubernetes Secret volumes, secret resolution (`${VAR}`,
//! `file:`), and `check-config`.
//!
//! Every problem is a [`ConfigError`] that names the file and, where there is
//! one, the dotted key; none ever carries a secret value. Relative paths in
//! `herald.toml` resolve against the directory of `herald.toml`.
//!
//! Depends on `model`, and on the settings types of the modules it
//! configures, reused as they are so that each rule lives in one place:
//! `[publish]` is [`ParallelPublishOptions`](crate::publish::ParallelPublishOptions),
//! `[health]` is [`HealthConfig`](crate::health::HealthConfig), `[plugins]`
//! becomes [`RuntimeLimits`](crate::plugin::RuntimeLimits) and `[queue]`
//! [`QueueSettings`](crate::queue::QueueSettings). [`plugins`] and [`check`]
//! are start-up glue that also open plugin sessions. Nothing below `daemon`
//! depends on `config`.

pub mod check;
mod daemon;
mod error;
pub mod plugins;
mod secret;
mod targets;
pub mod units;

#[cfg(test)]
mod tests;

pub use check::{CheckReport, check_config, check_config_with_env};
pub use daemon::{
    AdminConfig, DaemonConfig, LogConfig, LogFormat, PluginsConfig, QueueConfig, RetryConfig,
    ServerConfig, TargetRetryConfig, TargetsConfig,
};
pub use error::{ConfigError, ConfigErrors, Format};
pub use plugins::validate_with_plugins;
pub use secret::{Env, ProcessEnv, SecretString};
pub use targets::{
    K8S_CONFIG_FILE, MAX_NAME_LEN, TargetSet, TargetStore, load_target_file, load_targets,
    valid_name,
};
