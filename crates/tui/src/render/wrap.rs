//! Line wrapping by display width.
//!
//! The transcript is wrapped here rather than by ratatui's `Paragraph`, so the
//! console knows how many rows it occupies: paging and "n more lines" need it,
//! and the state update (which pages) and the renderer must agree on it.

use ratatui::text::Span;

/// Columns one character takes (wide CJK: 2, combining marks: 0).
pub fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

pub fn str_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Tabs as spaces (a tab's width is the terminal's business, not ours).
pub fn expand_tabs(line: &str) -> String {
    line.replace('\t', "    ")
}

/// Word-wraps one line (no `\n`) to `width` columns. Words longer than a row
/// are broken. An empty line stays one empty row.
pub fn wrap_words(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut row_width = 0;
    for token in tokens(line) {
        let token_width = str_width(token);
        if row_width + token_width <= width {
            row.push_str(token);
            row_width += token_width;
            continue;
        }
        if token.starts_with(' ') {
            // Break at the spaces and drop them.
            rows.push(std::mem::take(&mut row));
            row_width = 0;
            continue;
        }
        if row_width > 0 {
            rows.push(std::mem::take(&mut row).trim_end().to_owned());
            row_width = 0;
        }
        for c in token.chars() {
            let w = char_width(c);
            if row_width + w > width && row_width > 0 {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
            row.push(c);
            row_width += w;
        }
    }
    rows.push(row);
    rows
}

/// Breaks one line (no `\n`) into rows of at most `width` columns, by
/// character: for code, whose spaces matter.
pub fn wrap_chars(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut row_width = 0;
    for c in line.chars() {
        let w = char_width(c);
        if row_width + w > width && row_width > 0 {
            rows.push(std::mem::take(&mut row));
            row_width = 0;
        }
        row.push(c);
        row_width += w;
    }
    rows.push(row);
    rows
}

/// Runs of spaces and runs of everything else, in order.
fn tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space: Option<bool> = None;
    for (i, c) in line.char_indices() {
        let space = c == ' ';
        if in_space.is_some_and(|s| s != space) {
            out.push(&line[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < line.len() {
        out.push(&line[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_long_words_break() {
        assert_eq!(
            wrap_words("hello brave new world", 11),
            ["hello brave", "new world"]
        );
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("", 10), [""]);
        assert_eq!(wrap_words("  indented", 20), ["  indented"]);
    }

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(char_width('日'), 2);
        assert_eq!(wrap_chars("日本語", 4), ["日本", "語"]);
    }

    #[test]
    fn code_wraps_by_character_keeping_spaces() {
        assert_eq!(wrap_chars("    let x = 1;", 8), ["    let ", "x = 1;"]);
    }
}
