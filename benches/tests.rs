use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::*;

fn request(stream: &mut TcpStream, body: &str) -> String {
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn slow_target_answers_each_request_on_a_kept_alive_connection() {
    let target = SlowTarget::start(Duration::ZERO).expect("start");
    let addr = target.url("").trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(addr).expect("connect");
    let first = request(&mut stream, r#"{"a":1}"#);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    let second = request(&mut stream, "");
    assert!(second.contains("content-length: 2"), "{second}");
    assert_eq!(target.hits(), 2);
    let served = target.take_served();
    assert_eq!(served.len(), 2);
    assert!(
        served[0].replied <= served[1].received,
        "one at a time, in order"
    );
    assert_eq!(target.hits(), 0, "taken");
}

#[test]
fn stats_use_nearest_rank_percentiles() {
    let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
    let s = Stats::of(&mut samples);
    assert_eq!(s.count, 100);
    assert_eq!(s.min, Duration::from_millis(1));
    assert_eq!(s.p50, Duration::from_millis(50));
    assert_eq!(s.p99, Duration::from_millis(99));
    assert_eq!(s.max, Duration::from_millis(100));
    assert_eq!(s.mean, Duration::from_micros(50_500));
    let over = s.minus(Duration::from_millis(60));
    assert_eq!(
        (over.min, over.p99),
        (Duration::ZERO, Duration::from_millis(39))
    );
    assert_eq!(Stats::of(&mut []).count, 0);
}

#[tokio::test]
async fn plugin_call_prepares_and_finishes_with_the_webhook_plugin() {
    use std::sync::atomic::Ordering;
    let call = PluginCall::webhook().await;
    let before = call.plugin.calls.load(Ordering::Relaxed);
    call.timed().await.expect("one delivery's plugin work");
    call.once().await.expect("and again, in a fresh session");
    let after = call.plugin.calls.load(Ordering::Relaxed);
    assert_eq!(after - before, 4, "prepare and handle-response, twice");
    assert_eq!(call.plugin.failures.load(Ordering::Relaxed), 0);
}
