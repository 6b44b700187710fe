use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn fingerprint_matches_alertmanager() {
    // Alertmanager's empty label set hashes to the FNV-64 offset basis.
    assert_eq!(
        alertmanager_fingerprint(&BTreeMap::new()),
        "cbf29ce484222325"
    );
    let a = alertmanager_fingerprint(&labels(&[("alertname", "A"), ("job", "j")]));
    let b = alertmanager_fingerprint(&labels(&[("job", "j"), ("alertname", "A")]));
    assert_eq!(a, b, "label order must not matter");
    assert_eq!(a.len(), 16);
    assert_ne!(
        a,
        alertmanager_fingerprint(&labels(&[("alertname", "A"), ("job", "k")]))
    );
}

#[test]
fn secrets_never_show_in_debug_or_json() {
    let t = Target::new("t", "webhook", "http://x")
        .with_secret("token", "hunter2-very-secret")
        .with_header("Authorization", "Bearer hunter3-header-token");
    let debug = format!("{t:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("hunter3"), "{debug}");
    assert!(debug.contains("Authorization: ***"), "{debug}");
    assert!(debug.contains("token=***"), "{debug}");
    assert_eq!(
        t.secrets.redact("bad key hunter2-very-secret"),
        "bad key ***"
    );
}

#[test]
fn counts_and_partial_success() {
    let ok = TargetResult {
        success: true,
        skipped: false,
        skip_reason: None,
        ..TargetResult::skipped("a", "webhook", SkipReason::Disabled, None)
    };
    let failed = TargetResult {
        success: false,
        skipped: false,
        skip_reason: None,
        error: Some(DeliveryError::transient("503")),
        ..ok.clone()
    };
    let skipped = TargetResult::skipped("c", "webhook", SkipReason::Unhealthy, None);
    let r = ParallelPublishResult::from_results(vec![ok, failed, skipped], Default::default());
    assert_eq!(
        (
            r.total_targets,
            r.success_count,
            r.failure_count,
            r.skipped_count
        ),
        (3, 1, 1, 1)
    );
    assert!(r.is_partial_success);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["results"][1]["error"]["class"], "transient");
    assert_eq!(json["results"][2]["skip_reason"], "unhealthy");
}

#[test]
fn alerts_are_validated() {
    let mut alert: Alert = serde_json::from_value(serde_json::json!({
        "status": "firing", "labels": {"alertname": "X"}, "starts_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert!(alert.validate().is_ok());
    alert.labels.clear();
    assert!(alert.validate().unwrap_err().contains("alertname"));
    let err = serde_json::from_value::<Alert>(serde_json::json!({
        "status": "firing", "labels": {}, "starts_at": "2026-01-01T00:00:00Z", "colour": 1
    }))
    .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}
