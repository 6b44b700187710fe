//! The data everyone shares: alerts, targets, delivery errors and publish results.
//!
//! Depends on nothing else in the crate; every other module depends on it.

mod alert;
mod result;
mod target;

#[cfg(test)]
mod tests;

pub use alert::{
    Alert, AlertStatus, Classification, EnrichedAlert, Severity, alertmanager_fingerprint,
};
pub use result::{DeliveryError, ErrorClass, ParallelPublishResult, SkipReason, TargetResult};
pub use target::{Secrets, StaticTargets, Target, TargetSource};
