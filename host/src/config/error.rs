//! Problems found in configuration — each names the file and the key — and
//! the format-aware parser (TOML, YAML, JSON) that turns serde's errors into them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One problem in the configuration. Every variant names the file; most name
/// the key (dotted, e.g. `publish.max_concurrent`). None ever carries a
/// secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("{}: cannot be read: {message}", file.display())]
    Read { file: PathBuf, message: String },
    /// Not valid TOML/YAML/JSON, or a key that is unknown, missing or of the wrong type.
    #[error("{}", ParseLine { file, line: *line, column: *column, key: key.as_deref(), message })]
    Parse {
        file: PathBuf,
        /// 1-based, when the parser knows it.
        line: Option<usize>,
        column: Option<usize>,
        /// The dotted key, when known (syntax errors may not have one).
        key: Option<String>,
        message: String,
    },
    /// Parsed, but a value is not acceptable. `message` reads on from the key:
    /// "must be between 1 and 10000, not 0".
    #[error("{}: `{key}` {message}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A secret or token reference could not be resolved (variable not set,
    /// file unreadable). Names the variable or file, never the value.
    #[error("{}: `{key}` {message}", file.display())]
    Secret {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A second target file uses a name already taken; this file is ignored.
    #[error(
        "{}: `name` `{name}` is already used by {}; target names must be unique, so this file is ignored",
        file.display(), first.display()
    )]
    DuplicateName {
        file: PathBuf,
        name: String,
        /// The file that keeps the name (it sorts first).
        first: PathBuf,
    },
    /// No loaded plugin provides the target's kind: the target is listed but
    /// cannot be delivered to.
    #[error(
        "{}: target `{target}` is not routable: no loaded plugin provides the kind `{kind}`",
        file.display()
    )]
    NotRoutable {
        file: PathBuf,
        target: String,
        kind: String,
    },
    /// The adapter's own `validate-target` rejected the target, or failed.
    #[error("{}: target `{target}`: the `{kind}` adapter rejects it: {message}", file.display())]
    AdapterRejected {
        file: PathBuf,
        target: String,
        kind: String,
        /// The adapter's message, with the target's secret values redacted.
        message: String,
    },
    /// A plugin file could not be loaded (reported by `check-config`).
    #[error("{message}")]
    Plugin {
        file: PathBuf,
        /// The loader's message, which names the file.
        message: String,
    },
}

impl ConfigError {
    /// The file (or directory) the problem is in.
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Read { file, .. }
            | ConfigError::Parse { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::Secret { file, .. }
            | ConfigError::DuplicateName { file, .. }
            | ConfigError::NotRoutable { file, .. }
            | ConfigError::AdapterRejected { file, .. }
            | ConfigError::Plugin { file, .. } => file,
        }
    }

    /// The dotted key the problem is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } | ConfigError::Secret { key, .. } => Some(key),
            ConfigError::DuplicateName { .. } => Some("name"),
            ConfigError::NotRoutable { .. } => Some("kind"),
            _ => None,
        }
    }

    pub(crate) fn invalid(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn read(file: &Path, e: impl fmt::Display) -> Self {
        ConfigError::Read {
            file: file.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// Several problems at once, one per line (what `load` returns when the
/// daemon config is not usable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

struct ParseLine<'a> {
    file: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for ParseLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        match self.key {
            Some(key) => write!(f, ": `{key}`: {}", self.message),
            None => write!(f, ": {}", self.message),
        }
    }
}

/// The formats configuration files may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// By extension: `.toml`, `.yaml`/`.yml`, `.json`; `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Deserializes `text` (the content of `file`) as `T`. Errors carry the
/// file, the dotted key, the line and column where the parser knows them.
/// When the key is under one of the `sensitive` tables (e.g. `secrets`), the
/// parser's message — which may quote the value — is replaced by a generic one.
pub(crate) fn parse<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    format: Format,
    sensitive: &[&str],
) -> Result<T, ConfigError> {
    let (key, line, column, message) = match format {
        Format::Toml => {
            // Syntax first: serde never sees those errors, so the key is
            // read off the offending line.
            let typed = match text.parse::<toml::Table>() {
                Err(e) => Err((None, true, e)),
                Ok(_) => serde_path_to_error::deserialize(toml::Deserializer::new(text))
                    .map_err(|e| (path_key(e.path()), false, e.into_inner())),
            };
            match typed {
                Ok(v) => return Ok(v),
                Err((key, syntax, inner)) => {
                    let at = inner.span().map(|s| s.start);
                    let (line, column) = at.map(|o| line_col(text, o)).unzip();
                    let key = match (key, at) {
                        (None, Some(offset)) if syntax => toml_key_at(text, offset),
                        (key, _) => key,
                    };
                    (key, line, column, inner.message().trim().to_string())
                }
            }
        }
        Format::Yaml => {
            let de = serde_yaml::Deserializer::from_str(text);
            match serde_path_to_error::deserialize(de) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let key = path_key(e.path());
                    let inner = e.into_inner();
                    let loc = inner.location();
                    let mut message = inner.to_string();
                    if let Some(loc) = &loc {
                        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                        if let Some(stripped) = message.strip_suffix(&suffix) {
                            message = stripped.to_string();
                        }
                    }
                    if let Some(k) = &key
                        && let Some(stripped) = message.strip_prefix(&format!("{k}: "))
                    {
                        message = stripped.to_string();
                    }
                    (
                        key,
                        loc.as_ref().map(|l| l.line()),
                        loc.as_ref().map(|l| l.column()),
                        message,
                    )
                }
            }
        }
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let parsed = match serde_path_to_error::deserialize(&mut de) {
                Ok(v) => de.end().map(|()| v).map_err(|e| (None, e)),
                Err(e) => Err((path_key(e.path()), e.into_inner())),
            };
            match parsed {
                Ok(v) => return Ok(v),
                Err((key, inner)) => {
                    let (line, column) = (inner.line(), inner.column());
                    let mut message = inner.to_string();
                    let suffix = format!(" at line {line} column {column}");
                    if let Some(stripped) = message.strip_suffix(&suffix) {
                        message = stripped.to_string();
                    }
                    let known = line > 0;
                    (key, known.then_some(line), known.then_some(column), message)
                }
            }
        }
    };
    let message = match &key {
        Some(k) if is_sensitive(k, sensitive) && !message.starts_with("unknown field") => {
            "must be a string (the value is not shown: it may be a secret)".to_string()
        }
        _ => message,
    };
    Err(ConfigError::Parse {
        file: file.to_path_buf(),
        line,
        column,
        key,
        message,
    })
}

fn is_sensitive(key: &str, sensitive: &[&str]) -> bool {
    sensitive.iter().any(|table| {
        key == *table
            || key
                .strip_prefix(table)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// serde_path_to_error's path as a dotted key; `None` at the root.
fn path_key(path: &serde_path_to_error::Path) -> Option<String> {
    let text = path.to_string();
    (text != "." && text != "?" && !text.is_empty()).then_some(text)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Best-effort dotted key of the TOML line holding `offset`, for syntax
/// errors (which serde never sees): the last `[table]` header above it and
/// the `key =` at the start of the line.
fn toml_key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let mut table = None;
    for l in text[..line_start].lines() {
        let l = l.trim();
        if l.starts_with('[') {
            let name = l.trim_start_matches('[');
            if let Some(end) = name.find(']') {
                table = Some(name[..end].trim().to_string());
            }
        }
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        })
        .map(|k| k.replace(['"', '\''], ""));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}
