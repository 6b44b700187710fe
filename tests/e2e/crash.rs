//! The crash test: the real `herald serve` as a child process; a client sends
//! alerts at a steady rate to two loopback targets, one of which fails part
//! of the time; the daemon is killed with SIGKILL at random moments several
//! times and restarted on the same data directory. At the end, every alert
//! that got a 2xx has reached every target at least once, or sits in the
//! dead-letter queue with a reason: zero lost. The test prints the counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_tests::daemon::{DaemonSetup, HeraldProcess};
use herald_tests::{Behaviour, MockTarget};

/// How many times the daemon is killed.
const KILLS: usize = 5;
/// Pause between two sends.
const SEND_EVERY: Duration = Duration::from_millis(5);
/// How long the last daemon gets to deliver everything.
const SETTLE: Duration = Duration::from_secs(90);

/// A small deterministic generator (the run is reproducible from its seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A target that records which alerts it answered 2xx, failing 1 request in `fail_every`.
async fn target(fail_every: u64) -> (MockTarget, Arc<Mutex<BTreeMap<String, usize>>>) {
    let got: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let seen = got.clone();
    let counter = Arc::new(Mutex::new(Lcg(fail_every)));
    let mock = MockTarget::start_with(move |r| {
        let draw = counter.lock().unwrap_or_else(|e| e.into_inner()).next();
        let fail = fail_every > 0 && draw.is_multiple_of(fail_every);
        if fail {
            return Behaviour::status(503);
        }
        let name = r.json()["alert_name"].as_str().unwrap_or("").to_string();
        *seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_default() += 1;
        Behaviour::default()
    })
    .await;
    (mock, got)
}

fn payload(name: &str) -> String {
    serde_json::json!({
        "version": "4",
        "status": "firing",
        "receiver": "herald",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical"},
            "annotations": {"summary": "crash test"},
            "startsAt": "2026-12-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph",
            "fingerprint": ""
        }]
    })
    .to_string()
}

/// Every dead letter's (target, alert name), through the admin API.
async fn dead_letters(http: &reqwest::Client, base: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/api/v1/dlq?limit=1000&cursor={cursor}");
        let text = http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
        let page: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
        for e in page["entries"].as_array().into_iter().flatten() {
            out.insert((
                e["target_name"].as_str().unwrap_or("").to_string(),
                e["alert"]["alert"]["labels"]["alertname"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
            assert!(
                !e["reason"].as_str().unwrap_or("").is_empty(),
                "a dead letter without a reason: {e}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_accepted_alert() {
    let (flaky, flaky_got) = target(3).await;
    let (steady, steady_got) = target(0).await;
    let files = DaemonSetup::new()
        .adapter("webhook")
        .target("flaky", "webhook", &flaky.url("/hook"), "")
        .target("steady", "webhook", &steady.url("/hook"), "")
        .set("queue", "data_dir = \"data\"")
        .set("queue.retry", "initial = \"50ms\"")
        .set("queue.retry", "max_delay = \"500ms\"")
        .set("queue.retry", "max_attempts = 1000")
        .set("health", "probes = false")
        .set("health.circuit_breaker", "enabled = false")
        .set("log", "level = \"warn\"")
        .write();
    let config = files.config.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut rng = Lcg(0x5eed_c0ffee);
    let (mut sent, mut refused) = (0usize, 0usize);
    let mut acked: Vec<String> = Vec::new();

    for kill in 0..KILLS {
        let daemon = HeraldProcess::start(&config);
        let live_for = Duration::from_millis(300 + rng.next() % 1200);
        let until = Instant::now() + live_for;
        while Instant::now() < until {
            let name = format!("Crash{sent}");
            sent += 1;
            let r = http
                .post(format!("{}/api/v1/alerts/alertmanager", daemon.url("")))
                .header("content-type", "application/json")
                .body(payload(&name))
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => acked.push(name),
                _ => refused += 1,
            }
            tokio::time::sleep(SEND_EVERY).await;
        }
        // Kill while sends and deliveries are in flight.
        let send = {
            let (http, base, name) = (http.clone(), daemon.url(""), format!("Crash{sent}"));
            sent += 1;
            tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/api/v1/alerts/alertmanager"))
                    .header("content-type", "application/json")
                    .body(payload(&name))
                    .send()
                    .await;
                matches!(r, Ok(r) if r.status().is_success()).then_some(name)
            })
        };
        tokio::time::sleep(Duration::from_millis(rng.next() % 5)).await;
        daemon.kill();
        match send.await.unwrap() {
            Some(name) => acked.push(name),
            None => refused += 1,
        }
        println!(
            "kill {}: after {live_for:?}; {} acked so far",
            kill + 1,
            acked.len()
        );
    }

    // The last run delivers what is left.
    let daemon = HeraldProcess::start(&config);
    let started = Instant::now();
    let (missing, dlq) = loop {
        let dlq = dead_letters(&http, &daemon.url("")).await;
        let (f, s) = (
            flaky_got.lock().unwrap().clone(),
            steady_got.lock().unwrap().clone(),
        );
        let missing: Vec<(String, &str)> = acked
            .iter()
            .flat_map(|a| {
                [("flaky", &f), ("steady", &s)]
                    .into_iter()
                    .filter(|(t, got)| {
                        !got.contains_key(a) && !dlq.contains(&(t.to_string(), a.clone()))
                    })
                    .map(|(t, _)| (a.clone(), t))
                    .collect::<Vec<_>>()
            })
            .collect();
        if missing.is_empty() || started.elapsed() > SETTLE {
            break (missing, dlq);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (f, s) = (
        flaky_got.lock().unwrap().clone(),
        steady_got.lock().unwrap().clone(),
    );
    let dup = |got: &BTreeMap<String, usize>| got.values().filter(|n| **n > 1).count();
    println!(
        "crash test: {sent} sent, {} acked (2xx), {refused} not acked; flaky got {} ({} more than once), steady got {} ({} more than once); {} dead letters; {} lost",
        acked.len(),
        f.len(),
        dup(&f),
        s.len(),
        dup(&s),
        dlq.len(),
        missing.len()
    );
    assert!(
        acked.len() > 50,
        "the client got too few alerts in to test anything ({})",
        acked.len()
    );
    assert!(
        missing.is_empty(),
        "{} accepted deliveries were lost, e.g. {:?}; the last daemon's log:\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        daemon.log()
    );
    daemon.kill();
    drop(files);
}
