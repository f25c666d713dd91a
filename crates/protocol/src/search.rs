//! Search across conversations (`GET /api/search`, `GET .../workers/{id}/search`,
//! `/v1/search` on a runtime) and the transcript page around one message
//! (`GET .../transcript?around=`).
//!
//! A query is words: `q` is split on white space and a message matches when
//! it holds every word (in any case), each word taken literally: quotes,
//! `*`, `:`, `NEAR` or brackets are text to find, never search syntax.
//! [`SearchRequest::parse`] checks what a client sends, the same way on the
//! backend and on a runtime. A hit's snippet marks its matches by offsets
//! in **UTF-16 code units** (what a JavaScript string indexes), so a browser
//! can highlight them without parsing HTML; [`Snippet::byte_ranges`] turns
//! them into byte offsets for Rust clients.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{ApiError, ErrorCode, MessageId, Role, RuntimeId, Seq, Timestamp, WorkerId};

/// Most characters of `q` (so at most 512 bytes: the bound is written in
/// characters because that is what an OpenAPI `maxLength` counts).
pub const SEARCH_MAX_QUERY_CHARS: usize = 128;
/// Hits of a page when the client names no `limit`.
pub const SEARCH_DEFAULT_LIMIT: usize = 20;
/// Largest `limit` of a page of hits.
pub const SEARCH_MAX_LIMIT: usize = 100;
/// How deep paging goes: hits past this many are not offered (a person
/// refines the words long before).
pub const SEARCH_MAX_DEPTH: usize = 1000;
/// Characters of a snippet's text, at most.
pub const SNIPPET_CHARS: usize = 160;

/// A checked search: its words, how many hits to skip and to return, and
/// the one Worker to search when the route names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// `q` as the client sent it (checked): the words are
    /// [`SearchRequest::terms`].
    pub q: String,
    /// Hits skipped (the page's `after` cursor).
    pub offset: usize,
    pub limit: usize,
    pub worker_id: Option<WorkerId>,
}

impl SearchRequest {
    /// Checks `q`, `limit` and the `after` cursor of a client.
    pub fn parse(
        q: Option<&str>,
        limit: Option<u64>,
        after: Option<&str>,
        worker_id: Option<WorkerId>,
    ) -> Result<Self, ApiError> {
        let q = q.unwrap_or_default();
        let chars = q.chars().count();
        if chars > SEARCH_MAX_QUERY_CHARS {
            return Err(ApiError::new(
                ErrorCode::QueryTooLong,
                format!("q is {chars} characters; the limit is {SEARCH_MAX_QUERY_CHARS}"),
            ));
        }
        if terms(q).is_empty() {
            return Err(ApiError::new(
                ErrorCode::QueryEmpty,
                "q must hold at least one word",
            ));
        }
        let limit = match limit {
            None => SEARCH_DEFAULT_LIMIT,
            Some(n) if (1..=SEARCH_MAX_LIMIT as u64).contains(&n) => n as usize,
            Some(_) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("limit must be 1 to {SEARCH_MAX_LIMIT}"),
                ))
            }
        };
        let offset = match after {
            None => 0,
            Some(cursor) => parse_cursor(cursor).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    "after is not a cursor this server gave (use next_after of the page before)",
                )
            })?,
        };
        Ok(Self {
            q: q.to_owned(),
            offset,
            limit,
            worker_id,
        })
    }

    /// The words to find, each at most once, in order.
    pub fn terms(&self) -> Vec<String> {
        terms(&self.q)
    }

    /// How many of the best hits a store returns so that the page can be
    /// cut from them (and a next page known to exist).
    pub fn depth(&self) -> usize {
        self.offset + self.limit + 1
    }

    /// The query string of this search's page that starts `offset` hits
    /// in and holds `limit` (what a backend asks a runtime's `/v1/search`).
    pub fn to_query(&self, offset: usize, limit: usize) -> String {
        let mut query = format!("q={}&limit={limit}", percent_encode(&self.q));
        if offset > 0 {
            query.push_str("&after=");
            query.push_str(&search_cursor(offset));
        }
        query
    }
}

/// Words of `q`: split on white space (Unicode's `White_Space`, the set
/// the OpenAPI pattern of `q` names), lower-cased, each once.
fn terms(q: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in q.split(char::is_whitespace) {
        let word: String = word.chars().flat_map(char::to_lowercase).collect();
        if !word.is_empty() && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// The cursor of the page after `offset` hits: `o<offset>`.
pub fn search_cursor(offset: usize) -> String {
    format!("o{offset}")
}

fn parse_cursor(cursor: &str) -> Option<usize> {
    let n: usize = cursor.strip_prefix('o')?.parse().ok()?;
    (n <= SEARCH_MAX_DEPTH + SEARCH_MAX_LIMIT && cursor == search_cursor(n)).then_some(n)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A matched range of a snippet's text: `start` included, `end` excluded,
/// in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct MatchRange {
    pub start: u32,
    pub end: u32,
}

/// Some text of a message around its first match, with every match in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Snippet {
    /// Plain text (never HTML); `…` marks text cut at either end.
    pub text: String,
    /// The matches in `text`, in order, not overlapping; offsets in UTF-16
    /// code units.
    pub matches: Vec<MatchRange>,
}

impl Snippet {
    /// Cuts a snippet of `body` around the first of `terms` it holds
    /// (lower-cased words), marking every occurrence of each.
    pub fn build(body: &str, terms: &[String]) -> Self {
        let lower: Vec<(usize, char)> = body.char_indices().collect();
        // Byte ranges of the matches, found on a per-character lower-cased
        // copy so that offsets map back to `body`'s characters.
        let folded: Vec<char> = lower
            .iter()
            .map(|&(_, c)| c.to_lowercase().next().unwrap_or(c))
            .collect();
        let mut found: Vec<(usize, usize)> = Vec::new();
        for term in terms {
            let t: Vec<char> = term.chars().collect();
            if t.is_empty() || t.len() > folded.len() {
                continue;
            }
            let mut i = 0;
            while i + t.len() <= folded.len() {
                if folded[i..i + t.len()] == t[..] {
                    found.push((i, i + t.len()));
                    i += t.len();
                } else {
                    i += 1;
                }
            }
        }
        found.sort_unstable();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (s, e) in found {
            match ranges.last_mut() {
                Some(last) if s < last.1 => last.1 = last.1.max(e),
                _ => ranges.push((s, e)),
            }
        }
        let chars: Vec<char> = body.chars().collect();
        let first = ranges.first().map_or(0, |r| r.0);
        let start = first.saturating_sub(SNIPPET_CHARS / 4);
        let end = (start + SNIPPET_CHARS).min(chars.len());
        let mut text = String::new();
        let mut units: u32 = 0;
        if start > 0 {
            text.push('…');
            units += 1;
        }
        let mut matches = Vec::new();
        let mut open: Option<u32> = None;
        for (i, c) in chars.iter().enumerate().take(end).skip(start) {
            if ranges.iter().any(|r| r.0 == i) {
                open = Some(units);
            }
            // Line breaks read as spaces in a one-line snippet.
            let c = if c.is_control() { ' ' } else { *c };
            text.push(c);
            units += c.len_utf16() as u32;
            if let Some(at) = open {
                if ranges.iter().any(|r| r.1 == i + 1) {
                    matches.push(MatchRange {
                        start: at,
                        end: units,
                    });
                    open = None;
                }
            }
        }
        if let Some(at) = open {
            matches.push(MatchRange {
                start: at,
                end: units,
            });
        }
        if end < chars.len() {
            text.push('…');
        }
        Self { text, matches }
    }

    /// The matches as byte ranges of `text` (for Rust clients).
    pub fn byte_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        for m in &self.matches {
            let (mut units, mut start, mut end) = (0u32, None, None);
            for (at, c) in self.text.char_indices() {
                if units == m.start {
                    start = Some(at);
                }
                if units == m.end {
                    end = Some(at);
                }
                units += c.len_utf16() as u32;
            }
            if units == m.end {
                end = Some(self.text.len());
            }
            if let (Some(s), Some(e)) = (start, end) {
                out.push(s..e);
            }
        }
        out
    }
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct SearchHit {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    pub display_name: String,
    pub message_id: MessageId,
    pub role: Role,
    pub at: Timestamp,
    pub snippet: Snippet,
    /// How well it matched: lower is better (SQLite FTS5's bm25). Hits of
    /// several runtimes are merged by it.
    pub rank: f64,
}

/// `GET /api/search` and `GET .../workers/{id}/search`: the best hits
/// first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// The cursor of the next page (`after=`); absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_after: Option<String>,
    /// Runtimes that did not answer: their hits are not in the page.
    pub missing: Vec<RuntimeId>,
}

impl SearchResults {
    /// Merges the hits of several runtimes (each sorted best first) by
    /// rank, then newest first, and cuts `request`'s page from them.
    pub fn page(
        mut hits: Vec<SearchHit>,
        request: &SearchRequest,
        missing: Vec<RuntimeId>,
    ) -> Self {
        hits.sort_by(|a, b| {
            a.rank
                .total_cmp(&b.rank)
                .then_with(|| b.at.cmp(&a.at))
                .then_with(|| b.message_id.to_string().cmp(&a.message_id.to_string()))
        });
        let more = hits.len() > request.offset + request.limit;
        let hits: Vec<SearchHit> = hits
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();
        let next = request.offset + request.limit;
        let next_after = (more && next <= SEARCH_MAX_DEPTH).then(|| search_cursor(next));
        Self {
            hits,
            next_after,
            missing,
        }
    }
}

/// Where a page of `GET .../transcript` starts when it is not the newest:
/// `around=<message_id>` (centred on it, a hit opened in context) or
/// `after=<message_id>` (the messages after it, to page towards the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptAnchor {
    Around(MessageId),
    After(MessageId),
}

/// `GET .../transcript`: the page asked for, oldest first, and the
/// watermark `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct TranscriptWindow {
    pub messages: Vec<crate::Message>,
    pub seq: Seq,
    /// Whether older messages exist than those returned.
    pub truncated: bool,
    /// With `around` or `after`: whether newer messages exist than those
    /// returned (page on with `after=` the last one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub newer: Option<bool>,
}

impl From<crate::Transcript> for TranscriptWindow {
    fn from(t: crate::Transcript) -> Self {
        Self {
            messages: t.messages,
            seq: t.seq,
            truncated: t.truncated,
            newer: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn terms_of(q: &str) -> Vec<String> {
        terms(q)
    }

    #[test]
    fn words_are_split_lower_cased_and_taken_once() {
        assert_eq!(terms_of("  Rust  rust \"NEAR\" "), vec!["rust", "\"near\""]);
    }

    #[test]
    fn bad_queries_are_typed() {
        let empty = SearchRequest::parse(Some("   "), None, None, None).unwrap_err();
        assert_eq!(empty.code, ErrorCode::QueryEmpty);
        let long = "a".repeat(10 * 1024);
        assert!(SearchRequest::parse(Some(&"語".repeat(128)), None, None, None).is_ok());
        let long = SearchRequest::parse(Some(&long), None, None, None).unwrap_err();
        assert_eq!(long.code, ErrorCode::QueryTooLong);
        let cursor = SearchRequest::parse(Some("x"), None, Some("o01"), None).unwrap_err();
        assert_eq!(cursor.code, ErrorCode::InvalidInput);
        let limit = SearchRequest::parse(Some("x"), Some(0), None, None).unwrap_err();
        assert_eq!(limit.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn a_snippet_marks_matches_in_utf16_units() {
        let snippet = Snippet::build("明日の会議は🎉Rust会議です", &["会議".to_owned()]);
        assert_eq!(snippet.text, "明日の会議は🎉Rust会議です");
        // 🎉 is two UTF-16 units.
        assert_eq!(
            snippet.matches,
            vec![
                MatchRange { start: 3, end: 5 },
                MatchRange { start: 12, end: 14 }
            ]
        );
        let bytes = snippet.byte_ranges();
        assert_eq!(&snippet.text[bytes[0].clone()], "会議");
        assert_eq!(&snippet.text[bytes[1].clone()], "会議");
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let body = format!("{}needle{}", "x".repeat(500), "y".repeat(500));
        let snippet = Snippet::build(&body, &["needle".to_owned()]);
        assert!(snippet.text.starts_with('…') && snippet.text.ends_with('…'));
        let r = &snippet.byte_ranges()[0];
        assert_eq!(&snippet.text[r.clone()], "needle");
    }
}
