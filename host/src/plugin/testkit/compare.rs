//! Comparing what an adapter did with what a case expects: JSON compared
//! structurally (leaving out ignored JSON pointers), headers by name without
//! regard to case, text exactly. Every difference becomes one readable line
//! naming where it is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

/// Longest value shown inline in a difference line.
const SHOWN: usize = 100;
/// Most lines of a pretty-printed document shown in a report.
const MAX_LINES: usize = 120;

/// One difference between expected and actual JSON, at a JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// Both sides have a value at `path`, and they differ.
    Differs {
        path: String,
        expected: Value,
        actual: Value,
    },
    /// The expected document has a value at `path`; the actual one has none.
    Missing { path: String, expected: Value },
    /// The actual document has a value at `path` that the expected one does not.
    Unexpected { path: String, actual: Value },
}

impl Mismatch {
    /// The JSON pointer of the difference (`""` is the whole document).
    pub fn path(&self) -> &str {
        match self {
            Mismatch::Differs { path, .. }
            | Mismatch::Missing { path, .. }
            | Mismatch::Unexpected { path, .. } => path,
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = match self.path() {
            "" => "(the whole document)",
            p => p,
        };
        match self {
            Mismatch::Differs {
                expected: Value::String(e),
                actual: Value::String(a),
                ..
            } => write!(f, "{path}: {}", text_difference(e, a)),
            Mismatch::Differs {
                expected, actual, ..
            } => write!(
                f,
                "{path}: expected {}, got {}",
                show(expected),
                show(actual)
            ),
            Mismatch::Missing { expected, .. } => {
                write!(f, "{path}: missing, expected {}", show(expected))
            }
            Mismatch::Unexpected { actual, .. } => {
                write!(f, "{path}: not expected, got {}", show(actual))
            }
        }
    }
}

/// Compares `actual` with `expected` exactly (objects have the same keys,
/// arrays the same length, numbers the same value), leaving out the values
/// at the `ignore` pointers. Differences come in document order.
pub fn compare_json(expected: &Value, actual: &Value, ignore: &[String]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(expected, actual, &mut String::new(), ignore, &mut out);
    out
}

fn walk(
    expected: &Value,
    actual: &Value,
    path: &mut String,
    ignore: &[String],
    out: &mut Vec<Mismatch>,
) {
    if ignore.iter().any(|p| p == path) {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for key in keys {
                let len = path.len();
                push_token(path, key);
                child(e.get(key.as_str()), a.get(key.as_str()), path, ignore, out);
                path.truncate(len);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                child(e.get(i), a.get(i), path, ignore, out);
                path.truncate(len);
            }
        }
        (e, a) if !scalar_eq(e, a) => out.push(Mismatch::Differs {
            path: path.clone(),
            expected: e.clone(),
            actual: a.clone(),
        }),
        _ => {}
    }
}

fn child(
    expected: Option<&Value>,
    actual: Option<&Value>,
    path: &mut String,
    ignore: &[String],
    out: &mut Vec<Mismatch>,
) {
    match (expected, actual) {
        (Some(e), Some(a)) => walk(e, a, path, ignore, out),
        _ if ignore.iter().any(|p| p == path) => {}
        (Some(e), None) => out.push(Mismatch::Missing {
            path: path.clone(),
            expected: e.clone(),
        }),
        (None, Some(a)) => out.push(Mismatch::Unexpected {
            path: path.clone(),
            actual: a.clone(),
        }),
        (None, None) => {}
    }
}

/// Appends `/token`, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    path.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// Equality where numbers compare by value (`12` equals `12.0`), as JSON means them.
fn scalar_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            if let (Some(e), Some(a)) = (e.as_i64(), a.as_i64()) {
                e == a
            } else if let (Some(e), Some(a)) = (e.as_u64(), a.as_u64()) {
                e == a
            } else {
                e.as_f64() == a.as_f64()
            }
        }
        (e, a) => e == a,
    }
}

/// Checks the request's headers: each expected one sent exactly once with
/// that value, each absent one not at all. Names ignore case.
pub fn compare_headers(
    expected: &BTreeMap<String, String>,
    absent: &[String],
    actual: &[(String, String)],
) -> Vec<String> {
    let sent = |name: &str| -> Vec<&str> {
        actual
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let mut out = Vec::new();
    for (name, want) in expected {
        let name = name.to_ascii_lowercase();
        match sent(&name).as_slice() {
            [] => out.push(format!(
                "header `{name}`: missing, expected {}",
                quote(want)
            )),
            [got] if got == want => {}
            [got] => out.push(format!("header `{name}`: {}", text_difference(want, got))),
            many => out.push(format!(
                "header `{name}`: expected once as {}, sent {} times: {}",
                quote(want),
                many.len(),
                many.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    for name in absent {
        let name = name.to_ascii_lowercase();
        if let Some(got) = sent(&name).first() {
            out.push(format!(
                "header `{name}`: must not be sent, got {}",
                quote(got)
            ));
        }
    }
    out
}

/// `expected "…", got "…"`; for long texts only the part around the first
/// difference, and where it is.
pub fn text_difference(expected: &str, actual: &str) -> String {
    let e: Vec<char> = expected.chars().collect();
    let a: Vec<char> = actual.chars().collect();
    if e.len() <= SHOWN && a.len() <= SHOWN {
        return format!("expected {}, got {}", quote(expected), quote(actual));
    }
    let at = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let start = at.saturating_sub(SHOWN / 3);
    let window = |s: &[char]| {
        let end = s.len().min(start + SHOWN);
        let text: String = s[start.min(s.len())..end].iter().collect();
        let before = if start > 0 { "…" } else { "" };
        let after = if end < s.len() { "…" } else { "" };
        format!("{before}{}{after}", quote_full(&text))
    };
    format!(
        "expected {} ({} chars), got {} ({} chars); they first differ at character {at}",
        window(&e),
        e.len(),
        window(&a),
        a.len()
    )
}

/// A value as compact JSON, cut to [`SHOWN`] characters.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        other => cut(&other.to_string()),
    }
}

/// A string as a JSON string literal, cut to [`SHOWN`] characters.
pub fn quote(s: &str) -> String {
    let n = s.chars().count();
    if n <= SHOWN {
        quote_full(s)
    } else {
        let head: String = s.chars().take(SHOWN).collect();
        format!("{}… ({n} chars)", quote_full(&head))
    }
}

fn quote_full(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn cut(s: &str) -> String {
    let n = s.chars().count();
    if n <= SHOWN {
        s.to_string()
    } else {
        format!("{}… ({n} chars)", s.chars().take(SHOWN).collect::<String>())
    }
}

/// A document pretty-printed, one entry per line, cut to [`MAX_LINES`] lines.
pub fn pretty(value: &Value) -> Vec<String> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    lines(&text)
}

/// A request or response body for a report: pretty JSON when it is JSON,
/// else its text (or a note that it is empty or binary).
pub fn pretty_body(body: &[u8]) -> Vec<String> {
    if body.is_empty() {
        return vec!["(empty)".into()];
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return pretty(&value);
    }
    match std::str::from_utf8(body) {
        Ok(text) => lines(text),
        Err(_) => vec![format!("({} bytes, not UTF-8)", body.len())],
    }
}

fn lines(text: &str) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = all.iter().take(MAX_LINES).map(|l| cut_line(l)).collect();
    if all.len() > MAX_LINES {
        out.push(format!("… ({} more lines)", all.len() - MAX_LINES));
    }
    out
}

fn cut_line(line: &str) -> String {
    const WIDTH: usize = 200;
    let n = line.chars().count();
    if n <= WIDTH {
        line.to_string()
    } else {
        format!(
            "{}… ({n} chars)",
            line.chars().take(WIDTH).collect::<String>()
        )
    }
}
