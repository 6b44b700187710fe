//! How durations and byte sizes are written in configuration files:
//! durations as humantime strings (`"30s"`, `"250ms"`, `"5m"`), sizes as a
//! number of bytes or a string with a unit (`"64MiB"`, `"512 KB"`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a duration such as `"30s"`, `"250ms"`, `"1m 30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like \"30s\", \"250ms\" or \"5m\" ({e})"))
}

/// Parses a size: a plain number of bytes, or a number followed by `B`,
/// `KB`/`MB`/`GB` (powers of 1000) or `KiB`/`MiB`/`GiB` (powers of 1024);
/// units are case-insensitive and may be separated by a space.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("`{text}` is not a size like \"1MiB\", \"512KiB\", \"10MB\" or a number of bytes")
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Serde adapter for `Duration` fields written as `"30s"`.
pub mod duration {
    use super::*;

    /// Reads `"30s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// Serde adapter for `Option<Duration>` fields (absent means `None`;
    /// use with `#[serde(default)]`).
    pub mod option {
        use super::*;

        /// Reads `"30s"` into `Some`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

/// Serde adapter for byte sizes: an integer, or a string with a unit (see [`parse_bytes`]).
pub mod bytes {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    /// Reads `1048576` or `"1MiB"` into any integer type wide enough.
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        let value = match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("must be a number of bytes or a string like \"1MiB\"")
        })? {
            Raw::Number(n) => n,
            Raw::Text(text) => parse_bytes(&text).map_err(serde::de::Error::custom)?,
        };
        T::try_from(value)
            .map_err(|_| serde::de::Error::custom(format!("{value} bytes is too large")))
    }
}
