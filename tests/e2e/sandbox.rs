//! Misbehaving plugins are contained: each becomes a `permanent` error for
//! its own target, never a crash or a stall, and bad files are refused at load
//! with a message naming the file and the problem.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::health::AlwaysHealthy;
use herald::model::{ErrorClass, Target};
use herald::plugin::{LoadError, MemoryStateStore, PluginRuntime, RuntimeLimits};
use herald::publish::ParallelPublishOptions;
use herald_tests::{Behaviour, MockTarget, alert, publisher, runtime, runtime_with, wasm};

const MISBEHAVE: &str = "herald_test_misbehave";

fn misbehave(name: &str, url: &str, mode: &str) -> Target {
    Target::new(name, "misbehave", url).with_option("mode", mode)
}

async fn load_error(guest: &str) -> String {
    let rt =
        PluginRuntime::new(RuntimeLimits::default(), Arc::new(MemoryStateStore::new())).unwrap();
    let err = rt.load(&wasm(guest)).await.expect_err("must be rejected");
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{guest}.wasm")),
        "names the file: {text}"
    );
    text
}

#[tokio::test]
async fn wrong_wit_version_is_refused_with_the_versions() {
    let text = load_error("herald_test_wrong_wit").await;
    assert!(text.contains("herald:adapter/adapter@9.9.0"), "{text}");
    assert!(text.contains("0.1.0"), "{text}");
}

#[tokio::test]
async fn filesystem_imports_are_refused() {
    let text = load_error("herald_test_fs_access").await;
    assert!(text.contains("wasi:filesystem"), "{text}");
    assert!(text.contains("may not use"), "{text}");
}

#[tokio::test]
async fn a_plugin_without_kinds_is_refused() {
    let text = load_error("herald_test_no_kinds").await;
    assert!(text.contains("names no kinds"), "{text}");
}

#[tokio::test]
async fn core_modules_and_garbage_are_refused() {
    let rt =
        PluginRuntime::new(RuntimeLimits::default(), Arc::new(MemoryStateStore::new())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = rt.load(&core).await.unwrap_err().to_string();
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"#!/bin/sh\necho hi\n").unwrap();
    let err = rt.load(&junk).await.unwrap_err().to_string();
    assert!(
        err.contains("junk.wasm") && err.contains("not a WebAssembly file"),
        "{err}"
    );
    let err = rt
        .load(&dir.path().join("absent.wasm"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("absent.wasm") && err.contains("cannot be read"),
        "{err}"
    );
}

/// Publishes to a healthy webhook-like target and a misbehaving one; the
/// misbehaving one fails permanently with `needle` in its message, the
/// healthy one is delivered.
async fn contained(mode: &str, limits: RuntimeLimits, needle: &str) -> Duration {
    let good = MockTarget::start(Behaviour::default()).await;
    let bad = MockTarget::start(Behaviour::default()).await;
    let rt = runtime_with(limits, &[MISBEHAVE]).await;
    let targets = vec![
        misbehave("good", &good.url("/ok"), "ok"),
        misbehave("bad", &bad.url("/bad"), mode),
    ];
    let p = publisher(
        rt,
        targets.clone(),
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let started = Instant::now();
    let result = p
        .publish_to_all(&alert("Contained"))
        .await
        .expect("one target succeeds");
    let elapsed = started.elapsed();
    assert!(result.get("good").unwrap().success, "{result:?}");
    let bad_result = result.get("bad").unwrap();
    let err = bad_result.error.as_ref().expect("bad target fails");
    assert_eq!(err.class, ErrorClass::Permanent, "{err:?}");
    assert!(err.message.contains(needle), "{mode}: {}", err.message);
    assert!(result.is_partial_success);
    assert_eq!(good.hits(), 1);
    elapsed
}

#[tokio::test]
async fn a_trap_is_a_permanent_error_for_that_target_only() {
    contained("trap", RuntimeLimits::default(), "trapped in `prepare`").await;
    contained(
        "trap-in-response",
        RuntimeLimits::default(),
        "trapped in `handle_response`",
    )
    .await;
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_deadline() {
    let limits = RuntimeLimits {
        call_timeout: Duration::from_millis(200),
        ..RuntimeLimits::default()
    };
    let elapsed = contained("loop", limits, "ran past its 200 ms deadline").await;
    // Generous bound: only proves the loop did not run to the 30 s publish deadline.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn a_memory_bomb_hits_the_cap() {
    let limits = RuntimeLimits {
        memory_cap: 16 << 20,
        ..RuntimeLimits::default()
    };
    contained("memory", limits, "exceeded its memory cap of 16 MiB").await;
}

#[tokio::test]
async fn another_origin_is_refused_and_nothing_is_sent_there() {
    let elsewhere = MockTarget::start(Behaviour::default()).await;
    let good = MockTarget::start(Behaviour::default()).await;
    let rt = runtime(&[MISBEHAVE]).await;
    let targets = vec![
        misbehave("good", &good.url("/ok"), "ok"),
        misbehave("thief", &good.url("/x"), "other-origin")
            .with_option("to", &elsewhere.url("/steal")),
    ];
    let p = publisher(
        rt,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let result = p.publish_to_all(&alert("Origin")).await.unwrap();
    let err = result.get("thief").unwrap().error.clone().unwrap();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(
        err.message.contains("plugin tried to reach another origin"),
        "{}",
        err.message
    );
    assert_eq!(elsewhere.hits(), 0, "nothing may reach the other origin");
    assert_eq!(good.hits(), 1);
}

#[tokio::test]
async fn an_oversized_request_body_is_refused() {
    let limits = RuntimeLimits {
        max_request_body: 64 << 10,
        ..RuntimeLimits::default()
    };
    let target_mock = MockTarget::start(Behaviour::default()).await;
    let rt = runtime_with(limits, &[MISBEHAVE]).await;
    let targets =
        vec![misbehave("big", &target_mock.url("/big"), "huge-body").with_option("size", "100000")];
    let p = publisher(
        rt,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let err = p.publish_to_all(&alert("Big")).await.unwrap_err();
    let result = err.result().expect("result travels with the error");
    let e = result.get("big").unwrap().error.clone().unwrap();
    assert!(
        e.message
            .contains("100000 bytes, over the 65536-byte limit"),
        "{}",
        e.message
    );
    assert_eq!(target_mock.hits(), 0);
}

#[tokio::test]
async fn state_is_scoped_to_target_and_fingerprint() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let rt = runtime(&[MISBEHAVE]).await;
    let targets = vec![
        misbehave("one", &mock.url("/one"), "state"),
        misbehave("two", &mock.url("/two"), "state"),
    ];
    let p = publisher(
        rt.clone(),
        targets.clone(),
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    // "one" gets the alert three times, "two" once.
    for _ in 0..3 {
        p.publish_to_multiple(None, &alert("Counted"), &targets[..1])
            .await
            .unwrap();
    }
    let r = p
        .publish_to_multiple(None, &alert("Counted"), &targets)
        .await
        .unwrap();
    assert_eq!(r.get("one").unwrap().note.as_deref(), Some("counter=4"));
    assert_eq!(
        r.get("two").unwrap().note.as_deref(),
        Some("counter=1"),
        "two never sees one's state"
    );
    // Another alert (another fingerprint) starts from zero on the same target.
    let r = p
        .publish_to_multiple(None, &alert("Other"), &targets[..1])
        .await
        .unwrap();
    assert_eq!(r.get("one").unwrap().note.as_deref(), Some("counter=1"));
    let bodies: Vec<_> = mock
        .received()
        .iter()
        .map(|r| (r.path.clone(), r.json()["counter_before"].clone()))
        .collect();
    assert_eq!(bodies[0], ("/one".to_string(), serde_json::json!(0)));
}

#[tokio::test]
async fn guest_stdout_and_logs_do_not_break_delivery() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let rt = runtime(&[MISBEHAVE]).await;
    let targets = vec![misbehave("chatty", &mock.url("/log"), "log")];
    let p = publisher(
        rt,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let r = p.publish_to_all(&alert("Chatty")).await.unwrap();
    assert!(r.get("chatty").unwrap().success, "{r:?}");
    assert_eq!(mock.hits(), 1);
}
