//! Assistant Markdown for a terminal, parsed by pulldown-cmark (CommonMark
//! with tables, strikethrough and task lists).
//!
//! [`to_lines`] turns an answer into [`MdLine`]s: logical lines that still
//! have to be wrapped to the terminal's width, each with its kind (prose,
//! heading, a line of a fenced code block, a table, a rule), its list and
//! quote nesting, the marker of a list item, and its inline [`Piece`]s with
//! their [`Marks`] (strong, emphasis, code, strikethrough, link). The
//! renderer (`render::transcript`) wraps them and picks the colours; nothing
//! here knows about ratatui.
//!
//! An answer that is still streaming may end inside a fenced code block: it
//! is code up to the end, and its frame stays open ([`LineKind::CodeEnd`] is
//! only emitted for a closed fence, or once the answer is final). Raw HTML is
//! shown as the text it is.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// How a piece of inline text is marked up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub strong: bool,
    pub emphasis: bool,
    pub code: bool,
    pub strike: bool,
    pub link: bool,
    /// Said by the console, not the model (a link's address, an image's label).
    pub aside: bool,
}

/// A run of inline text with one set of marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub marks: Marks,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Prose,
    Heading(u8),
    /// The top of a code block's frame, with its language (maybe empty).
    CodeStart(String),
    /// One line of code, as written.
    Code(String),
    /// The bottom of a code block's frame.
    CodeEnd,
    /// A whole table: rows of cells (plain text); the first `header` rows are its head.
    Table {
        rows: Vec<Vec<String>>,
        header: usize,
    },
    Rule,
    Blank,
}

/// One logical line of an answer, before wrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdLine {
    pub kind: LineKind,
    /// Columns of list nesting (continuation rows line up under the text).
    pub indent: usize,
    /// Block-quote depth.
    pub quote: usize,
    /// `• `, `3. `: on the first line of a list item only.
    pub marker: String,
    pub pieces: Vec<Piece>,
}

impl MdLine {
    fn new(kind: LineKind) -> Self {
        Self {
            kind,
            indent: 0,
            quote: 0,
            marker: String::new(),
            pieces: Vec::new(),
        }
    }

    /// The line's inline text without marks (tests, tables).
    pub fn plain(&self) -> String {
        self.pieces.iter().map(|p| p.text.as_str()).collect()
    }
}

/// Parses `text` and lays it out as logical lines. `streaming` keeps the frame
/// of a code block open when its closing fence has not arrived yet.
pub fn to_lines(text: &str, streaming: bool) -> Vec<MdLine> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut b = Builder::default();
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        match event {
            Event::Start(tag) => b.start(tag, &text[range]),
            Event::End(tag) => b.end(tag, streaming),
            Event::Text(t) => b.text(&t),
            Event::Code(t) => b.push(
                &t,
                Marks {
                    code: true,
                    ..b.marks()
                },
            ),
            Event::InlineMath(t) | Event::DisplayMath(t) => b.push(
                &t,
                Marks {
                    code: true,
                    ..b.marks()
                },
            ),
            Event::Html(t) | Event::InlineHtml(t) => b.text(&t),
            Event::FootnoteReference(t) => b.push(&format!("[{t}]"), b.marks()),
            Event::SoftBreak => b.push(" ", b.marks()),
            Event::HardBreak => b.flush(),
            Event::Rule => {
                b.gap();
                b.out.push(MdLine::new(LineKind::Rule));
            }
            Event::TaskListMarker(done) => {
                b.push(if done { "[x] " } else { "[ ] " }, Marks::default());
            }
        }
    }
    b.flush();
    b.out
}

/// Where the walk through the events is.
#[derive(Default)]
struct Builder {
    out: Vec<MdLine>,
    /// Inline content of the line being built.
    pieces: Vec<Piece>,
    strong: u32,
    emphasis: u32,
    strike: u32,
    /// Addresses of the links being read (innermost last).
    links: Vec<String>,
    /// Per open list: the next number, or `None` for bullets.
    lists: Vec<Option<u64>>,
    /// The marker the next line of the current item starts with.
    marker: Option<String>,
    quote: usize,
    heading: Option<u8>,
    code: Option<Code>,
    table: Option<Table>,
}

struct Code {
    lang: String,
    text: String,
    closed: bool,
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    header: usize,
    row: Vec<String>,
    cell: String,
}

impl Builder {
    fn marks(&self) -> Marks {
        Marks {
            strong: self.strong > 0,
            emphasis: self.emphasis > 0,
            strike: self.strike > 0,
            link: !self.links.is_empty(),
            ..Marks::default()
        }
    }

    fn push(&mut self, text: &str, marks: Marks) {
        if let Some(table) = self.table.as_mut() {
            table.cell.push_str(text);
            return;
        }
        match self.pieces.last_mut() {
            Some(last) if last.marks == marks => last.text.push_str(text),
            _ => self.pieces.push(Piece {
                text: text.to_owned(),
                marks,
            }),
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(code) = self.code.as_mut() {
            code.text.push_str(text);
        } else {
            self.push(text, self.marks());
        }
    }

    /// A blank line between blocks, but not inside a list.
    fn gap(&mut self) {
        self.flush();
        let in_list = !self.lists.is_empty();
        if !in_list && self.out.last().is_some_and(|l| l.kind != LineKind::Blank) {
            self.out.push(MdLine::new(LineKind::Blank));
        }
    }

    /// Ends the line being built (if it holds anything).
    fn flush(&mut self) {
        if self.pieces.is_empty() && self.marker.is_none() {
            return;
        }
        let kind = self.heading.map_or(LineKind::Prose, LineKind::Heading);
        let mut line = self.line(kind);
        line.pieces = std::mem::take(&mut self.pieces);
        self.out.push(line);
    }

    /// A line at the current nesting; takes the pending list marker.
    fn line(&mut self, kind: LineKind) -> MdLine {
        let depth = self.lists.len();
        let mut line = MdLine::new(kind);
        line.quote = self.quote;
        line.indent = depth.saturating_sub(1) * 3;
        match self.marker.take() {
            Some(marker) => line.marker = marker,
            // Continuation lines of an item line up under its text.
            None if depth > 0 => line.indent += 3,
            None => {}
        }
        line
    }

    fn start(&mut self, tag: Tag<'_>, source: &str) {
        match tag {
            // A list item's first paragraph goes on its marker's line.
            Tag::Paragraph if self.marker.is_none() => self.gap(),
            Tag::Heading { level, .. } => {
                self.gap();
                self.heading = Some(heading_level(level));
            }
            Tag::BlockQuote(_) => {
                self.gap();
                self.quote += 1;
            }
            Tag::CodeBlock(kind) => {
                self.gap();
                let (lang, closed) = match kind {
                    CodeBlockKind::Fenced(info) => (
                        info.split_whitespace().next().unwrap_or("").to_owned(),
                        fence_closed(source),
                    ),
                    CodeBlockKind::Indented => (String::new(), true),
                };
                self.code = Some(Code {
                    lang,
                    text: String::new(),
                    closed,
                });
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.gap();
                } else {
                    self.flush();
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_owned(),
                };
                self.marker = Some(marker);
            }
            Tag::Table(_) => {
                self.gap();
                self.table = Some(Table::default());
            }
            Tag::Emphasis => self.emphasis += 1,
            Tag::Strong => self.strong += 1,
            Tag::Strikethrough => self.strike += 1,
            Tag::Link { dest_url, .. } => self.links.push(dest_url.into_string()),
            Tag::Image { .. } => self.push(
                "[image: ",
                Marks {
                    aside: true,
                    ..Marks::default()
                },
            ),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, streaming: bool) {
        match tag {
            TagEnd::Paragraph => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.heading = None;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
            }
            TagEnd::CodeBlock => self.end_code(streaming),
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis => self.emphasis = self.emphasis.saturating_sub(1),
            TagEnd::Strong => self.strong = self.strong.saturating_sub(1),
            TagEnd::Strikethrough => self.strike = self.strike.saturating_sub(1),
            TagEnd::Link => self.end_link(),
            TagEnd::Image => self.push(
                "]",
                Marks {
                    aside: true,
                    ..Marks::default()
                },
            ),
            TagEnd::TableCell => {
                if let Some(t) = self.table.as_mut() {
                    let cell = std::mem::take(&mut t.cell);
                    t.row.push(cell.trim().to_owned());
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(t) = self.table.as_mut() {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                    if tag == TagEnd::TableHead {
                        t.header = t.rows.len();
                    }
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    let mut line = self.line(LineKind::Table {
                        rows: t.rows,
                        header: t.header,
                    });
                    line.marker.clear();
                    self.out.push(line);
                }
            }
            _ => {}
        }
    }

    fn end_code(&mut self, streaming: bool) {
        let Some(code) = self.code.take() else {
            return;
        };
        let start = self.line(LineKind::CodeStart(code.lang));
        let (indent, quote) = (start.indent, start.quote);
        self.out.push(start);
        let body = code.text.strip_suffix('\n').unwrap_or(&code.text);
        if !body.is_empty() || code.closed {
            for l in body.split('\n') {
                let mut line = MdLine::new(LineKind::Code(l.to_owned()));
                (line.indent, line.quote) = (indent, quote);
                self.out.push(line);
            }
        }
        if code.closed || !streaming {
            let mut end = MdLine::new(LineKind::CodeEnd);
            (end.indent, end.quote) = (indent, quote);
            self.out.push(end);
        }
    }

    /// A link shows its text, and its address when that says something more.
    fn end_link(&mut self) {
        let Some(url) = self.links.pop() else {
            return;
        };
        let shown: String = self
            .pieces
            .iter()
            .rev()
            .take_while(|p| p.marks.link)
            .map(|p| p.text.as_str())
            .collect();
        if !url.is_empty() && shown.trim() != url && !url.starts_with('#') {
            self.push(
                &format!(" ({url})"),
                Marks {
                    aside: true,
                    ..Marks::default()
                },
            );
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Whether a fenced block's source ends with its closing fence.
fn fence_closed(source: &str) -> bool {
    let mut lines = source.trim_end_matches(['\n', '\r']).lines();
    let Some(open) = lines.next().map(str::trim_start) else {
        return false;
    };
    let ch = open.chars().next().unwrap_or('`');
    let len = open.chars().take_while(|c| *c == ch).count();
    lines.next_back().is_some_and(|last| {
        let last = last.trim();
        last.chars().take_while(|c| *c == ch).count() >= len && last.chars().all(|c| c == ch)
    })
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
