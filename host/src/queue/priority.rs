//! Which alerts go first: three classes (critical firing, other firing,
//! resolved/informational) served by smooth weighted round robin, so the
//! critical class leads and the low class is never starved.

use serde::Serialize;

use super::settings::PriorityWeights;
use crate::model::{AlertStatus, EnrichedAlert, Severity};

/// An alert's priority class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Firing, and critical by its classification or its `severity` label.
    Critical,
    /// Any other firing alert that is not informational.
    Firing,
    /// Resolved alerts, and firing ones whose severity is info or noise.
    Low,
}

impl Class {
    /// Every class, most urgent first.
    pub const ALL: [Class; 3] = [Class::Critical, Class::Firing, Class::Low];

    /// `critical`, `firing` or `low` (also the metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Critical => "critical",
            Class::Firing => "firing",
            Class::Low => "low",
        }
    }

    /// Position in [`Class::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The class of an alert: the classifier's severity wins over the
/// `severity` label (`critical`/`crit`/`page`/`p1` are critical;
/// `info`/`informational`/`none`/`noise`/`debug` are informational).
pub fn classify(alert: &EnrichedAlert) -> Class {
    if alert.alert.status == AlertStatus::Resolved {
        return Class::Low;
    }
    let severity = match &alert.classification {
        Some(c) => Some(c.severity),
        None => alert.alert.labels.get("severity").and_then(|s| {
            match s.trim().to_ascii_lowercase().as_str() {
                "critical" | "crit" | "page" | "p1" => Some(Severity::Critical),
                "info" | "informational" | "none" | "debug" => Some(Severity::Info),
                "noise" => Some(Severity::Noise),
                _ => None,
            }
        }),
    };
    match severity {
        Some(Severity::Critical) => Class::Critical,
        Some(Severity::Info | Severity::Noise) => Class::Low,
        _ => Class::Firing,
    }
}

/// Weighted round robin over the classes that have work: up to `critical`
/// picks of the critical class in a row, then up to `firing` of the firing
/// class, then up to `low` of the low class, and round again. A class without
/// work passes its turn. So critical work goes first, and a class that has
/// work waits at most the other classes' weights before it is served.
#[derive(Debug, Clone)]
pub struct Wrr {
    weights: [u32; 3],
    /// The class whose turn it is.
    turn: usize,
    /// Picks it had in this turn.
    used: u32,
}

impl Wrr {
    /// A scheduler with the given weights.
    pub fn new(weights: PriorityWeights) -> Self {
        Self {
            weights: [
                weights.critical.max(1),
                weights.firing.max(1),
                weights.low.max(1),
            ],
            turn: 0,
            used: 0,
        }
    }

    /// The class to serve next, given which classes have work.
    pub fn pick(&mut self, waiting: [bool; 3]) -> Option<Class> {
        if !waiting.iter().any(|w| *w) {
            // Idle: the next round starts with the critical class.
            self.turn = 0;
            self.used = 0;
            return None;
        }
        for _ in 0..4 {
            if waiting[self.turn] && self.used < self.weights[self.turn] {
                self.used += 1;
                return Some(Class::ALL[self.turn]);
            }
            self.turn = (self.turn + 1) % 3;
            self.used = 0;
        }
        None
    }
}
