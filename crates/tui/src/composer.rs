//! The message being written: a small multi-line editor with input history.
//!
//! The cursor is a byte offset that always sits on a character boundary. Up
//! and Down move between lines of the draft and, from its first or last line,
//! through the messages sent before; the draft in progress is kept aside while
//! browsing and comes back when Down passes the newest entry.

/// Most sent messages remembered for Up/Down.
pub const HISTORY_LIMIT: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Composer {
    text: String,
    cursor: usize,
    history: Vec<String>,
    /// Index into `history` while browsing it.
    browsing: Option<usize>,
    /// The draft put aside when browsing began.
    stash: String,
}

impl Composer {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }

    pub fn set_text(&mut self, text: &str) {
        self.text = text.to_owned();
        self.cursor = self.text.len();
        self.browsing = None;
    }

    pub fn clear(&mut self) {
        self.set_text("");
    }

    /// Remembers a sent message (skipping a repeat of the last one).
    pub fn remember(&mut self, sent: &str) {
        if self.history.last().map(String::as_str) != Some(sent) {
            self.history.push(sent.to_owned());
        }
        if self.history.len() > HISTORY_LIMIT {
            let excess = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..excess);
        }
        self.browsing = None;
    }

    pub fn insert_char(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.browsing = None;
    }

    pub fn insert_str(&mut self, s: &str) {
        // Pasted text from Windows or old Macs: one kind of line break only.
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
        self.browsing = None;
    }

    pub fn backspace(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.text.replace_range(prev..self.cursor, "");
            self.cursor = prev;
            self.browsing = None;
        }
    }

    pub fn delete(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.text.replace_range(self.cursor..next, "");
            self.browsing = None;
        }
    }

    pub fn left(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.cursor = prev;
        }
    }

    pub fn right(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.cursor = next;
        }
    }

    pub fn line_start(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
    }

    pub fn line_end(&mut self) {
        self.cursor = self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i);
    }

    /// Deletes from the start of the line to the cursor.
    pub fn kill_line_before(&mut self) {
        let start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.browsing = None;
    }

    /// Up: the line above, or the previous history entry from the first line.
    pub fn up(&mut self) {
        if self.text[..self.cursor].contains('\n') {
            self.move_vertically(-1);
            return;
        }
        if self.history.is_empty() {
            return;
        }
        let index = match self.browsing {
            None => {
                self.stash = std::mem::take(&mut self.text);
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.show_history(index);
    }

    /// Down: the line below, or the next history entry (then the stashed draft)
    /// from the last line.
    pub fn down(&mut self) {
        if self.text[self.cursor..].contains('\n') {
            self.move_vertically(1);
            return;
        }
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => self.show_history(i + 1),
            Some(_) => {
                let stash = std::mem::take(&mut self.stash);
                self.set_text(&stash);
            }
        }
    }

    fn show_history(&mut self, index: usize) {
        self.text = self.history[index].clone();
        self.cursor = self.text.len();
        self.browsing = Some(index);
    }

    /// Moves one line up (-1) or down (1), keeping the column in characters.
    fn move_vertically(&mut self, dir: i32) {
        let line_start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..self.cursor].chars().count();
        let target_start = if dir < 0 {
            let prev_end = line_start.saturating_sub(1);
            self.text[..prev_end].rfind('\n').map_or(0, |i| i + 1)
        } else {
            match self.text[self.cursor..].find('\n') {
                Some(i) => self.cursor + i + 1,
                None => return,
            }
        };
        let target_line = self.text[target_start..]
            .split('\n')
            .next()
            .unwrap_or_default();
        let offset: usize = target_line.chars().take(column).map(char::len_utf8).sum();
        self.cursor = target_start + offset;
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.text[..self.cursor]
            .char_indices()
            .next_back()
            .map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.text[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Composer {
        let mut c = Composer::default();
        c.insert_str(s);
        c
    }

    #[test]
    fn editing_keeps_the_cursor_on_character_boundaries() {
        let mut c = typed("héllo");
        c.left();
        c.left();
        c.left();
        c.left();
        c.backspace();
        assert_eq!(c.text(), "éllo");
        c.delete();
        assert_eq!(c.text(), "llo");
        c.line_end();
        c.insert_char('!');
        assert_eq!(c.text(), "llo!");
    }

    #[test]
    fn up_and_down_move_between_lines_before_touching_history() {
        let mut c = Composer::default();
        c.remember("old");
        c.insert_str("ab\ncdef");
        c.up();
        assert_eq!(c.cursor(), 2, "column 4 clamps to the end of `ab`");
        assert_eq!(c.text(), "ab\ncdef");
        c.up();
        assert_eq!(c.text(), "old", "first line: Up recalls history");
        c.down();
        assert_eq!(c.text(), "ab\ncdef", "the draft comes back");
    }

    #[test]
    fn history_walks_back_and_forth_and_stops_at_the_oldest() {
        let mut c = Composer::default();
        c.remember("one");
        c.remember("two");
        c.remember("two");
        assert_eq!(c.history(), ["one", "two"]);
        c.insert_str("draft");
        c.up();
        assert_eq!(c.text(), "two");
        c.up();
        c.up();
        assert_eq!(c.text(), "one");
        c.down();
        assert_eq!(c.text(), "two");
        c.down();
        assert_eq!(c.text(), "draft");
    }

    #[test]
    fn pasted_line_breaks_are_normalised() {
        assert_eq!(typed("a\r\nb\rc").text(), "a\nb\nc");
    }

    #[test]
    fn kill_line_before_deletes_to_the_line_start() {
        let mut c = typed("keep\ndrop this");
        c.kill_line_before();
        assert_eq!(c.text(), "keep\n");
    }
}
