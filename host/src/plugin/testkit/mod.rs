//! The kit a plugin author tests an adapter with, in isolation:
//! `herald plugin test` runs golden case files (`plugins/CASES.md`) against
//! a compiled adapter in the real runtime with no network, and
//! `herald plugin inspect` describes an adapter file.
//!
//! - `case`: the case file format, parsed (YAML or JSON) and checked.
//! - `compare`: JSON compared structurally with ignored pointers, headers
//!   without regard to case, text exactly; one readable line per difference.
//! - `run`: one case through the delivery loop, with the daemon's rules and
//!   canned responses.
//! - `report`: per-case results and their text form.
//! - `inspect`: what `plugin inspect` shows.
//!
//! Depends on `model` and the rest of `plugin` — not on `publish`, which
//! depends on `plugin`; `run` mirrors the rules of `publish::deliver`.

mod case;
mod compare;
mod inspect;
mod report;
mod run;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use case::{
    BodyExpectation, CannedResponse, Case, CaseTarget, ExpectError, ExpectRequest, Expectation,
    OutcomeKind, Step,
};
pub use compare::{Mismatch, compare_json};
pub use inspect::{Inspection, inspect};
pub use report::{CaseResult, Problem, Report};
pub use run::CaseRunner;

/// The extensions of case files looked for in a directory.
const CASE_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Loads `plugin` and runs every case in `cases` (files, or directories whose
/// `*.yaml`, `*.yml` and `*.json` files are taken in name order). A case file
/// that cannot be read or parsed is a failed case, not an error; the error is
/// for a plugin that cannot be loaded.
pub async fn run_files(plugin: &Path, cases: &[PathBuf]) -> anyhow::Result<Report> {
    let runner = CaseRunner::new(plugin).await?;
    let mut report = Report::default();
    for source in case_files(cases).await {
        let result = match source {
            Ok(file) => run_file(&runner, &file).await,
            Err(broken) => broken,
        };
        report.cases.push(result);
    }
    Ok(report)
}

async fn run_file(runner: &CaseRunner, file: &Path) -> CaseResult {
    match Case::load(file).await {
        Ok(case) => CaseResult {
            file: file.display().to_string(),
            name: case.name.clone(),
            problems: runner.run(&case).await,
        },
        Err(message) => not_run(file, message),
    }
}

fn not_run(file: &Path, message: String) -> CaseResult {
    CaseResult {
        file: file.display().to_string(),
        name: "(not run)".into(),
        problems: vec![Problem::new(message)],
    }
}

/// The case files named by `paths`, or a failed result for each path that
/// cannot be read or is a directory with no case files.
async fn case_files(paths: &[PathBuf]) -> Vec<Result<PathBuf, CaseResult>> {
    let mut out = Vec::new();
    for path in paths {
        match tokio::fs::metadata(path).await {
            Err(e) => out.push(Err(not_run(path, format!("cannot be read: {e}")))),
            Ok(meta) if meta.is_dir() => match cases_in(path).await {
                Ok(files) if files.is_empty() => out.push(Err(not_run(
                    path,
                    format!(
                        "holds no case files (*.{}); give a case file or a directory of them",
                        CASE_EXTENSIONS.join(", *.")
                    ),
                ))),
                Ok(files) => out.extend(files.into_iter().map(Ok)),
                Err(e) => out.push(Err(not_run(path, format!("cannot be listed: {e}")))),
            },
            Ok(_) => out.push(Ok(path.clone())),
        }
    }
    out
}

async fn cases_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    let mut files = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        let is_case = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CASE_EXTENSIONS.iter().any(|c| e.eq_ignore_ascii_case(c)));
        if is_case && tokio::fs::metadata(&path).await?.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
