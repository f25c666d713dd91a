//! Key bindings: which key does what, in one table the help overlay shows.
//!
//! Keys are turned into [`Action`]s here and nowhere else, depending on what
//! has the focus (the composer, the help overlay or the worker picker), so the
//! state update never looks at raw key codes.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Composer,
    Help,
    Picker,
    /// A form of the picker: a new worker, a rename, a stop to confirm.
    Form,
    /// The picker's filter line (`/`): typing finds workers by name.
    Filter,
    /// Search across conversations (`s` in the picker).
    Search,
}

/// Something the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Submit,
    NewLine,
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    LineStart,
    LineEnd,
    KillLineBefore,
    Up,
    Down,
    PageUp,
    PageDown,
    ScrollTop,
    ScrollBottom,
    /// Esc: close an overlay, or cancel the run in flight.
    Escape,
    /// Ctrl-C: the first arms quitting, the second quits.
    Interrupt,
    Quit,
    ToggleHelp,
    TogglePicker,
    ToggleReasoning,
    /// Show or fold tool calls' arguments and results.
    ToggleTools,
    /// Enter in the picker or one of its forms.
    Choose,
    /// In the picker: start a new worker, rename or stop the highlighted one.
    NewWorker,
    RenameWorker,
    StopWorker,
    /// Send the question of a failed or cancelled run again.
    Retry,
    /// Ctrl-X: take back the message queued last.
    RemoveLastQueued,
    /// `/` in the picker: type a filter.
    Filter,
    /// `s` in the picker: search every conversation.
    OpenSearch,
}

/// The key list of the help overlay (and of the README): key, what it does.
pub const KEY_HELP: &[(&str, &str)] = &[
    ("Enter", "send the message (queued while one answers)"),
    ("Ctrl-X", "take back the message queued last"),
    ("Alt-Enter, Ctrl-J", "new line in the message"),
    ("Up / Down", "move in the message, or recall sent ones"),
    ("Ctrl-A / Ctrl-E", "start / end of the line"),
    ("Ctrl-U", "delete to the start of the line"),
    (
        "PageUp / PageDown",
        "scroll the transcript (or the mouse wheel)",
    ),
    ("Home / End", "oldest message / follow the newest"),
    ("Esc", "stop the answer in flight, or close a panel"),
    ("Ctrl-P", "worker picker: switch to another worker"),
    (
        "n / r / d (picker)",
        "new worker, rename, stop the highlighted one",
    ),
    ("/ (picker)", "find workers by name (on the server)"),
    ("s (picker)", "search every conversation"),
    ("Ctrl-T", "retry: send a failed or stopped question again"),
    ("Ctrl-R", "show or fold the reasoning"),
    ("Ctrl-O", "show or fold tool calls: arguments and results"),
    (
        "y / a / n",
        "a tool call asks: yes once, always for this worker, no",
    ),
    ("F1, ?", "this help (? on an empty message)"),
    ("Ctrl-C twice, Ctrl-Q", "quit"),
];

/// Maps a key press to an action for the given focus. `composer_empty` lets
/// `?` open the help only when it would not be part of a message.
pub fn action_for(key: KeyEvent, focus: Focus, composer_empty: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);

    // Keys that mean the same everywhere.
    match key.code {
        KeyCode::Char('c') if ctrl => return Some(Action::Interrupt),
        KeyCode::Char('q') if ctrl => return Some(Action::Quit),
        KeyCode::Char('p') if ctrl => return Some(Action::TogglePicker),
        KeyCode::F(1) => return Some(Action::ToggleHelp),
        KeyCode::Esc => return Some(Action::Escape),
        _ => {}
    }

    match focus {
        Focus::Help => match key.code {
            KeyCode::Char('q' | '?') | KeyCode::Enter => Some(Action::ToggleHelp),
            _ => None,
        },
        Focus::Picker => match key.code {
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
            KeyCode::Enter => Some(Action::Choose),
            KeyCode::Char('q') => Some(Action::TogglePicker),
            KeyCode::Char('n') => Some(Action::NewWorker),
            KeyCode::Char('r') => Some(Action::RenameWorker),
            KeyCode::Char('d') | KeyCode::Delete => Some(Action::StopWorker),
            KeyCode::Char('/') => Some(Action::Filter),
            KeyCode::Char('s') => Some(Action::OpenSearch),
            _ => None,
        },
        Focus::Filter => match key.code {
            KeyCode::Enter | KeyCode::Down => Some(Action::Choose),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char('u') if ctrl => Some(Action::KillLineBefore),
            KeyCode::Char(c) if !ctrl && !alt => Some(Action::Insert(c)),
            _ => None,
        },
        Focus::Form | Focus::Search => match key.code {
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Enter => Some(Action::Choose),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char('u') if ctrl => Some(Action::KillLineBefore),
            KeyCode::Char(c) if !ctrl && !alt => Some(Action::Insert(c)),
            _ => None,
        },
        Focus::Composer => match key.code {
            KeyCode::Enter if alt || shift || ctrl => Some(Action::NewLine),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Char('j') if ctrl => Some(Action::NewLine),
            KeyCode::Char('a') if ctrl => Some(Action::LineStart),
            KeyCode::Char('e') if ctrl => Some(Action::LineEnd),
            KeyCode::Char('u') if ctrl => Some(Action::KillLineBefore),
            KeyCode::Char('r') if ctrl => Some(Action::ToggleReasoning),
            KeyCode::Char('o') if ctrl => Some(Action::ToggleTools),
            KeyCode::Char('t') if ctrl => Some(Action::Retry),
            KeyCode::Char('x') if ctrl => Some(Action::RemoveLastQueued),
            KeyCode::Char('?') if composer_empty && !alt => Some(Action::ToggleHelp),
            KeyCode::Char(c) if !ctrl && !alt => Some(Action::Insert(c)),
            KeyCode::Tab => Some(Action::Insert('\t')),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Delete => Some(Action::Delete),
            KeyCode::Left => Some(Action::Left),
            KeyCode::Right => Some(Action::Right),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::PageUp => Some(Action::PageUp),
            KeyCode::PageDown => Some(Action::PageDown),
            KeyCode::Home => Some(Action::ScrollTop),
            KeyCode::End => Some(Action::ScrollBottom),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn enter_sends_and_modified_enter_or_ctrl_j_breaks_the_line() {
        let none = KeyModifiers::NONE;
        let f = Focus::Composer;
        assert_eq!(
            action_for(key(KeyCode::Enter, none), f, false),
            Some(Action::Submit)
        );
        for m in [KeyModifiers::ALT, KeyModifiers::SHIFT] {
            assert_eq!(
                action_for(key(KeyCode::Enter, m), f, false),
                Some(Action::NewLine)
            );
        }
        assert_eq!(
            action_for(key(KeyCode::Char('j'), KeyModifiers::CONTROL), f, false),
            Some(Action::NewLine)
        );
    }

    #[test]
    fn question_mark_opens_help_only_on_an_empty_message() {
        let none = KeyModifiers::NONE;
        let f = Focus::Composer;
        assert_eq!(
            action_for(key(KeyCode::Char('?'), none), f, true),
            Some(Action::ToggleHelp)
        );
        assert_eq!(
            action_for(key(KeyCode::Char('?'), none), f, false),
            Some(Action::Insert('?'))
        );
    }

    #[test]
    fn global_keys_work_in_every_focus() {
        for focus in [
            Focus::Composer,
            Focus::Help,
            Focus::Picker,
            Focus::Form,
            Focus::Filter,
            Focus::Search,
        ] {
            let ctrl = KeyModifiers::CONTROL;
            assert_eq!(
                action_for(key(KeyCode::Char('c'), ctrl), focus, false),
                Some(Action::Interrupt)
            );
            assert_eq!(
                action_for(key(KeyCode::Char('q'), ctrl), focus, false),
                Some(Action::Quit)
            );
            assert_eq!(
                action_for(key(KeyCode::Esc, KeyModifiers::NONE), focus, false),
                Some(Action::Escape)
            );
        }
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Enter, KeyModifiers::NONE);
        k.kind = KeyEventKind::Release;
        assert_eq!(action_for(k, Focus::Composer, false), None);
    }
}
