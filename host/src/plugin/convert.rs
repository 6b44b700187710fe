//! Between the host's model and the WIT types the plugins see.

use crate::model::{AlertStatus, DeliveryError, EnrichedAlert, ErrorClass, Severity, Target};

use super::bindings::types as wit;

fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    map.into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The alert as the adapter sees it (fingerprint always filled in).
pub fn wit_alert(alert: &EnrichedAlert) -> wit::EnrichedAlert {
    let a = &alert.alert;
    wit::EnrichedAlert {
        alert: wit::Alert {
            fingerprint: a.fingerprint(),
            status: match a.status {
                AlertStatus::Firing => wit::AlertStatus::Firing,
                AlertStatus::Resolved => wit::AlertStatus::Resolved,
            },
            labels: pairs(&a.labels),
            annotations: pairs(&a.annotations),
            starts_at: rfc3339(&a.starts_at),
            ends_at: a.ends_at.as_ref().map(rfc3339),
            generator_url: a.generator_url.clone(),
        },
        classification: alert.classification.as_ref().map(|c| wit::Classification {
            severity: match c.severity {
                Severity::Critical => wit::Severity::Critical,
                Severity::Warning => wit::Severity::Warning,
                Severity::Info => wit::Severity::Info,
                Severity::Noise => wit::Severity::Noise,
            },
            confidence: c.confidence,
            reasoning: c.reasoning.clone(),
            recommendations: c.recommendations.clone(),
            metadata: pairs(&c.metadata),
        }),
        enrichment: alert.enrichment.as_ref().map(|e| e.to_string()),
    }
}

/// The target as the adapter sees it, secrets included.
pub fn wit_target(target: &Target) -> wit::Target {
    wit::Target {
        name: target.name.clone(),
        kind: target.kind.clone(),
        url: target.url.clone(),
        headers: pairs(&target.headers),
        options: pairs(&target.options),
        secrets: pairs(target.secrets.expose()),
    }
}

/// An error the adapter classified itself.
pub fn guest_error(e: wit::Error) -> DeliveryError {
    DeliveryError {
        class: match e.class {
            wit::ErrorClass::Transient => ErrorClass::Transient,
            wit::ErrorClass::Permanent => ErrorClass::Permanent,
            wit::ErrorClass::Unknown => ErrorClass::Unknown,
        },
        message: e.message,
        retry_after: e.retry_after_ms.map(std::time::Duration::from_millis),
    }
}
