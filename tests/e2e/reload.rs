//! Hot reload of the running daemon: target files added, changed, broken and
//! removed; plugin files swapped under a steady stream of publishes, removed,
//! and replaced by garbage; and, with the real `herald` binary, `SIGHUP`
//! (reload on demand) and `SIGTERM` (drain the publish in flight, exit 0).
//!
//! The plugin swaps use two builds of one kind: the test guests
//! `herald_test_versioned_a` (1.0.0) and `herald_test_versioned_b` (2.0.0),
//! which put their own version in every body they send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herald_tests::daemon::{
    DaemonSetup, HeraldProcess, SOON, TestDaemon, eventually, replace_file, target_toml,
};
use herald_tests::{Behaviour, MockTarget, wasm};
use serde_json::{Value, json};

const VERSION_A: &str = "herald_test_versioned_a";
const VERSION_B: &str = "herald_test_versioned_b";

/// A publish request for one firing alert, to the named targets only.
fn publish_to(targets: &[&str], name: &str) -> Value {
    json!({
        "alert": {
            "labels": {"alertname": name, "severity": "warning"},
            "annotations": {"summary": "hot reload test"},
            "status": "firing",
            "starts_at": "2026-12-01T10:00:00Z"
        },
        "targets": targets,
    })
}

/// The `version` field of every body `mock` received, in order.
fn versions(mock: &MockTarget) -> Vec<String> {
    mock.received()
        .iter()
        .map(|r| r.json()["version"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------- targets

#[tokio::test]
async fn target_files_added_changed_broken_and_removed_take_effect_while_serving() {
    let (first, second) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::default()).await,
    );
    let d = DaemonSetup::new()
        .adapter("webhook")
        .target("base", "webhook", &first.url("/base"), "")
        .start()
        .await;
    let late = |url: &str| target_toml("late", "webhook", url, "");

    // Added: publishes to it start working.
    assert_eq!(
        d.publish(&publish_to(&["late"], "Before")).await.status,
        404
    );
    d.write_target("late.toml", &late(&first.url("/late")));
    eventually(
        "the added target `late` to take deliveries",
        SOON,
        || async { (d.publish(&publish_to(&["late"], "Added")).await.status == 200).then_some(()) },
    )
    .await;
    assert!(first.received().iter().any(|r| r.path == "/late"));

    // Changed: deliveries switch to the new URL.
    d.write_target("late.toml", &late(&second.url("/late")));
    eventually(
        "deliveries to `late` to switch to its new URL",
        SOON,
        || async {
            let reply = d.publish(&publish_to(&["late"], "Changed")).await;
            assert_eq!(
                reply.status, 200,
                "the old or the new URL, never neither: {}",
                reply.body
            );
            (second.hits() > 0).then_some(())
        },
    )
    .await;
    let before_break = second.hits();

    // Broken: rejected, counted, and the previous version stays live.
    let problems = d
        .metric("target_reloads_total", &[("result", "problems")])
        .await;
    d.write_target("late.toml", "name = \"late\"\nkind = \"webhook\"\nurl = ");
    eventually(
        "the broken file to be counted as a problem",
        SOON,
        || async {
            (d.metric("target_reloads_total", &[("result", "problems")])
                .await
                > problems)
                .then_some(())
        },
    )
    .await;
    let reply = d.publish(&publish_to(&["late"], "StillThere")).await;
    assert_eq!(
        reply.status, 200,
        "the previous `late` stays live: {}",
        reply.body
    );
    assert_eq!(
        second.hits(),
        before_break + 1,
        "still at the last good URL"
    );
    let report = d
        .send(reqwest::Method::POST, "/api/v1/reload", None, None)
        .await
        .json();
    assert!(
        report["target_problems"].to_string().contains("late.toml"),
        "the problem names the file: {report}"
    );
    assert_eq!(report["targets"], 2, "`late` is kept: {report}");

    // Removed: gone.
    d.remove_target("late.toml");
    eventually("the removed target `late` to be gone", SOON, || async {
        (d.publish(&publish_to(&["late"], "Removed")).await.status == 404).then_some(())
    })
    .await;
    assert_eq!(d.get("/api/v1/targets/late").await.status, 404);
    let reply = d.publish(&publish_to(&["base"], "BaseUntouched")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Writes the target as JSON into a new timestamped directory of a mounted
/// Kubernetes Secret volume at `volume` and swaps `..data` to it, as the
/// kubelet does: `config -> ..data/config`, `..data -> ..<timestamp>`, the
/// new `..data` made as `..data_tmp` and renamed over the old one.
fn kubelet_update(volume: &std::path::Path, generation: u32, target: &Value) {
    use std::os::unix::fs::symlink;
    let stamp = format!("..2026_12_01_10_00_0{generation}.{generation}");
    std::fs::create_dir_all(volume.join(&stamp)).expect("the timestamped directory");
    std::fs::write(volume.join(&stamp).join("config"), target.to_string()).expect("config");
    let tmp = volume.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp).expect("..data_tmp");
    std::fs::rename(&tmp, volume.join("..data")).expect("swapping ..data");
    if !volume.join("config").exists() {
        symlink("..data/config", volume.join("config")).expect("config -> ..data/config");
    }
    for old in 0..generation {
        let _ = std::fs::remove_dir_all(volume.join(format!("..2026_12_01_10_00_0{old}.{old}")));
    }
}

#[tokio::test]
async fn a_kubernetes_secret_volume_is_followed_through_its_data_symlink_swap() {
    let (first, second) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::default()).await,
    );
    let d = DaemonSetup::new().adapter("webhook").start().await;
    let volume = d.files.targets_dir().join("ops-secret");
    let target = |url: String| json!({"name": "k8s-hook", "kind": "webhook", "url": url});

    kubelet_update(&volume, 1, &target(first.url("/k8s")));
    eventually(
        "the Secret volume's target to take deliveries",
        SOON,
        || async {
            (d.publish(&publish_to(&["k8s-hook"], "Mounted"))
                .await
                .status
                == 200)
                .then_some(())
        },
    )
    .await;
    assert!(first.hits() > 0);

    kubelet_update(&volume, 2, &target(second.url("/k8s")));
    eventually("deliveries to follow the updated Secret", SOON, || async {
        let reply = d.publish(&publish_to(&["k8s-hook"], "Updated")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        (second.hits() > 0).then_some(())
    })
    .await;
    let listed = d.get("/api/v1/targets").await.json();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "one target, no stray ones: {listed}"
    );
}

// ---------------------------------------------------------------- plugins

/// Publishes to `target` every few milliseconds until stopped; keeps every
/// answer's status and the result's `plugin_version`.
struct SteadyPublisher {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(u16, String)>>,
}

impl SteadyPublisher {
    fn start(d: &TestDaemon, target: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, url, flag) = (d.client.clone(), d.url("/api/v1/publish"), stop.clone());
        let task = tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                let body = publish_to(&[target], &format!("Steady{n}")).to_string();
                let reply = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let (status, text) = match reply {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                };
                let version = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v["results"][0]["plugin_version"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| format!("(no version; {status}: {text})"));
                answers.push((status, version));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            answers
        });
        Self { stop, task }
    }

    async fn finish(self) -> Vec<(u16, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the publishing task")
    }
}

#[tokio::test]
async fn swapping_a_plugin_under_steady_publishes_fails_none_and_switches_output() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = DaemonSetup::new()
        .guest(VERSION_A, "versioned.wasm")
        .target("ver", "versioned", &mock.url("/ver"), "")
        .start()
        .await;
    let plugin = d.files.plugins_dir().join("versioned.wasm");
    let (a, b) = (
        std::fs::read(wasm(VERSION_A)).expect("build a"),
        std::fs::read(wasm(VERSION_B)).expect("build b"),
    );

    let steady = SteadyPublisher::start(&d, "ver");
    eventually("the first deliveries", SOON, || async {
        (mock.hits() >= 5).then_some(())
    })
    .await;
    assert_eq!(versions(&mock)[0], "1.0.0");

    // Deploy-style swaps (temporary file, then rename), and one plain overwrite.
    let swaps: [(&str, &[u8], bool); 5] = [
        ("2.0.0", &b, true),
        ("1.0.0", &a, true),
        ("2.0.0", &b, false),
        ("1.0.0", &a, true),
        ("2.0.0", &b, true),
    ];
    let mut switch_times = Vec::new();
    for (i, (version, bytes, atomic)) in swaps.into_iter().enumerate() {
        let seen = mock.hits();
        let swapped = Instant::now();
        if atomic {
            replace_file(&plugin, bytes);
        } else {
            std::fs::write(&plugin, bytes).expect("overwriting versioned.wasm in place");
        }
        eventually(
            &format!("swap {i}: deliveries from version {version}"),
            SOON,
            || async {
                let now = versions(&mock);
                (now.len() > seen && now.last().is_some_and(|v| v == version)).then_some(())
            },
        )
        .await;
        switch_times.push(swapped.elapsed());
        // A few more under the new version before the next swap.
        let settled = mock.hits();
        eventually("more deliveries after the swap", SOON, || async {
            (mock.hits() >= settled + 3).then_some(())
        })
        .await;
    }
    let answers = steady.finish().await;

    let failed: Vec<&(u16, String)> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} publishes failed during the swaps: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        answers.iter().all(|(_, v)| v == "1.0.0" || v == "2.0.0"),
        "every result names the version that served it: {:?}",
        answers.iter().find(|(_, v)| v != "1.0.0" && v != "2.0.0")
    );
    let served = versions(&mock);
    assert_eq!(served.last().map(String::as_str), Some("2.0.0"));
    let switches = served.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 5,
        "every swap switched the output ({switches} switches)"
    );

    let plugins = d.get("/api/v1/plugins").await.json();
    assert_eq!(plugins[0]["version"], "2.0.0", "{plugins}");
    // Measured, not asserted (no wall-clock bounds in tests): the issue
    // promises new publishes see the new version within 1 s.
    eprintln!(
        "{} publishes during 5 swaps, none failed; {switches} switches of the served version; \
         file change to first delivery by the new version: {switch_times:?}",
        answers.len()
    );
}

#[tokio::test]
async fn removing_a_plugin_file_unloads_its_kind_and_restoring_it_loads_it_again() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = DaemonSetup::new()
        .adapter("webhook")
        .guest(VERSION_A, "versioned.wasm")
        .target("ver", "versioned", &mock.url("/ver"), "")
        .start()
        .await;
    let plugin = d.files.plugins_dir().join("versioned.wasm");
    assert_eq!(d.publish(&publish_to(&["ver"], "Loaded")).await.status, 200);

    std::fs::remove_file(&plugin).expect("removing versioned.wasm");
    let reply = eventually("the kind `versioned` to be unloaded", SOON, || async {
        let reply = d.publish(&publish_to(&["ver"], "Unloaded")).await;
        (reply.status != 200).then_some(reply)
    })
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let result = &reply.json()["result"]["results"][0];
    assert_eq!(result["skipped"], true, "{result}");
    assert_eq!(result["skip_reason"], "no_plugin", "{result}");

    let target = d.get("/api/v1/targets/ver").await.json();
    assert_eq!(target["routable"], false, "{target}");
    assert!(
        target["issues"].to_string().contains("versioned"),
        "{target}"
    );
    let plugins = d.get("/api/v1/plugins").await.json();
    assert!(
        !plugins.to_string().contains("\"versioned\""),
        "no longer listed: {plugins}"
    );
    assert!(
        d.metric(
            "plugin_reloads_total",
            &[("kind", "versioned"), ("result", "unloaded")]
        )
        .await
            >= 1.0
    );

    replace_file(&plugin, std::fs::read(wasm(VERSION_B)).expect("build b"));
    eventually("the kind `versioned` to be back", SOON, || async {
        (d.publish(&publish_to(&["ver"], "Back")).await.status == 200).then_some(())
    })
    .await;
    assert_eq!(versions(&mock).last().map(String::as_str), Some("2.0.0"));
    // The registry is swapped first, then the targets are re-validated
    // against it: the admin view catches up a moment after the publishes.
    eventually("`ver` to be listed as routable again", SOON, || async {
        let target = d.get("/api/v1/targets/ver").await.json();
        (target["routable"] == true && target.get("issues").is_none()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_plugin_file_is_rejected_and_the_previous_version_stays_live() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = DaemonSetup::new()
        .guest(VERSION_A, "versioned.wasm")
        .target("ver", "versioned", &mock.url("/ver"), "")
        .start()
        .await;
    let plugins_dir = d.files.plugins_dir();
    let before = d.get("/api/v1/plugins").await.json();

    // A broken deploy of the kind's file: garbage with a wasm header.
    let rejected = || {
        d.metric(
            "plugin_reloads_total",
            &[("kind", "versioned"), ("result", "rejected")],
        )
    };
    let baseline = rejected().await;
    let mut garbage = b"\0asm\x0d\0\x01\0".to_vec();
    garbage.extend(std::iter::repeat_n(0xA5u8, 4096));
    replace_file(&plugins_dir.join("versioned.wasm"), &garbage);
    eventually(
        "the corrupt versioned.wasm to be rejected",
        SOON,
        || async { (rejected().await > baseline).then_some(()) },
    )
    .await;
    let reply = d.publish(&publish_to(&["ver"], "StillServed")).await;
    assert_eq!(
        reply.status, 200,
        "the previous version stays live: {}",
        reply.body
    );
    assert_eq!(reply.json()["results"][0]["plugin_version"], "1.0.0");
    assert_eq!(versions(&mock).last().map(String::as_str), Some("1.0.0"));
    let after = d.get("/api/v1/plugins").await.json();
    assert_eq!(
        after[0]["sha256"], before[0]["sha256"],
        "the loaded file is the old one"
    );

    // A new file that is not a component at all: rejected, nothing else changes.
    let unknown = d
        .metric(
            "plugin_reloads_total",
            &[("kind", "unknown"), ("result", "rejected")],
        )
        .await;
    replace_file(&plugins_dir.join("junk.wasm"), b"this is not WebAssembly");
    eventually("junk.wasm to be rejected", SOON, || async {
        (d.metric(
            "plugin_reloads_total",
            &[("kind", "unknown"), ("result", "rejected")],
        )
        .await
            > unknown)
            .then_some(())
    })
    .await;
    let report = d
        .send(reqwest::Method::POST, "/api/v1/reload", None, None)
        .await
        .json();
    let rejected_files = report["plugins_rejected"].to_string();
    assert!(
        rejected_files.contains("junk.wasm") && rejected_files.contains("versioned.wasm"),
        "the report names each rejected file: {report}"
    );
    assert_eq!(
        d.publish(&publish_to(&["ver"], "StillFine")).await.status,
        200
    );
    assert_eq!(d.get("/readyz").await.status, 200, "still ready");
}

// ---------------------------------------------------------------- the real binary

async fn metric(
    client: &reqwest::Client,
    p: &HeraldProcess,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let text = client
        .get(p.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text");
    herald_tests::daemon::metric_value(&text, name, labels)
}

#[tokio::test]
async fn the_binary_reloads_on_sighup_and_drains_an_in_flight_publish_on_sigterm() {
    let slow = MockTarget::start(Behaviour::default().delayed(Duration::from_millis(500))).await;
    let files = DaemonSetup::new()
        .adapter("webhook")
        .target("slow", "webhook", &slow.url("/slow"), "")
        .set("log", "level = \"info\"")
        .set("server", "shutdown_grace = \"10s\"")
        .write();
    let mut herald = HeraldProcess::start(&files.config);
    let client = reqwest::Client::new();
    eventually("herald to be ready", SOON, || async {
        let ready = client.get(herald.url("/readyz")).send().await.ok()?;
        (ready.status() == 200).then_some(())
    })
    .await;

    // SIGHUP with no file changed: only the signal can cause this reload.
    let reloads = metric(
        &client,
        &herald,
        "target_reloads_total",
        &[("result", "ok")],
    )
    .await;
    assert!(
        reloads >= 1.0,
        "the first load is counted; log:\n{}",
        herald.log()
    );
    herald.signal("HUP");
    eventually("SIGHUP to trigger a reload", SOON, || async {
        (metric(
            &client,
            &herald,
            "target_reloads_total",
            &[("result", "ok")],
        )
        .await
            > reloads)
            .then_some(())
    })
    .await;
    assert!(
        herald.log().contains("SIGHUP"),
        "the reload is logged:\n{}",
        herald.log()
    );

    // SIGTERM while a publish waits on the slow target: it completes, then exit 0.
    let publish = {
        let (client, url) = (client.clone(), herald.url("/api/v1/publish"));
        let body = publish_to(&["slow"], "InFlight").to_string();
        tokio::spawn(async move {
            let reply = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = reply.status().as_u16();
            Ok::<_, reqwest::Error>((status, reply.text().await?))
        })
    };
    eventually("the publish to reach the slow target", SOON, || async {
        (slow.hits() == 1).then_some(())
    })
    .await;
    herald.signal("TERM");
    let (status, body) = publish
        .await
        .expect("the publishing task")
        .unwrap_or_else(|e| {
            panic!(
                "the in-flight publish was cut off by SIGTERM: {e}; log:\n{}",
                herald.log()
            )
        });
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(&body).expect("a JSON result");
    assert_eq!(result["success_count"], 1, "{result}");
    let code = herald.exit_code(Duration::from_secs(20)).await;
    assert_eq!(
        code,
        Some(0),
        "herald's exit after SIGTERM; log:\n{}",
        herald.log()
    );
    assert!(
        client.get(herald.url("/healthz")).send().await.is_err(),
        "nothing listens after the exit"
    );
}
