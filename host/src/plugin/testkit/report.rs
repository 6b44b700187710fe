//! What `herald plugin test` found, case by case, and its text form.

use serde::Serialize;

/// The results of every case file given, in the order they were run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub cases: Vec<CaseResult>,
}

/// One case file's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// The case file, as found (a directory argument joined with the file name).
    pub file: String,
    /// The case's `name`, or what stopped it from being read.
    pub name: String,
    /// Empty when the case passed.
    pub problems: Vec<Problem>,
}

/// One thing that did not match, with indented detail lines (a diff, a document).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub what: String,
    pub detail: Vec<String>,
}

impl Problem {
    /// A problem that one line says all about.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            detail: Vec::new(),
        }
    }

    /// A problem with detail lines.
    pub fn with(what: impl Into<String>, detail: Vec<String>) -> Self {
        Self {
            what: what.into(),
            detail,
        }
    }
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Report {
    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.cases.iter().all(CaseResult::passed)
    }

    /// How many cases passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// One line per case (`ok   <file>: <name>` or `FAIL <file>: <name>`),
    /// each failure followed by its indented problems, then `N passed, M failed`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            let mark = if case.passed() { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {}: {}\n", case.file, case.name));
            for problem in &case.problems {
                out.push_str(&format!("    {}\n", problem.what));
                for line in &problem.detail {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
        out.push_str(&format!(
            "\n{} passed, {} failed\n",
            self.passed(),
            self.failed()
        ));
        out
    }
}
