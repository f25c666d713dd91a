//! A server-sent events decoder with a bound.
//!
//! A provider's answer is an SSE stream: lines of `field: value`, events
//! separated by a blank line, each chunk of the answer in the `data` field of
//! one event. A general SSE parser keeps whatever arrives until the line or
//! the event ends, so a provider that never sends a newline makes it grow
//! until the run times out. This one refuses a line or an event longer than
//! its limit, and only keeps the `data` field: comments, `event`, `id` and
//! `retry` mean nothing to a chat completion stream.

/// A line or event passed the decoder's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the provider sent a line or event longer than {limit} bytes")]
pub struct TooLong {
    pub limit: usize,
}

/// Turns bytes as they arrive into the `data` of complete events.
#[derive(Debug)]
pub struct SseDecoder {
    limit: usize,
    /// The line being read, without its ending.
    line: Vec<u8>,
    /// The `data` lines of the event being read, joined by `\n`.
    data: Vec<u8>,
    /// Whether the event being read has a `data` field at all.
    has_data: bool,
    /// The last byte was a `\r`: a `\n` right after it ends nothing more.
    after_cr: bool,
}

impl SseDecoder {
    /// A decoder that refuses a line, or an event's data, past `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            after_cr: false,
        }
    }

    /// Reads `bytes` and returns the data of every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, TooLong> {
        let mut events = Vec::new();
        self.feed(bytes, |data| {
            events.push(data.to_owned());
            true
        })?;
        Ok(events)
    }

    /// Reads `bytes`, handing the data of each event they complete to `each`
    /// (which answers whether to go on) without a copy of its own. Answers
    /// `false` when `each` stopped it; the rest of `bytes` is not read.
    ///
    /// A line that arrives whole is read where it is; only a line split
    /// across reads is copied, into a buffer kept from line to line.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut each: impl FnMut(&str) -> bool,
    ) -> Result<bool, TooLong> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                rest = &rest[1..];
                self.after_cr = false;
                continue;
            }
            self.after_cr = false;
            let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                self.extend_line(rest)?;
                break;
            };
            let dispatch = if self.line.is_empty() {
                if end > self.limit {
                    return Err(TooLong { limit: self.limit });
                }
                self.end_line(&rest[..end])?
            } else {
                self.extend_line(&rest[..end])?;
                let line = std::mem::take(&mut self.line);
                let dispatch = self.end_line(&line);
                self.line = line;
                self.line.clear();
                dispatch?
            };
            self.after_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if dispatch {
                let go_on = match std::str::from_utf8(&self.data) {
                    Ok(text) => each(text),
                    Err(_) => each(&String::from_utf8_lossy(&self.data)),
                };
                self.data.clear();
                if !go_on {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), TooLong> {
        if self.line.len().saturating_add(part.len()) > self.limit {
            return Err(TooLong { limit: self.limit });
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    /// A line ended: a blank line dispatches the event (answers `true`: its
    /// data is in `self.data`), a `data` line adds to it.
    fn end_line(&mut self, line: &[u8]) -> Result<bool, TooLong> {
        if line.is_empty() {
            return Ok(std::mem::take(&mut self.has_data));
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if field != b"data" {
            // A comment (empty field) or a field a chat stream does not use.
            return Ok(false);
        }
        let joiner = usize::from(self.has_data);
        if self
            .data
            .len()
            .saturating_add(joiner)
            .saturating_add(value.len())
            > self.limit
        {
            return Err(TooLong { limit: self.limit });
        }
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(decoder: &mut SseDecoder, parts: &[&[u8]]) -> Result<Vec<String>, TooLong> {
        let mut out = Vec::new();
        for p in parts {
            out.extend(decoder.push(p)?);
        }
        Ok(out)
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b"data: {\"a\":1}\n\n: keep-alive\n\nevent: x\ndata: one\ndata: two\r\n\r\ndata:[DONE]\n\n";
        for cut in 0..stream.len() {
            let mut d = SseDecoder::new(64);
            let got = all(&mut d, &[&stream[..cut], &stream[cut..]]).unwrap();
            assert_eq!(got, ["{\"a\":1}", "one\ntwo", "[DONE]"], "cut at {cut}");
        }
    }

    /// Lines read in place and lines put together from pieces, in every
    /// order: the kept buffers carry nothing from one line to the next.
    #[test]
    fn events_split_in_three_anywhere_come_out_whole() {
        let stream = b"data: {\"a\":1}\n\ndata: one\ndata: two\r\n\r\ndata:[DONE]\n\n";
        for a in 0..stream.len() {
            for b in a..stream.len() {
                let mut d = SseDecoder::new(64);
                let got = all(&mut d, &[&stream[..a], &stream[a..b], &stream[b..]]).unwrap();
                assert_eq!(got, ["{\"a\":1}", "one\ntwo", "[DONE]"], "cut at {a}, {b}");
            }
        }
    }

    #[test]
    fn a_whole_line_past_the_limit_is_refused() {
        let mut d = SseDecoder::new(16);
        assert_eq!(d.push(b"data: 0123456789abc\n"), Err(TooLong { limit: 16 }));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced() {
        let mut d = SseDecoder::new(64);
        assert_eq!(d.push(b"data: a\xffb\n\n").unwrap(), ["a\u{fffd}b"]);
    }

    #[test]
    fn a_bare_carriage_return_ends_a_line() {
        let mut d = SseDecoder::new(64);
        assert_eq!(d.push(b"data: a\r\rdata: b\r\r").unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_line_without_an_end_is_refused_at_the_limit() {
        let mut d = SseDecoder::new(16);
        assert!(d.push(b"data: 0123456789").unwrap().is_empty());
        assert_eq!(d.push(b"x"), Err(TooLong { limit: 16 }));
    }

    #[test]
    fn many_short_data_lines_are_refused_at_the_limit() {
        let mut d = SseDecoder::new(16);
        assert_eq!(
            all(
                &mut d,
                &[b"data: 01234\n", b"data: 56789\n", b"data: abcde\n"]
            ),
            Err(TooLong { limit: 16 })
        );
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        let mut d = SseDecoder::new(64);
        assert!(d.push(b": hi\nid: 3\nretry: 10\n\n").unwrap().is_empty());
    }
}
