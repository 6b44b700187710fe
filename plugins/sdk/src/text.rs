//! Cutting text to the limits targets impose, and keeping secrets out of it.

/// At most `max` characters; when cut, the last one is `…`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// At most `max` bytes, cut on a character boundary; when cut, it ends in `...`
/// (and the whole, `...` included, still fits in `max`).
pub fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let budget = max.saturating_sub(3);
    let mut end = budget;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_string();
    if max >= 3 {
        out.push_str("...");
    }
    out
}

/// Replaces every occurrence of any non-empty secret value in `message` with `***`.
///
/// Use it on anything built from a target's reply before it becomes an error
/// message or a note: targets sometimes echo what they were sent.
pub fn redact(message: &str, secrets: &[(String, String)]) -> String {
    let mut out = message.to_string();
    for (_, value) in secrets {
        if value.len() >= 4 {
            out = out.replace(value.as_str(), "***");
        }
    }
    out
}
