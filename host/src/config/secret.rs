//! Secret values and where they come from: literal, `${ENV_VAR}`, or
//! `file:/path`. Resolved once at load; the value never appears in an
//! error, a log line or `Debug` output — errors name the reference instead.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where `${NAME}` references and `token_env` settings are looked up.
///
/// The daemon uses [`ProcessEnv`]. Tests pass a map instead: the process
/// environment cannot be changed safely while other tests run.
pub trait Env: Send + Sync {
    /// The variable's value, or `None` when it is not set (or not UTF-8).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A resolved secret (an admin or ingress token). `Debug` and `Display`
/// show `***`; the value is reachable only through [`expose`](Self::expose)
/// and [`verify`](Self::verify).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares a presented value (e.g. a bearer token) with this secret in
    /// time that does not depend on where they differ.
    pub fn verify(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
        }
        diff == 0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves a secret value as written in a target file: `file:PATH` (the
/// whole value) reads the file, relative paths from `base` (the directory of
/// the file that holds the reference); otherwise `${NAME}` anywhere in the
/// value is replaced by the environment variable (see [`interpolate`]).
/// Errors describe the reference (variable name, file path), never the value.
pub(crate) fn resolve(raw: &str, base: &Path, env: &dyn Env) -> Result<String, String> {
    match raw.strip_prefix("file:") {
        Some(path) if path.trim().is_empty() => {
            Err("is `file:` without a path; write `file:/path/to/secret`".into())
        }
        Some(path) => read_secret_file(&base.join(path)),
        None => interpolate(raw, env),
    }
}

/// Replaces every `${NAME}` in `raw` with the environment variable `NAME`;
/// `$${` stands for a literal `${`, and any other `$` is kept as is. A
/// variable that is not set or is empty is an error naming it. Errors never
/// quote `raw`, which may hold secret text around the references.
pub(crate) fn interpolate(raw: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or("has `${` without a closing `}`; write `$${` for a literal `${`")?;
            let name = &after[..end];
            if !valid_env_name(name) {
                return Err(
                    "has a `${...}` whose content is not an environment variable name \
                     (letters, digits and `_`, not starting with a digit); write `$${` for a literal `${`"
                        .into(),
                );
            }
            match env.var(name) {
                None => {
                    return Err(format!(
                        "refers to the environment variable `{name}`, which is not set"
                    ));
                }
                Some(v) if v.is_empty() => {
                    return Err(format!(
                        "refers to the environment variable `{name}`, which is empty"
                    ));
                }
                Some(v) => out.push_str(&v),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads a secret file, dropping trailing newlines (editors add one;
/// Kubernetes Secret files have none). An empty file is an error.
pub(crate) fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "refers to the file {}, which cannot be read: {e}",
            path.display()
        )
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!(
            "refers to the file {}, which is empty",
            path.display()
        ));
    }
    Ok(value.to_string())
}

/// Resolves an optional token given as an environment variable name or a
/// file path (at most one of them; validation checks that). The error names
/// the setting and the variable or file, never the value.
pub(crate) fn resolve_token(
    from_env: Option<&str>,
    from_file: Option<&PathBuf>,
    env: &dyn Env,
) -> Result<Option<SecretString>, String> {
    let value = match (from_env, from_file) {
        (Some(name), _) => match env.var(name) {
            None => {
                return Err(format!(
                    "names the environment variable `{name}`, which is not set; set it or remove the setting"
                ));
            }
            Some(v) => v,
        },
        (None, Some(path)) => {
            read_secret_file(path).map_err(|e| e.replacen("refers to", "names", 1))?
        }
        (None, None) => return Ok(None),
    };
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err("gives an empty token".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "gives a token with whitespace or control characters; a bearer token is one word"
                .into(),
        );
    }
    Ok(Some(SecretString(value)))
}
