use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::health::HealthCheckStrategy;
use crate::model::TargetSource;

const SECRET: &str = "s3cr3t-value-never-shown";

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn load(dir: &Path, env: &dyn Env) -> TargetSet {
    load_targets(&[dir.to_path_buf()], Duration::from_secs(10), env)
}

fn parse_daemon(text: &str) -> Result<DaemonConfig, ConfigError> {
    DaemonConfig::parse(Path::new("config/herald.toml"), text)
}

fn invalid_keys(config: &DaemonConfig) -> Vec<String> {
    config
        .validate()
        .iter()
        .filter_map(|e| e.key().map(str::to_string))
        .collect()
}

const HOOK: &str = r#"
name = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9099/hook"
"#;

// ---------------------------------------------------------------------------
// The daemon config

#[test]
fn an_empty_daemon_config_is_all_defaults() {
    let c = parse_daemon("").unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9300");
    assert_eq!(c.server.max_body_bytes, 1 << 20);
    assert_eq!(c.server.request_timeout, Duration::from_secs(30));
    assert_eq!(c.plugins.dir, PathBuf::from("plugins"));
    assert_eq!(c.plugins.memory_cap, 64 << 20);
    assert_eq!(c.plugins.call_timeout, Duration::from_secs(1));
    assert_eq!(c.targets.dirs, vec![PathBuf::from("targets")]);
    assert_eq!(c.targets.default_timeout, Duration::from_secs(10));
    assert_eq!(c.publish, crate::publish::ParallelPublishOptions::default());
    assert_eq!(c.log.format, LogFormat::Pretty);
    assert_eq!(c.health, crate::health::HealthConfig::default());
    assert_eq!(c.queue.settings(), crate::queue::QueueSettings::default());
    assert_eq!(c.queue.retry.max_attempts, 8);
    assert_eq!(c.queue.retry.factor, 2.0);
    assert!(c.validate().is_empty(), "{:?}", c.validate());
}

#[test]
fn every_section_parses() {
    let c = parse_daemon(
        r#"
[server]
listen = "0.0.0.0:8080"
max_body_bytes = "2MiB"
request_timeout = "250ms"
ingress_token_env = "HERALD_INGRESS_TOKEN"

[plugins]
dir = "/opt/herald/plugins"
memory_cap = 33554432
call_timeout = "500ms"
max_request_body = "512KiB"

[targets]
dirs = ["targets", "/etc/herald/targets"]
default_timeout = "3s"

[publish]
timeout = "10s"
max_concurrent = 50
health_strategy = "publish_to_all"

[admin]
token_file = "/run/secrets/admin"

[log]
format = "json"
level = "info,herald=debug"

[health]
interval = "1m"

[health.circuit_breaker]
failure_threshold = 7

[health.targets.pd-prod]
interval = "2m"

[queue]
data_dir = "/var/lib/herald"
max_bytes = "10GB"

[queue.retry]
initial = "2s"
factor = 3

[queue.targets.pd-prod]
max_attempts = 20
"#,
    )
    .unwrap();
    assert_eq!(c.server.listen.port(), 8080);
    assert_eq!(c.server.max_body_bytes, 2 << 20);
    assert_eq!(c.server.request_timeout, Duration::from_millis(250));
    assert_eq!(c.plugins.memory_cap, 32 << 20);
    assert_eq!(c.plugins.max_request_body, 512 << 10);
    assert_eq!(
        c.plugins.runtime_limits().call_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(c.targets.dirs.len(), 2);
    assert_eq!(c.publish.max_concurrent, 50);
    assert_eq!(c.publish.health_strategy, HealthCheckStrategy::PublishToAll);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.health.interval, Duration::from_secs(60));
    assert_eq!(c.health.circuit_breaker.failure_threshold, 7);
    assert_eq!(
        c.health.probe_settings("pd-prod").interval,
        Duration::from_secs(120)
    );
    let q = c.queue.settings();
    assert_eq!(q.max_bytes, 10_000_000_000);
    assert_eq!(q.retry.factor, 3.0);
    assert_eq!(q.retry_for("other").max_attempts, 8);
    let pd = q.retry_for("pd-prod");
    assert_eq!(
        (pd.max_attempts, pd.initial, pd.factor),
        (20, Duration::from_secs(2), 3.0)
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
}

#[test]
fn an_unknown_key_names_the_file_the_key_and_the_line() {
    let err = parse_daemon("[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n").unwrap_err();
    let ConfigError::Parse {
        file,
        line,
        key,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(file, Path::new("config/herald.toml"));
    assert_eq!(*line, Some(3));
    assert_eq!(key.as_deref(), Some("server.lisen"), "{err}");
    assert!(message.contains("unknown field `lisen`"), "{message}");
    assert!(
        message.contains("listen"),
        "lists the known keys: {message}"
    );
    assert!(
        err.to_string().starts_with("config/herald.toml:3:"),
        "{err}"
    );

    let err = parse_daemon("[sever]\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `sever`"), "{err}");
}

#[test]
fn an_inline_admin_token_is_refused() {
    let err = parse_daemon("[admin]\ntoken = \"abc\"\n").unwrap_err();
    assert_eq!(err.key(), Some("admin.token"), "{err}");
}

#[test]
fn a_toml_syntax_error_names_the_line_column_and_key() {
    let err = parse_daemon("[publish]\ntimeout = \"30s\nmax_concurrent = 3\n").unwrap_err();
    let ConfigError::Parse {
        line, column, key, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(2), "{err}");
    assert!(column.is_some(), "{err}");
    assert_eq!(key.as_deref(), Some("publish.timeout"), "{err}");
}

#[test]
fn durations_parse_and_bad_ones_name_the_key() {
    let c = parse_daemon(
        "[plugins]\ncall_timeout = \"250ms\"\n[server]\nrequest_timeout = \"1m 30s\"\n",
    )
    .unwrap();
    assert_eq!(c.plugins.call_timeout, Duration::from_millis(250));
    assert_eq!(c.server.request_timeout, Duration::from_secs(90));

    for (text, key) in [
        (
            "[server]\nrequest_timeout = \"soon\"\n",
            "server.request_timeout",
        ),
        ("[server]\nrequest_timeout = 30\n", "server.request_timeout"),
        ("[health]\ninterval = \"30\"\n", "health.interval"),
        ("[publish]\ntimeout = \"3 parsecs\"\n", "publish.timeout"),
    ] {
        let err = parse_daemon(text).unwrap_err();
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert!(
            matches!(err, ConfigError::Parse { line: Some(_), .. }),
            "{err:?}"
        );
    }
    let err = parse_daemon("[server]\nrequest_timeout = \"soon\"\n").unwrap_err();
    assert!(
        err.to_string().contains("\"30s\""),
        "says what is expected: {err}"
    );
}

#[test]
fn sizes_take_units_or_bytes() {
    assert_eq!(units::parse_bytes("64MiB"), Ok(64 << 20));
    assert_eq!(units::parse_bytes("64 mib"), Ok(64 << 20));
    assert_eq!(units::parse_bytes("1KB"), Ok(1000));
    assert_eq!(units::parse_bytes("1GiB"), Ok(1 << 30));
    assert_eq!(units::parse_bytes("4096"), Ok(4096));
    for bad in ["1.5MiB", "MiB", "12 parsecs", "-1", ""] {
        assert!(units::parse_bytes(bad).is_err(), "{bad}");
    }
    let err = parse_daemon("[server]\nmax_body_bytes = \"lots\"\n").unwrap_err();
    assert_eq!(err.key(), Some("server.max_body_bytes"), "{err}");
    let err = parse_daemon("[server]\nmax_body_bytes = -1\n").unwrap_err();
    assert_eq!(err.key(), Some("server.max_body_bytes"), "{err}");
}

#[test]
fn validation_names_the_key_and_the_rule() {
    let c = parse_daemon("[publish]\nmax_concurrent = 0\n").unwrap();
    let errors = c.validate();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "config/herald.toml: `publish.max_concurrent` must be between 1 and 10000, not 0"
    );

    let c = parse_daemon(
        r#"
[server]
request_timeout = "0s"
[plugins]
memory_cap = "64KiB"
call_timeout = "1ms"
[publish]
enable_retry = true
[log]
level = "loud=="
[health]
timeout = "1m"
interval = "30s"
[queue.retry]
factor = 0.5
max_attempts = 0
[queue.targets.pd-prod]
initial = "10m"
"#,
    )
    .unwrap();
    let keys = invalid_keys(&c);
    for key in [
        "server.request_timeout",
        "plugins.memory_cap",
        "plugins.call_timeout",
        "publish.enable_retry",
        "log.level",
        "health.timeout",
        "queue.retry.factor",
        "queue.retry.max_attempts",
        "queue.targets.pd-prod.max_delay",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}

#[test]
fn a_token_comes_from_one_source_and_never_inline() {
    let c = parse_daemon("[admin]\ntoken_env = \"A\"\ntoken_file = \"/x\"\n").unwrap();
    assert_eq!(invalid_keys(&c), ["admin.token_file"]);
    let c = parse_daemon("[admin]\ntoken_env = \"not a name\"\n").unwrap();
    assert_eq!(invalid_keys(&c), ["admin.token_env"]);
}

#[test]
fn relative_paths_resolve_against_the_config_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "etc/herald.toml",
        "[plugins]\ndir = \"../plugins\"\n[targets]\ndirs = [\"targets\", \"/abs\"]\n[admin]\ntoken_file = \"admin.token\"\n",
    );
    write(dir.path(), "etc/admin.token", &format!("{SECRET}\n"));
    let c = DaemonConfig::load_with_env(&path, &no_env()).unwrap();
    let etc = dir.path().join("etc");
    assert_eq!(c.plugins.dir, etc.join("../plugins"));
    assert_eq!(
        c.targets.dirs,
        vec![etc.join("targets"), PathBuf::from("/abs")]
    );
    assert_eq!(c.queue.data_dir, etc.join("data"));
    let token = c.admin.token.as_ref().expect("token read");
    assert_eq!(token.expose(), SECRET, "trailing newline dropped");
    assert!(token.verify(SECRET));
    assert!(!token.verify("s3cr3t-value-never-show"));
    assert!(!token.verify(""));
    assert!(!format!("{c:?}").contains(SECRET), "Debug hides the token");
    assert_eq!(token.to_string(), "***");
}

#[test]
fn tokens_from_the_environment_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "herald.toml",
        "[admin]\ntoken_env = \"HERALD_ADMIN_TOKEN\"\n[server]\ningress_token_file = \"missing.token\"\n",
    );
    let err =
        DaemonConfig::load_with_env(&path, &env(&[("HERALD_ADMIN_TOKEN", SECRET)])).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].key(), Some("server.ingress_token_file"));
    assert!(err.to_string().contains("missing.token"), "{err}");

    let err = DaemonConfig::load_with_env(&path, &no_env()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`admin.token_env`"), "{text}");
    assert!(
        text.contains("HERALD_ADMIN_TOKEN"),
        "names the variable: {text}"
    );

    write(dir.path(), "missing.token", "two words\n");
    let err =
        DaemonConfig::load_with_env(&path, &env(&[("HERALD_ADMIN_TOKEN", SECRET)])).unwrap_err();
    assert!(err.to_string().contains("whitespace"), "{err}");
    assert!(!err.to_string().contains("two words"), "{err}");

    write(dir.path(), "missing.token", SECRET);
    let c =
        DaemonConfig::load_with_env(&path, &env(&[("HERALD_ADMIN_TOKEN", "admin-token")])).unwrap();
    assert_eq!(
        c.admin.token.as_ref().map(|t| t.expose()),
        Some("admin-token")
    );
    assert_eq!(
        c.server.ingress_token.as_ref().map(|t| t.expose()),
        Some(SECRET)
    );
}

// ---------------------------------------------------------------------------
// Target files

#[test]
fn toml_yaml_and_json_targets_load_alike() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        r#"
name = "a"
kind = "webhook"
url = "https://hooks.example/a"
timeout = "2s"
[headers]
X-Team = "ops"
[options]
format = "alertmanager"
[secrets]
signing_secret = "literal"
"#,
    );
    write(
        dir.path(),
        "b.yaml",
        "name: b\nkind: webhook\nurl: https://hooks.example/a\ntimeout: 2s\nheaders:\n  X-Team: ops\noptions:\n  format: alertmanager\nsecrets:\n  signing_secret: literal\n",
    );
    write(
        dir.path(),
        "c.json",
        r#"{"name":"c","kind":"webhook","url":"https://hooks.example/a","timeout":"2s",
            "headers":{"X-Team":"ops"},"options":{"format":"alertmanager"},
            "secrets":{"signing_secret":"literal"}}"#,
    );
    write(
        dir.path(),
        "d.yml",
        "name: d\nkind: webhook\nurl: http://127.0.0.1:1\nenabled: false\n",
    );
    let set = load(dir.path(), &no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let names: Vec<&str> = set.targets().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let a = set.get("a").unwrap();
    for other in ["b", "c"] {
        let t = set.get(other).unwrap();
        assert_eq!((&t.kind, &t.url, t.enabled), (&a.kind, &a.url, a.enabled));
        assert_eq!((&t.headers, &t.options), (&a.headers, &a.options));
        assert_eq!(t.secrets, a.secrets);
        assert_eq!(t.timeout, Duration::from_secs(2));
    }
    let d = set.get("d").unwrap();
    assert!(!d.enabled);
    assert_eq!(d.timeout, Duration::from_secs(10), "the default timeout");
    assert_eq!(set.file_of("b"), Some(dir.path().join("b.yaml").as_path()));
}

#[test]
fn unknown_keys_in_target_files_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(dir.path(), "a.toml", &format!("{HOOK}enabeld = false\n"));
    let yaml = write(
        dir.path(),
        "b.yaml",
        "name: b\nkind: webhook\nurl: http://x\noptions:\n  ok: yes\nsecret:\n  k: v\n",
    );
    let json = write(
        dir.path(),
        "c.json",
        r#"{"name":"c","kind":"webhook","url":"http://x","header":{}}"#,
    );
    let set = load(dir.path(), &no_env());
    assert!(set.targets().is_empty());
    let expect = [
        (toml, "enabeld", 5),
        (yaml, "secret", 6),
        (json, "header", 1),
    ];
    assert_eq!(set.problems().len(), 3, "{:?}", set.problems());
    for (problem, (file, key, line)) in set.problems().iter().zip(expect) {
        assert_eq!(problem.file(), file, "{problem}");
        assert_eq!(problem.key(), Some(key), "{problem}");
        assert!(
            matches!(problem, ConfigError::Parse { line: Some(l), .. } if *l == line),
            "{problem:?}"
        );
        assert!(
            problem
                .to_string()
                .contains(&format!("unknown field `{key}`")),
            "{problem}"
        );
    }
}

#[test]
fn a_missing_or_mistyped_field_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", "name = \"a\"\nkind = \"webhook\"\n");
    write(
        dir.path(),
        "b.toml",
        &format!("{HOOK}[options]\nretries = 3\n"),
    );
    let set = load(dir.path(), &no_env());
    let text: Vec<String> = set.problems().iter().map(ToString::to_string).collect();
    assert!(text[0].contains("missing field `url`"), "{text:?}");
    assert_eq!(set.problems()[1].key(), Some("options.retries"), "{text:?}");
}

#[test]
fn names_must_be_dns_labels() {
    for good in ["a", "pd-prod", "0", "a1-b2", &"x".repeat(63)] {
        assert!(valid_name(good), "{good}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "A",
        "pd_prod",
        "pd.prod",
        "pd prod",
        "é",
        &"x".repeat(64),
    ] {
        assert!(!valid_name(bad), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        &HOOK.replace("ops-hook", "Ops_Hook"),
    );
    let set = load(dir.path(), &no_env());
    assert!(set.targets().is_empty());
    let problem = &set.problems()[0];
    assert_eq!(problem.file(), file);
    assert_eq!(problem.key(), Some("name"));
    assert!(problem.to_string().contains("`Ops_Hook`"), "{problem}");
}

#[test]
fn duplicate_names_name_both_files_and_the_first_keeps_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "a.toml", HOOK);
    let second = write(
        dir.path(),
        "b.json",
        r#"{"name":"ops-hook","kind":"webhook","url":"http://127.0.0.1:1/other"}"#,
    );
    let other_dir = tempfile::tempdir().unwrap();
    let third = write(other_dir.path(), "c.toml", HOOK);
    let set = load_targets(
        &[dir.path().to_path_buf(), other_dir.path().to_path_buf()],
        Duration::from_secs(1),
        &no_env(),
    );
    assert_eq!(set.targets().len(), 1);
    assert_eq!(
        set.get("ops-hook").unwrap().url,
        "http://127.0.0.1:9099/hook"
    );
    assert_eq!(set.problems().len(), 2, "{:?}", set.problems());
    for (problem, file) in set.problems().iter().zip([second, third]) {
        assert_eq!(problem.file(), file);
        let text = problem.to_string();
        assert!(text.contains(&first.display().to_string()), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
    }
}

#[test]
fn urls_must_be_http_with_a_host() {
    let dir = tempfile::tempdir().unwrap();
    for (i, url) in [
        "http://",
        "https:///path",
        "ftp://example.com",
        "example.com/hook",
        "http://user:pw@example.com/",
        "",
    ]
    .iter()
    .enumerate()
    {
        write(
            dir.path(),
            &format!("t{i}.toml"),
            &HOOK
                .replace("http://127.0.0.1:9099/hook", url)
                .replace("ops-hook", &format!("t{i}")),
        );
    }
    write(
        dir.path(),
        "ok.toml",
        &HOOK.replace("http://127.0.0.1:9099/hook", "https://[::1]:8443/x"),
    );
    let set = load(dir.path(), &no_env());
    assert_eq!(set.targets().len(), 1, "{:?}", set.problems());
    assert_eq!(set.problems().len(), 6, "{:?}", set.problems());
    assert!(
        set.problems().iter().all(|p| p.key() == Some("url")),
        "{:?}",
        set.problems()
    );
    assert!(
        set.problems()
            .iter()
            .all(|p| !p.to_string().contains("pw@")),
        "credentials are not echoed: {:?}",
        set.problems()
    );
}

#[test]
fn a_zero_or_bad_timeout_is_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", &format!("{HOOK}timeout = \"0s\"\n"));
    write(
        dir.path(),
        "b.yaml",
        "name: b\nkind: webhook\nurl: http://x\ntimeout: fast\n",
    );
    write(
        dir.path(),
        "c.json",
        r#"{"name":"c","kind":"webhook","url":"http://x","timeout":"250ms"}"#,
    );
    let set = load(dir.path(), &no_env());
    assert_eq!(set.targets().len(), 1);
    assert_eq!(set.get("c").unwrap().timeout, Duration::from_millis(250));
    let keys: Vec<_> = set.problems().iter().map(|p| p.key()).collect();
    assert_eq!(
        keys,
        [Some("timeout"), Some("timeout")],
        "{:?}",
        set.problems()
    );
}

#[test]
fn env_and_file_secrets_resolve_and_never_show() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "keys/pd", &format!("{SECRET}\n"));
    write(
        dir.path(),
        "pd.toml",
        r#"
name = "pd"
kind = "pagerduty"
url = "https://events.pagerduty.com"
[secrets]
routing_key = "file:keys/pd"
from_env = "${PD_KEY}"
absolute = "file:ABSOLUTE"
literal = "plain$${NOT_A_REF} $5"
embedded = "key=${PD_KEY};${PD_KEY}"
[headers]
Authorization = "Bearer ${HDR_TOKEN}"
X-Plain = "as is"
"#
        .replace(
            "ABSOLUTE",
            &dir.path().join("keys/pd").display().to_string(),
        )
        .as_str(),
    );
    let set = load(
        dir.path(),
        &env(&[
            ("PD_KEY", "from-the-environment"),
            ("HDR_TOKEN", "header-token"),
        ]),
    );
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let pd = set.get("pd").unwrap();
    let secrets = pd.secrets.expose();
    assert_eq!(
        secrets["routing_key"], SECRET,
        "relative to the target file; newline dropped"
    );
    assert_eq!(secrets["absolute"], SECRET);
    assert_eq!(secrets["from_env"], "from-the-environment");
    assert_eq!(
        secrets["literal"], "plain${NOT_A_REF} $5",
        "`$${{` is a literal `${{`"
    );
    assert_eq!(
        secrets["embedded"],
        "key=from-the-environment;from-the-environment"
    );
    assert_eq!(pd.headers["Authorization"], "Bearer header-token");
    assert_eq!(pd.headers["X-Plain"], "as is");
    let debug = format!("{set:?} {pd:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("from-the-environment"),
        "{debug}"
    );
    assert!(debug.contains("routing_key"), "keys are shown: {debug}");
}

#[test]
fn unresolvable_secrets_name_the_file_key_and_reference_but_not_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "pd.toml",
        &format!(
            r#"
name = "pd"
kind = "pagerduty"
url = "https://events.pagerduty.com"
[secrets]
routing_key = "${{PD_ROUTING_KEY}}"
token = "file:/nonexistent/herald/token"
empty = "${{EMPTY}}"
bad = "${{NOT-A-NAME}}"
open = "{SECRET}${{UNCLOSED"
fine = "{SECRET}"
[headers]
Authorization = "Bearer ${{HDR_TOKEN}}"
"#
        ),
    );
    let set = load(dir.path(), &env(&[("EMPTY", "")]));
    assert!(
        set.targets().is_empty(),
        "a file with a bad secret contributes no target"
    );
    let problems = set.problems();
    assert_eq!(problems.len(), 6, "{problems:?}");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for p in problems {
        assert!(matches!(p, ConfigError::Secret { .. }), "{p:?}");
        assert_eq!(p.file(), file);
    }
    let find = |key: &str| {
        text.iter()
            .find(|t| t.contains(&format!(".{key}`")))
            .unwrap_or_else(|| panic!("{key} in {text:?}"))
    };
    assert!(find("routing_key").contains("PD_ROUTING_KEY"));
    assert!(find("routing_key").contains("not set"));
    assert!(find("token").contains("/nonexistent/herald/token"));
    assert!(find("empty").contains("empty"));
    assert!(find("bad").contains("not an environment variable name"));
    assert!(find("open").contains("without a closing"));
    assert!(find("Authorization").contains("HDR_TOKEN"));
    assert!(text.iter().all(|t| !t.contains(SECRET)), "{text:?}");
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.toml",
        &format!("{HOOK}[secrets]\nsigning_secret = 918273645\n"),
    );
    write(
        dir.path(),
        "b.json",
        r#"{"name":"b","kind":"webhook","url":"http://x","secrets":{"k":918273645}}"#,
    );
    write(
        dir.path(),
        "c.yaml",
        "name: c\nkind: webhook\nurl: http://x\nsecrets:\n  k: [918273645]\n",
    );
    write(
        dir.path(),
        "d.toml",
        &format!("{HOOK}[headers]\nX-Api-Key = 918273645\n"),
    );
    let set = load(dir.path(), &no_env());
    assert_eq!(set.problems().len(), 4, "{:?}", set.problems());
    for p in set.problems() {
        let text = p.to_string();
        assert!(!text.contains("918273645"), "{text}");
        assert!(text.contains("must be a string"), "{text}");
        assert!(
            p.key()
                .is_some_and(|k| k.starts_with("secrets.") || k.starts_with("headers.")),
            "{text}"
        );
    }
}

#[test]
fn one_bad_file_does_not_block_the_others() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a-good.toml", HOOK);
    write(
        dir.path(),
        "b-broken.toml",
        "name = \"b\"\nkind = \"webhook\nurl = 3\n",
    );
    write(dir.path(), "c-broken.json", "{");
    write(dir.path(), "d-broken.yaml", "name: [\n");
    write(
        dir.path(),
        "e-good.yaml",
        "name: e\nkind: slack\nurl: https://hooks.slack.com\n",
    );
    let set = load(dir.path(), &no_env());
    let names: Vec<&str> = set.targets().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["e", "ops-hook"]);
    assert_eq!(set.problems().len(), 3, "{:?}", set.problems());
    for p in set.problems() {
        assert!(
            matches!(p, ConfigError::Parse { line: Some(_), .. }),
            "{p:?}"
        );
    }
}

#[test]
fn hidden_and_foreign_files_are_ignored_and_missing_dirs_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".ops-hook.toml.swp", "garbage");
    write(dir.path(), ".hidden.toml", "garbage");
    write(dir.path(), "README.md", "# targets");
    write(dir.path(), "ops-hook.toml", HOOK);
    let missing = dir.path().join("nope");
    let set = load_targets(
        &[dir.path().to_path_buf(), missing.clone()],
        Duration::from_secs(1),
        &no_env(),
    );
    assert_eq!(set.targets().len(), 1);
    assert_eq!(set.problems().len(), 1, "{:?}", set.problems());
    assert_eq!(set.problems()[0].file(), missing);
    assert!(matches!(set.problems()[0], ConfigError::Read { .. }));
}

/// Lays out a directory as the kubelet mounts a Secret volume: the keys are
/// symlinks into `..data`, itself a symlink to a timestamped directory.
#[cfg(unix)]
fn k8s_secret_volume(root: &Path, generation: &str, files: &[(&str, &str)]) {
    use std::os::unix::fs::symlink;
    let real = root.join(generation);
    std::fs::create_dir_all(&real).unwrap();
    for (name, content) in files {
        std::fs::write(real.join(name), content).unwrap();
    }
    let tmp = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(generation, &tmp).unwrap();
    std::fs::rename(&tmp, root.join("..data")).unwrap();
    for (name, _) in files {
        let link = root.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn kubernetes_secret_volumes_are_read_through_the_data_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("pd-prod");
    let v1 = r#"{"name":"pd-prod","kind":"pagerduty","url":"https://events.pagerduty.com",
                 "secrets":{"routing_key":"file:routing_key"}}"#;
    k8s_secret_volume(
        &volume,
        "..2026_12_01_10_00_00.000000001",
        &[("config", v1), ("routing_key", SECRET)],
    );
    write(dir.path(), "ops-hook.toml", HOOK);
    let set = load(dir.path(), &no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let pd = set.get("pd-prod").expect("read from the volume");
    assert_eq!(
        pd.secrets.expose()["routing_key"],
        SECRET,
        "a sibling key of the Secret"
    );
    assert_eq!(
        set.file_of("pd-prod"),
        Some(volume.join("config").as_path())
    );

    // The kubelet's update: a new timestamped dir, `..data` swapped atomically.
    let v2 = v1.replace("events.pagerduty.com", "events.eu.pagerduty.com");
    k8s_secret_volume(
        &volume,
        "..2026_12_02_10_00_00.000000002",
        &[("config", &v2), ("routing_key", "rotated")],
    );
    let set = load(dir.path(), &no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let pd = set.get("pd-prod").unwrap();
    assert_eq!(pd.url, "https://events.eu.pagerduty.com");
    assert_eq!(pd.secrets.expose()["routing_key"], "rotated");

    // A targets dir that is itself the mount: `config` at its top level.
    let set = load(&volume, &no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    assert_eq!(set.targets().len(), 1);
}

#[test]
fn a_directory_without_config_is_not_a_target() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "keys/hook-secret", SECRET);
    write(
        dir.path(),
        "ops-hook.toml",
        &format!("{HOOK}[secrets]\nsigning_secret = \"file:keys/hook-secret\"\n"),
    );
    let set = load(dir.path(), &no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    assert_eq!(set.targets().len(), 1);
    assert_eq!(set.targets()[0].secrets.expose()["signing_secret"], SECRET);
}

#[test]
fn the_store_swaps_atomically_and_serves_the_publisher() {
    let store = TargetStore::new(TargetSet::from_targets(vec![crate::model::Target::new(
        "a", "webhook", "http://x",
    )]));
    let before = store.targets();
    assert_eq!(before.len(), 1);
    let old = store.replace(TargetSet::from_targets(vec![
        crate::model::Target::new("b", "webhook", "http://x"),
        crate::model::Target::new("c", "webhook", "http://x"),
    ]));
    assert_eq!(old.targets().len(), 1);
    assert_eq!(
        before[0].name, "a",
        "a snapshot taken before keeps its targets"
    );
    assert_eq!(store.targets().len(), 2);
    assert_eq!(
        store.snapshot().get("c").map(|t| t.kind.as_str()),
        Some("webhook")
    );
}

#[test]
fn a_reload_keeps_the_previous_version_of_a_target_whose_file_broke() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", HOOK);
    write(dir.path(), "b.toml", &HOOK.replace("ops-hook", "b"));
    write(dir.path(), "c.toml", &HOOK.replace("ops-hook", "c"));
    let previous = load(dir.path(), &no_env());
    assert_eq!(previous.targets().len(), 3);

    // a: a bad edit; b: deleted; c: a good edit.
    write(dir.path(), "a.toml", &format!("{HOOK}enabeld = false\n"));
    std::fs::remove_file(dir.path().join("b.toml")).unwrap();
    write(
        dir.path(),
        "c.toml",
        &HOOK.replace("ops-hook", "c").replace("/hook", "/new"),
    );
    let mut set = load(dir.path(), &no_env());
    assert!(set.get("ops-hook").is_none());
    set.keep_previous(&previous);
    let names: Vec<&str> = set.targets().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c", "ops-hook"], "b's file is gone, so b is");
    assert_eq!(set.get("ops-hook"), previous.get("ops-hook"));
    assert_eq!(set.get("c").unwrap().url, "http://127.0.0.1:9099/new");
    assert_eq!(set.problems().len(), 1, "the problem is still reported");
    assert_eq!(
        set.file_of("ops-hook"),
        Some(dir.path().join("a.toml").as_path())
    );
}

#[test]
fn secret_strings_hide_their_value() {
    let s = SecretString::new(SECRET);
    assert!(!format!("{s:?} {s}").contains(SECRET));
    assert!(s.verify(SECRET));
    assert!(!s.verify(&format!("{SECRET}x")));
}

// ---------------------------------------------------------------------------
// The examples under config/ (the adapters' part is in tests/e2e/config.rs)

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

#[test]
fn the_example_daemon_config_parses_and_validates() {
    let path = examples().join("herald.toml");
    let c = DaemonConfig::load_with_env(&path, &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9300");
    assert!(c.admin.token.is_none(), "the first run needs no env vars");
    assert!(
        c.plugins.dir.ends_with("target/plugins"),
        "{:?}",
        c.plugins.dir
    );
    assert_eq!(c.targets.dirs, vec![examples().join("targets")]);
}

#[test]
fn every_example_target_loads_with_no_env_vars() {
    let c = DaemonConfig::load_with_env(&examples().join("herald.toml"), &no_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let set = c.targets.load_with_env(&no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let files: Vec<PathBuf> = std::fs::read_dir(examples().join("targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(
        set.targets().len(),
        files.len(),
        "every file is a target: {files:?}"
    );
    let mut kinds: Vec<&str> = set.targets().iter().map(|t| t.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(
        kinds,
        ["alertmanager", "pagerduty", "rootly", "slack", "webhook"]
    );
    for ext in ["toml", "yaml", "json"] {
        assert!(
            files
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == ext)),
            "an example in {ext}"
        );
    }
    for t in set.targets().iter() {
        let url = url::Url::parse(&t.url).unwrap();
        assert_eq!(
            url.host_str(),
            Some("127.0.0.1"),
            "{} delivers to a local sink",
            t.name
        );
        assert!(t.enabled, "{}", t.name);
    }
}

#[cfg(unix)]
#[test]
fn the_kubernetes_example_holds_a_valid_target() {
    let dir = examples().join("k8s");
    let mut secrets = Vec::new();
    let mut mounted = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if Format::from_path(&path) != Some(Format::Yaml) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match value["kind"].as_str() {
                Some("Secret") => {
                    let name = value["metadata"]["name"].as_str().unwrap().to_string();
                    // Mount it as the kubelet would, then load it as a target dir.
                    let data = value["stringData"].as_mapping().unwrap();
                    let files: Vec<(&str, &str)> = data
                        .iter()
                        .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
                        .collect();
                    assert!(files.iter().any(|(k, _)| *k == K8S_CONFIG_FILE), "{name}");
                    let targets = tempfile::tempdir().unwrap();
                    k8s_secret_volume(&targets.path().join(&name), "..2026_12_01", &files);
                    let set = load(targets.path(), &no_env());
                    assert!(set.problems().is_empty(), "{name}: {:?}", set.problems());
                    assert_eq!(set.targets().len(), 1, "{name}");
                    secrets.push(name);
                }
                Some("Deployment") => {
                    let volumes = value["spec"]["template"]["spec"]["volumes"]
                        .as_sequence()
                        .unwrap();
                    for v in volumes {
                        if let Some(name) = v["secret"]["secretName"].as_str() {
                            mounted.push(name.to_string());
                        }
                    }
                }
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            }
        }
    }
    assert!(
        !secrets.is_empty(),
        "a Secret manifest in {}",
        dir.display()
    );
    for name in &mounted {
        assert!(
            secrets.contains(name),
            "the Deployment mounts `{name}`, defined here"
        );
    }
}

use serde::Deserialize as _;
