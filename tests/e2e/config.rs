//! Configuration against the real adapters: every example under `config/`
//! passes the adapters' own `validate-target`, `check-config` reports every
//! kind of problem with its file and key (and never a secret), and targets
//! loaded from files deliver through the publisher, swapped atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use herald::config::{
    ConfigError, DaemonConfig, TargetStore, check_config_with_env, load_targets,
    validate_with_plugins,
};
use herald::health::AlwaysHealthy;
use herald::publish::{Deliverer, ParallelPublishOptions, Publisher};
use herald_tests::{Behaviour, MockTarget, alert, repo_root, runtime, wasm};

const ADAPTERS: [&str; 5] = ["webhook", "pagerduty", "slack", "rootly", "alertmanager"];

fn adapter_crates() -> Vec<String> {
    ADAPTERS
        .iter()
        .map(|k| format!("herald_plugin_{k}"))
        .collect()
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a file in a directory")).expect("mkdir");
    std::fs::write(&path, text).expect("write");
    path
}

/// A plugin directory holding the named adapters as `<kind>.wasm`, as `make plugins` lays it out.
fn plugin_dir(kinds: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in kinds {
        std::fs::copy(
            wasm(&format!("herald_plugin_{kind}")),
            dir.path().join(format!("{kind}.wasm")),
        )
        .expect("copy the adapter");
    }
    dir
}

#[tokio::test]
async fn every_example_target_passes_its_adapters_validation() {
    let config = DaemonConfig::load_with_env(&repo_root().join("config/herald.toml"), &no_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let set = config.targets.load_with_env(&no_env());
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    assert_eq!(set.targets().len(), ADAPTERS.len());
    let crates = adapter_crates();
    let rt = runtime(&crates.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let issues = validate_with_plugins(&set, &rt).await;
    assert!(issues.is_empty(), "{issues:#?}");
}

#[tokio::test]
async fn check_config_passes_the_example_as_shipped() {
    // The example verbatim but for its two paths, which point into this
    // checkout (`../target/plugins` exists only after `make plugins`).
    let plugins = plugin_dir(&ADAPTERS);
    let text = std::fs::read_to_string(repo_root().join("config/herald.toml")).unwrap();
    let targets = repo_root().join("config/targets");
    let patched = text
        .replace(
            "dir = \"../target/plugins\"",
            &format!("dir = {:?}", plugins.path().display().to_string()),
        )
        .replace(
            "dirs = [\"targets\"]",
            &format!("dirs = [{:?}]", targets.display().to_string()),
        );
    assert_ne!(patched, text, "the example's paths were found");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "herald.toml", &patched);

    let report = check_config_with_env(&path, &no_env()).await;
    let text = report.render();
    assert!(report.is_ok(), "{text}");
    assert_eq!(report.plugins.len(), 5, "{text}");
    assert_eq!(report.targets.len(), 5, "{text}");
    assert!(text.contains("no problems"), "{text}");
    assert!(text.contains("5 targets loaded (5 enabled)"), "{text}");
    assert!(
        !text.contains("DEMODEMO"),
        "no secret in the report: {text}"
    );
}

#[tokio::test]
async fn check_config_reports_every_problem_with_file_and_key() {
    let plugins = plugin_dir(&["webhook", "pagerduty"]);
    std::fs::write(plugins.path().join("broken.wasm"), b"not wasm").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "herald.toml",
        &format!(
            "[plugins]\ndir = {:?}\n[publish]\nmax_concurrent = 0\n[admin]\ntoken_env = \"CHECK_ADMIN_TOKEN\"\n",
            plugins.path().display().to_string()
        ),
    );
    let good = write(
        dir.path(),
        "targets/good.toml",
        "name = \"good\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n",
    );
    // 31 characters: the PagerDuty adapter wants 32. Never to be printed.
    let short_key = "SHORTKEYSHORTKEYSHORTKEYSHORTKE";
    let pd = write(
        dir.path(),
        "targets/pd.json",
        &format!(
            r#"{{"name":"pd","kind":"pagerduty","url":"https://events.pagerduty.com",
                "secrets":{{"routing_key":"{short_key}"}}}}"#
        ),
    );
    let slack = write(
        dir.path(),
        "targets/chat.yaml",
        "name: chat\nkind: slack\nurl: https://hooks.slack.com\n",
    );
    let typo = write(
        dir.path(),
        "targets/typo.toml",
        "name = \"typo\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nenable = true\n",
    );
    let env_ref = write(
        dir.path(),
        "targets/env.toml",
        "name = \"env\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n[secrets]\nsigning_secret = \"${CHECK_SIGNING_SECRET}\"\n",
    );
    let dup = write(
        dir.path(),
        "targets/zz-dup.toml",
        "name = \"good\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/other\"\n",
    );

    let report = check_config_with_env(&config, &no_env()).await;
    let text = report.render();
    assert!(!report.is_ok());
    let found = |pred: &dyn Fn(&ConfigError) -> bool, what: &str| {
        assert!(
            report.problems.iter().any(pred),
            "{what} missing from:\n{text}"
        );
    };
    found(
        &|p| p.file() == config && p.key() == Some("publish.max_concurrent"),
        "publish.max_concurrent",
    );
    found(
        &|p| {
            p.file() == config
                && p.key() == Some("admin.token_env")
                && p.to_string().contains("CHECK_ADMIN_TOKEN")
        },
        "admin token",
    );
    found(
        &|p| matches!(p, ConfigError::Plugin { file, .. } if file.ends_with("broken.wasm")),
        "broken plugin",
    );
    found(
        &|p| {
            matches!(p, ConfigError::AdapterRejected { target, kind, message, .. }
                if target == "pd" && kind == "pagerduty" && message.contains("routing_key"))
                && p.file() == pd
        },
        "adapter rejection",
    );
    found(
        &|p| {
            matches!(p, ConfigError::NotRoutable { target, kind, .. } if target == "chat" && kind == "slack")
                && p.file() == slack
        },
        "not routable",
    );
    found(
        &|p| p.file() == typo && p.key() == Some("enable"),
        "unknown key",
    );
    found(
        &|p| {
            p.file() == env_ref
                && p.key() == Some("secrets.signing_secret")
                && p.to_string().contains("CHECK_SIGNING_SECRET")
        },
        "unset variable",
    );
    found(
        &|p| {
            matches!(p, ConfigError::DuplicateName { first, .. } if first == &good)
                && p.file() == dup
        },
        "duplicate name",
    );
    assert_eq!(report.problems.len(), 8, "{text}");
    assert_eq!(
        text.lines().count(),
        9,
        "one line per problem and a summary:\n{text}"
    );
    assert!(
        text.lines().last().unwrap().contains("8 problems"),
        "{text}"
    );
    assert!(!text.contains(short_key), "{text}");
    let names: Vec<&str> = report.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["chat", "good", "pd"], "valid files still load");
}

#[tokio::test]
async fn check_config_names_a_missing_plugin_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "herald.toml", "[plugins]\ndir = \"nowhere\"\n");
    write(
        dir.path(),
        "targets/good.toml",
        "name = \"good\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n",
    );
    let report = check_config_with_env(&config, &no_env()).await;
    let text = report.render();
    assert_eq!(report.problems.len(), 1, "{text}");
    assert_eq!(report.problems[0].file(), dir.path().join("nowhere"));
    assert!(text.contains("make plugins"), "says what to do: {text}");
    assert!(text.contains("adapter checks skipped"), "{text}");
}

#[tokio::test]
async fn targets_from_files_deliver_and_swap_atomically() {
    let first = MockTarget::start(Behaviour::default()).await;
    let second = MockTarget::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let hook = |name: &str, url: &str| {
        format!(
            "name = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"2s\"\n[secrets]\nsigning_secret = \"${{HOOK_SECRET}}\"\n"
        )
    };
    write(dir.path(), "a.toml", &hook("a", &first.url("/hook")));
    let env: BTreeMap<String, String> =
        [("HOOK_SECRET".to_string(), "from-env".to_string())].into();
    let load = || load_targets(&[dir.path().to_path_buf()], Duration::from_secs(10), &env);

    let set = load();
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let store = Arc::new(TargetStore::new(set));
    let rt = runtime(&["herald_plugin_webhook"]).await;
    let publisher = Publisher::new(
        Arc::new(Deliverer::new(rt).unwrap()),
        store.clone(),
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    )
    .unwrap();

    let result = publisher
        .publish_to_all(&alert("ConfigLoaded"))
        .await
        .unwrap();
    assert_eq!(result.success_count, 1, "{result:?}");
    assert_eq!(first.hits(), 1);
    let signature = first.received()[0].header("x-herald-signature");
    assert!(
        signature.is_some_and(|s| s.starts_with("sha256=")),
        "the env secret signs"
    );

    // Edit the file: `a` moves to the second mock, and `b` appears.
    write(dir.path(), "a.toml", &hook("a", &second.url("/hook")));
    write(dir.path(), "b.toml", &hook("b", &second.url("/b")));
    store.replace(load());
    let result = publisher
        .publish_to_all(&alert("ConfigReloaded"))
        .await
        .unwrap();
    assert_eq!(result.success_count, 2, "{result:?}");
    assert_eq!(first.hits(), 1, "the old target is gone");
    assert_eq!(second.hits(), 2);
}
