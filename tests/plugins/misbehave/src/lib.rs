//! A deliberately misbehaving adapter (kind `misbehave`) for the host's tests.
//!
//! It proves the sandbox contains a guest that traps, loops forever, eats
//! memory, sends oversized bodies, aims requests at another origin, writes to
//! stdio or burns CPU — and that a well-behaved call (`ok`, `state`) still
//! works after any of those, with its state scoped as promised.
//!
//! What it does is chosen per target by `options.mode`:
//!
//! | mode               | `prepare`                                                        |
//! |--------------------|------------------------------------------------------------------|
//! | `ok`               | `POST {url}` with `{"fingerprint", "plugin_version"}`            |
//! | `trap`             | panics (`panic = "abort"` in release, so a wasm trap)             |
//! | `loop`             | loops forever                                                    |
//! | `memory`           | allocates and touches 1 MiB buffers forever, freeing none        |
//! | `huge-body`        | `POST {url}` with `options.size` bytes (default 16 MiB)          |
//! | `other-origin`     | `POST` to `options.to` (default `http://127.0.0.1:1/steal`)      |
//! | `state`            | bumps state key `counter`, posts `{"counter_before": n}`          |
//! | `log`              | one line each to stdout, stderr and the `log` import, then `ok`  |
//! | `trap-in-response` | like `ok`, but `handle-response` panics                          |
//! | `slow-ok`          | busy-waits `options.millis` ms (default 100), then `ok`          |
//!
//! `options.version_tag` (default `v1`) is echoed as `plugin_version` in the
//! body and as the outcome's note, so a test can tell which build of the
//! plugin served a call (hot reload). Native code never runs this crate; the
//! host's tests load the release `.wasm`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HostState, HttpRequest, HttpResponse,
    Level, State, Target, TargetExt, classify_status, export_adapter, json_request, serde_json,
};

/// Where `other-origin` sends its request unless `options.to` says otherwise.
const DEFAULT_STEAL_URL: &str = "http://127.0.0.1:1/steal";
/// Default body size for `huge-body`: 16 MiB.
const DEFAULT_HUGE_SIZE: usize = 16 << 20;
/// Default busy-wait for `slow-ok`.
const DEFAULT_SLOW_MILLIS: u64 = 100;
/// Size of each buffer `memory` hoards.
const MIB: usize = 1 << 20;
/// State key used by `state`.
const COUNTER: &str = "counter";

struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["misbehave".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "test guest that misbehaves on purpose (options.mode)".to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        match target.option("mode") {
            Some(_) => Ok(()),
            None => Err("`options.mode` is missing; misbehave targets need a mode \
                         (ok, trap, loop, memory, huge-body, other-origin, state, log, \
                         trap-in-response, slow-ok)"
                .to_string()),
        }
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        match mode(&target)? {
            "ok" | "trap-in-response" => Ok(ok_request(&alert, &target)),
            "trap" => panic!("misbehave: trapping in prepare as asked"),
            "loop" => spin_forever(),
            "memory" => hoard_memory(),
            "huge-body" => {
                let size = parse_option(&target, "size", DEFAULT_HUGE_SIZE)?;
                Ok(Action::Send(HttpRequest {
                    method: "POST".to_string(),
                    url: target.url.clone(),
                    headers: vec![(
                        "content-type".to_string(),
                        "application/octet-stream".to_string(),
                    )],
                    body: vec![b'x'; size],
                }))
            }
            "other-origin" => {
                let to = target.option("to").unwrap_or(DEFAULT_STEAL_URL).to_string();
                let body = serde_json::json!({ "fingerprint": alert.alert.fingerprint });
                Ok(Action::Send(json_request(
                    "POST",
                    to,
                    "application/json",
                    &target.headers,
                    &body,
                )))
            }
            "state" => {
                let mut state = HostState;
                let before = counter(&state);
                state.set(COUNTER, &(before + 1).to_string(), 0);
                let body = serde_json::json!({ "counter_before": before });
                Ok(Action::Send(json_request(
                    "POST",
                    target.url.clone(),
                    "application/json",
                    &target.headers,
                    &body,
                )))
            }
            "log" => {
                println!("misbehave: a line on stdout");
                eprintln!("misbehave: a line on stderr");
                herald_plugin_sdk::log(Level::Info, "misbehave: a line through the log import");
                Ok(ok_request(&alert, &target))
            }
            "slow-ok" => {
                let millis = parse_option(&target, "millis", DEFAULT_SLOW_MILLIS)?;
                burn_cpu(Duration::from_millis(millis));
                Ok(ok_request(&alert, &target))
            }
            other => Err(Error::permanent(format!(
                "`options.mode` `{other}` is not a misbehave mode"
            ))),
        }
    }

    fn handle_response(
        _alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        let mode = mode(&target)?;
        if mode == "trap-in-response" {
            panic!("misbehave: trapping in handle-response as asked");
        }
        classify_status(
            &response,
            format!("misbehave target answered {}", response.status),
        )?;
        if mode == "state" {
            return Ok(Action::delivered_with_note(format!(
                "{COUNTER}={}",
                counter(&HostState)
            )));
        }
        Ok(Action::delivered_with_note(version_tag(&target)))
    }

    /// None: a test guest has no probe; the host must cope with kinds without one.
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

/// The target's `options.mode`, which `validate-target` made sure is there.
fn mode(target: &Target) -> Result<&str, Error> {
    target
        .option("mode")
        .ok_or_else(|| Error::permanent("`options.mode` is missing"))
}

/// `options.version_tag`, defaulting to `v1`.
fn version_tag(target: &Target) -> String {
    target.option("version_tag").unwrap_or("v1").to_string()
}

/// A numeric option with a default; a bad value is a permanent error naming the field.
fn parse_option<T: std::str::FromStr>(target: &Target, key: &str, default: T) -> Result<T, Error> {
    match target.option(key) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            Error::permanent(format!("`options.{key}` must be a number, not `{raw}`"))
        }),
    }
}

/// The remembered counter, 0 when none (or unreadable).
fn counter(state: &impl State) -> u64 {
    state.get(COUNTER).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The well-behaved request: `POST {url}` with the fingerprint and version tag.
fn ok_request(alert: &EnrichedAlert, target: &Target) -> Action {
    let body = serde_json::json!({
        "fingerprint": alert.alert.fingerprint,
        "plugin_version": version_tag(target),
    });
    Action::Send(json_request(
        "POST",
        target.url.clone(),
        "application/json",
        &target.headers,
        &body,
    ))
}

/// Loops forever; `black_box` keeps the optimizer from proving the loop empty.
fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB buffers forever, writing every page of each and keeping
/// them all, so the memory really is committed and never freed.
fn hoard_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        let mark = (hoard.len() & 0xff) as u8 | 1;
        chunk.iter_mut().step_by(4096).for_each(|b| *b = mark);
        hoard.push(black_box(chunk));
    }
}

/// Spins on the monotonic clock until `how_long` has passed.
fn burn_cpu(how_long: Duration) {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < how_long {
        n = black_box(n.wrapping_add(1));
    }
}

export_adapter!(Plugin);
