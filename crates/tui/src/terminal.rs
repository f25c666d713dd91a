//! Taking over the terminal, and always giving it back.
//!
//! The console runs in raw mode on the alternate screen with mouse reporting
//! and bracketed paste. [`TerminalGuard`] undoes all of it when dropped, on an
//! error, and, through a panic hook that runs before the panic message is
//! printed, on a panic: a crash never leaves a shell without echo. The hook is
//! chained to the one that was there before and put back afterwards.

use std::io::{self, stdout, Stdout};
use std::panic::{self, PanicHookInfo};
use std::sync::Arc;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

type PanicHook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

pub type ConsoleTerminal = Terminal<CrosstermBackend<Stdout>>;

pub struct TerminalGuard {
    terminal: ConsoleTerminal,
    previous_hook: Option<Arc<PanicHook>>,
    restored: bool,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<Self> {
        let previous_hook = install_panic_hook();
        let setup = || -> io::Result<ConsoleTerminal> {
            enable_raw_mode()?;
            execute!(
                stdout(),
                EnterAlternateScreen,
                EnableMouseCapture,
                EnableBracketedPaste
            )?;
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
            terminal.clear()?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard {
                terminal,
                previous_hook: Some(previous_hook),
                restored: false,
            }),
            Err(e) => {
                // Undo whatever part of the set-up succeeded.
                let _ = restore_terminal();
                reinstate(previous_hook);
                Err(e)
            }
        }
    }

    pub fn terminal(&mut self) -> &mut ConsoleTerminal {
        &mut self.terminal
    }

    /// Gives the terminal back; also done on drop. Safe to call twice.
    pub fn restore(&mut self) -> io::Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let result = restore_terminal();
        if !std::thread::panicking() {
            if let Some(previous) = self.previous_hook.take() {
                reinstate(previous);
            }
        }
        result
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

fn restore_terminal() -> io::Result<()> {
    let raw = disable_raw_mode();
    let screen = execute!(
        stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    raw.and(screen)
}

fn install_panic_hook() -> Arc<PanicHook> {
    let previous: Arc<PanicHook> = Arc::new(panic::take_hook());
    let chained = Arc::clone(&previous);
    panic::set_hook(Box::new(move |info| {
        let _ = restore_terminal();
        chained(info);
    }));
    previous
}

/// Drops our hook and puts the one from before back. Not while panicking:
/// `take_hook` itself panics then.
fn reinstate(previous: Arc<PanicHook>) {
    drop(panic::take_hook());
    panic::set_hook(Box::new(move |info| previous(info)));
}
