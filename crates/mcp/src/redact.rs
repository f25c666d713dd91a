//! Messages that come from below (the SDK, the OS, a server's HTTP answer)
//! may quote a URL, a path or a token. Before one becomes a status reason or
//! a log line, every secret of the server's configuration is masked and the
//! message is cut short.

/// Longest reason shown.
const MAX_REASON: usize = 300;

/// `text` with each of `secrets` replaced by `<hidden>`, on one line, cut
/// to [`MAX_REASON`] bytes.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.replace(['\n', '\r'], " ");
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret.as_str(), "<hidden>");
        }
    }
    // A URL that the configuration did not spell the same way (a
    // redirect, a normalised form) is hidden by its scheme.
    out = hide_urls(&out);
    if out.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

fn hide_urls(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("http://") || word.contains("https://") {
                "<url>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_urls_are_masked_and_the_text_is_bounded() {
        let secrets = vec!["sk-secret-token".to_owned(), "/opt/private".to_owned()];
        let text = "error sending request to https://host.example/mcp?x=1 with sk-secret-token from /opt/private/bin\nnext";
        let out = scrub(text, &secrets);
        assert!(!out.contains("sk-secret"), "{out}");
        assert!(!out.contains("/opt/private"), "{out}");
        assert!(!out.contains("host.example"), "{out}");
        assert!(!out.contains('\n'));
        assert!(scrub(&"é".repeat(400), &[]).len() <= MAX_REASON + '…'.len_utf8());
    }
}
