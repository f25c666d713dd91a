//! The contract's limits on what a client sends, checked the same way by the
//! backend, by a runtime's own server and by the Worker itself.

use crate::{ApiError, ErrorCode};

/// Most characters (Unicode scalar values, as JSON Schema's `maxLength`
/// counts them) a user message's `text` may hold: the OpenAPI document's
/// bound is exactly this rule. At most 128 KiB in UTF-8.
pub const MAX_INPUT_TEXT_CHARS: usize = 32 * 1024;
/// Most characters of a Worker's display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;
/// Most characters of [`crate::WorkerSummary::last_message`].
pub const LAST_MESSAGE_PREVIEW_CHARS: usize = 120;
/// `limit` of a transcript page when the client names none.
pub const TRANSCRIPT_DEFAULT_LIMIT: usize = 100;
/// Largest `limit` of a transcript page.
pub const TRANSCRIPT_MAX_LIMIT: usize = 1000;
/// Largest `limit` of a page of workers.
pub const WORKERS_MAX_LIMIT: usize = 1000;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// A user message: not blank, at most [`MAX_INPUT_TEXT_CHARS`] characters.
pub fn validate_input_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(invalid("text must not be empty"));
    }
    // Counting stops past the limit: a long text costs no more than that.
    let chars = text.chars().take(MAX_INPUT_TEXT_CHARS + 1).count();
    if chars > MAX_INPUT_TEXT_CHARS {
        return Err(invalid(format!(
            "text has more than {MAX_INPUT_TEXT_CHARS} characters, the limit"
        )));
    }
    Ok(())
}

/// A Worker's display name, trimmed: 1 to [`MAX_DISPLAY_NAME_CHARS`]
/// characters, no control characters, no `@` (it separates `display_ref`).
pub fn validate_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME_CHARS
        || name.chars().any(|c| c.is_control() || c == '@')
    {
        return Err(invalid(format!(
            "display_name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters or '@'"
        )));
    }
    Ok(name.to_owned())
}

/// The `limit` of a transcript page: the default when absent, else 1 to
/// [`TRANSCRIPT_MAX_LIMIT`].
pub fn transcript_limit(limit: Option<u64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(TRANSCRIPT_DEFAULT_LIMIT),
        Some(n) if n >= 1 && n <= TRANSCRIPT_MAX_LIMIT as u64 => {
            usize::try_from(n).map_err(|_| invalid("limit is out of range"))
        }
        Some(_) => Err(invalid(format!(
            "limit must be between 1 and {TRANSCRIPT_MAX_LIMIT}"
        ))),
    }
}

/// The `limit` of a page of workers: all when absent, else 1 to
/// [`WORKERS_MAX_LIMIT`].
pub fn workers_limit(limit: Option<u64>) -> Result<Option<usize>, ApiError> {
    match limit {
        None => Ok(None),
        Some(n) if n >= 1 && n <= WORKERS_MAX_LIMIT as u64 => usize::try_from(n)
            .map(Some)
            .map_err(|_| invalid("limit is out of range")),
        Some(_) => Err(invalid(format!(
            "limit must be between 1 and {WORKERS_MAX_LIMIT}"
        ))),
    }
}

/// The start of a message for a worker list: its start, at most
/// [`LAST_MESSAGE_PREVIEW_CHARS`] characters, whitespace collapsed.
pub fn message_preview(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    let mut preview: String = joined.chars().take(LAST_MESSAGE_PREVIEW_CHARS).collect();
    if joined.chars().count() > LAST_MESSAGE_PREVIEW_CHARS {
        preview.pop();
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_text_must_hold_something_and_fit() {
        assert!(validate_input_text("hi").is_ok());
        assert_eq!(
            validate_input_text(" \n").unwrap_err().code,
            ErrorCode::InvalidInput
        );
        let big = "x".repeat(MAX_INPUT_TEXT_CHARS + 1);
        assert!(validate_input_text(&big)
            .unwrap_err()
            .message
            .contains("32768"));
        assert!(validate_input_text(&big[1..]).is_ok());
        // Characters, not bytes: the limit in four-byte characters is taken.
        assert!(validate_input_text(&"😀".repeat(MAX_INPUT_TEXT_CHARS)).is_ok());
        assert!(validate_input_text(&"😀".repeat(MAX_INPUT_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(validate_display_name("  ada ").unwrap(), "ada");
        assert!(validate_display_name("a@b").is_err());
        assert!(validate_display_name("").is_err());
        assert!(validate_display_name(&"n".repeat(81)).is_err());
        assert!(validate_display_name(&"n".repeat(80)).is_ok());
        assert_eq!(
            validate_display_name(&format!(" {} ", "n".repeat(80)))
                .unwrap()
                .len(),
            80
        );
    }

    #[test]
    fn previews_collapse_whitespace_and_stop_at_the_limit() {
        assert_eq!(message_preview("a\n\n  b"), "a b");
        let long = message_preview(&"x".repeat(500));
        assert_eq!(long.chars().count(), LAST_MESSAGE_PREVIEW_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn transcript_limits_follow_the_contract() {
        assert_eq!(transcript_limit(None).unwrap(), 100);
        assert_eq!(transcript_limit(Some(1)).unwrap(), 1);
        assert_eq!(transcript_limit(Some(1000)).unwrap(), 1000);
        assert!(transcript_limit(Some(0)).is_err());
        assert!(transcript_limit(Some(1001)).is_err());
    }
}
