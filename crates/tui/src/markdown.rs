//! Just enough Markdown for a terminal: fenced code blocks set apart from prose.
//!
//! Assistant answers are Markdown. A terminal cannot show most of it well, but
//! code is the part that matters: it must keep its line breaks and indentation
//! and be visibly separate from the words around it. So the text is split into
//! prose and fenced code blocks; everything else is shown as written. An open
//! fence while the answer still streams counts as code up to the end.

/// One run of an answer: prose, or the body of a fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block<'a> {
    Prose(Vec<&'a str>),
    Code {
        /// The info string after the fence (`rust`, `sh`, ...), maybe empty.
        lang: &'a str,
        lines: Vec<&'a str>,
        /// False while the closing fence has not arrived (yet).
        closed: bool,
    },
}

/// Splits `text` at ``` and ~~~ fences. A fence closes only with the same
/// character and at least the same length, as CommonMark has it.
pub fn split_blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut prose: Vec<&str> = Vec::new();
    let mut code: Option<(Fence, &str, Vec<&str>)> = None;

    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match code.take() {
            Some((fence, lang, mut lines)) => {
                if fence.is_closed_by(line) {
                    blocks.push(Block::Code {
                        lang,
                        lines,
                        closed: true,
                    });
                } else {
                    lines.push(line);
                    code = Some((fence, lang, lines));
                }
            }
            None => match Fence::open(line) {
                Some((fence, lang)) => {
                    if !prose.is_empty() {
                        blocks.push(Block::Prose(std::mem::take(&mut prose)));
                    }
                    code = Some((fence, lang, Vec::new()));
                }
                None => prose.push(line),
            },
        }
    }
    if let Some((_, lang, lines)) = code {
        blocks.push(Block::Code {
            lang,
            lines,
            closed: false,
        });
    }
    if !prose.is_empty() {
        blocks.push(Block::Prose(prose));
    }
    blocks
}

/// How one prose line reads: headings and list items get their own look;
/// inline markup (`**bold**`, `` `code` ``) is left as written, which reads fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProseLine<'a> {
    Heading(&'a str),
    /// A `-`, `*` or `+` list item: its indent (in spaces) and its text.
    Bullet(usize, &'a str),
    Plain(&'a str),
}

pub fn classify(line: &str) -> ProseLine<'_> {
    let trimmed = line.trim_start_matches(' ');
    let indent = line.len() - trimmed.len();
    if indent <= 3 {
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            return ProseLine::Heading(trimmed[hashes..].trim());
        }
    }
    for marker in ["- ", "* ", "+ "] {
        if let Some(text) = trimmed.strip_prefix(marker) {
            return ProseLine::Bullet(indent, text);
        }
    }
    ProseLine::Plain(line)
}

#[derive(Debug, Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    fn open(line: &str) -> Option<(Fence, &str)> {
        let trimmed = indent_stripped(line)?;
        let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = trimmed.chars().take_while(|c| *c == ch).count();
        if len < 3 {
            return None;
        }
        let info = trimmed[len..].trim();
        // A backtick fence's info string may not hold backticks (that is inline code).
        if ch == '`' && info.contains('`') {
            return None;
        }
        let lang = info.split_whitespace().next().unwrap_or("");
        Some((Fence { ch, len }, lang))
    }

    fn is_closed_by(self, line: &str) -> bool {
        let Some(trimmed) = indent_stripped(line) else {
            return false;
        };
        let run = trimmed.chars().take_while(|c| *c == self.ch).count();
        run >= self.len && trimmed[run * self.ch.len_utf8()..].trim().is_empty()
    }
}

/// The line without up to three leading spaces; `None` when indented further
/// (four spaces make an indented code line, not a fence).
fn indent_stripped(line: &str) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= 3).then(|| &line[spaces..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_alone_is_one_block() {
        assert_eq!(
            split_blocks("hello\nworld"),
            vec![Block::Prose(vec!["hello", "world"])]
        );
    }

    #[test]
    fn fenced_code_is_set_apart_with_its_language() {
        let text = "Try this:\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\nDone.";
        assert_eq!(
            split_blocks(text),
            vec![
                Block::Prose(vec!["Try this:"]),
                Block::Code {
                    lang: "rust",
                    lines: vec!["fn main() {", "    println!(\"hi\");", "}"],
                    closed: true
                },
                Block::Prose(vec!["Done."]),
            ]
        );
    }

    #[test]
    fn an_unclosed_fence_while_streaming_is_code_to_the_end() {
        assert_eq!(
            split_blocks("See:\n~~~~\nls -l\n```\nstill code"),
            vec![
                Block::Prose(vec!["See:"]),
                Block::Code {
                    lang: "",
                    lines: vec!["ls -l", "```", "still code"],
                    closed: false
                },
            ]
        );
    }

    #[test]
    fn headings_and_bullets_are_recognised() {
        assert_eq!(classify("## Setup"), ProseLine::Heading("Setup"));
        assert_eq!(classify("#hashtag"), ProseLine::Plain("#hashtag"));
        assert_eq!(classify("- item"), ProseLine::Bullet(0, "item"));
        assert_eq!(classify("  * nested"), ProseLine::Bullet(2, "nested"));
        assert_eq!(classify("-5 degrees"), ProseLine::Plain("-5 degrees"));
    }

    #[test]
    fn inline_backticks_and_deep_indents_are_not_fences() {
        assert_eq!(
            split_blocks("use ```a``` here\n    ```\nx"),
            vec![Block::Prose(vec!["use ```a``` here", "    ```", "x"])]
        );
    }
}
