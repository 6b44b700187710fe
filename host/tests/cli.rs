//! The `herald` binary's command line, run as a user would. (Having an
//! integration test here also makes `cargo nextest run --workspace` build the
//! binary in the same invocation as every other test, with the same features,
//! for the black-box tests that start it as a child process.)

use std::process::Command;

fn herald(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .output()
        .expect("run herald")
}

#[test]
fn help_lists_every_command() {
    let out = herald(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "check-config", "sink", "plugin", "demo"] {
        assert!(
            text.contains(command),
            "`{command}` missing from --help:\n{text}"
        );
    }
}

#[test]
fn check_config_names_the_file_and_key_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "[publish]\nmax_concurent = 3\n").expect("write config");
    let out = herald(&[
        "check-config",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("herald.toml"), "{text}");
    assert!(text.contains("max_concurent"), "{text}");
}

#[test]
fn serve_refuses_a_bad_config_without_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("herald.toml");
    std::fs::write(&config, "[server]\nlisten = \"not an address\"\n").expect("write config");
    let out = herald(&["serve", "--config", config.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("server.listen"), "{text}");
}

#[test]
fn plugin_inspect_on_a_non_wasm_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.wasm");
    std::fs::write(&file, "not wasm").expect("write file");
    let out = herald(&["plugin", "inspect", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("notes.wasm") && text.contains("not a WebAssembly file"),
        "{text}"
    );
}
