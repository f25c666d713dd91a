//! Bearer tokens, compared the same way by the backend and by a runtime.

/// The shortest token the backend and a runtime accept (configuration
/// errors name the variable).
pub const MIN_TOKEN_LEN: usize = 16;

/// Compares a presented secret with the expected one in time that depends
/// only on the expected one's length: neither where they differ nor the
/// presented length changes the work done (a length mismatch is folded in as
/// data, not returned early).
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = u64::from(presented.len() != expected.len());
    for (i, y) in expected.iter().enumerate() {
        let x = presented.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ").map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
        // A shorter secret padded with what the padding would be is still
        // different.
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }

    #[test]
    fn bearer_takes_the_token() {
        assert_eq!(bearer("Bearer abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
