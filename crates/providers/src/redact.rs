//! What of a provider's own words may be passed on: to clients in a run's
//! error, and to the log. The key is masked where the message is made, and
//! the message is cut short, so that a provider that echoes a request (the
//! conversation, the key) or sends a megabyte of HTML does not put it in
//! front of every client and into the log.

/// The longest provider message passed on, in characters.
pub const MESSAGE_LIMIT: usize = 500;

/// `message` with every copy of `key` replaced. Keys shorter than 4
/// characters are not masked: they would mask ordinary words.
pub fn redact(message: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 => message.replace(k, "<redacted>"),
        _ => message.to_owned(),
    }
}

/// A provider's words as clients and the log may see them: the key masked
/// first (so that a cut cannot leave part of it), then at most
/// [`MESSAGE_LIMIT`] characters.
pub fn clean_message(message: &str, key: Option<&str>) -> String {
    let redacted = redact(message.trim(), key);
    if redacted.is_empty() {
        return "no message".to_owned();
    }
    let mut chars = redacted.chars();
    let mut out: String = chars.by_ref().take(MESSAGE_LIMIT).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_masked_before_the_cut() {
        let key = "sk-abcdefgh";
        let message = format!("{}{key}", "x".repeat(MESSAGE_LIMIT - 3));
        let clean = clean_message(&message, Some(key));
        assert!(!clean.contains("sk-a"), "{clean}");
        assert!(clean.ends_with('…'));
        assert_eq!(clean.chars().count(), MESSAGE_LIMIT + 1);
    }

    #[test]
    fn an_empty_message_says_so() {
        assert_eq!(clean_message("  ", None), "no message");
    }
}
