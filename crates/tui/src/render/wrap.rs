//! Line wrapping by display width.
//!
//! The transcript is wrapped here rather than by ratatui's `Paragraph`, so the
//! console knows how many rows it occupies: paging and "n more lines" need it,
//! and the state update (which pages) and the renderer must agree on it.

use ratatui::style::Style;
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

/// Word-wraps styled text (no `\n`) to `width` columns, each run keeping its
/// style; like [`wrap_words`], spaces at a break are dropped and words longer
/// than a row are broken.
pub fn wrap_styled(runs: &[(String, Style)], width: usize) -> Vec<Vec<Span<'static>>> {
    let width = width.max(1);
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut row_width = 0;
    let push = |rows: &mut Vec<Vec<Span<'static>>>, text: &str, style: Style| {
        let Some(row) = rows.last_mut() else {
            return;
        };
        match row.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push_str(text),
            _ => row.push(Span::styled(text.to_owned(), style)),
        }
    };
    for (text, style) in runs {
        for token in tokens(text) {
            let token_width = str_width(token);
            if row_width + token_width <= width {
                push(&mut rows, token, *style);
                row_width += token_width;
                continue;
            }
            if token.starts_with(' ') {
                rows.push(Vec::new());
                row_width = 0;
                continue;
            }
            if row_width > 0 {
                trim_row_end(rows.last_mut());
                rows.push(Vec::new());
                row_width = 0;
            }
            for c in token.chars() {
                let w = char_width(c);
                if row_width + w > width && row_width > 0 {
                    rows.push(Vec::new());
                    row_width = 0;
                }
                push(&mut rows, c.encode_utf8(&mut [0u8; 4]), *style);
                row_width += w;
            }
        }
    }
    rows
}

fn trim_row_end(row: Option<&mut Vec<Span<'static>>>) {
    let Some(row) = row else {
        return;
    };
    while let Some(last) = row.last_mut() {
        let trimmed = last.content.trim_end().len();
        if trimmed == 0 {
            row.pop();
        } else {
            last.content.to_mut().truncate(trimmed);
            break;
        }
    }
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
    fn styled_text_wraps_at_spaces_keeping_each_style() {
        let bold = Style::new().add_modifier(ratatui::style::Modifier::BOLD);
        let runs = [
            ("plain words ".to_owned(), Style::new()),
            ("bold words".to_owned(), bold),
            (" end".to_owned(), Style::new()),
        ];
        let rows = wrap_styled(&runs, 12);
        let text: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(text, ["plain words", "bold words", "end"]);
        assert_eq!(rows[1][0].style, bold);
        assert_eq!(wrap_styled(&[("abcdef".into(), bold)], 4).len(), 2);
    }

    #[test]
    fn code_wraps_by_character_keeping_spaces() {
        assert_eq!(wrap_chars("    let x = 1;", 8), ["    let ", "x = 1;"]);
    }
}
