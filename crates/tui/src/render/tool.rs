//! Tool calls in the answer, and the approval prompt at the bottom.
//!
//! Folded (the default) a call is one line, `⚙ yoi.list_workers {…} → ok
//! 12 ms`; unfolded (Ctrl-O) its arguments as pretty JSON and its result
//! (the first lines) follow under it.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use yoi_protocol::ToolCallState;

use super::wrap::{expand_tabs, str_width, wrap_chars};
use crate::app::App;
use crate::tool_calls::{arguments_pretty, call_line, prompt_text, CallLine, RESULT_LINES};

const INDENT: &str = "  ";

fn state_style(state: ToolCallState) -> Style {
    match state {
        ToolCallState::Ok => Style::new().fg(Color::Green),
        ToolCallState::Error | ToolCallState::Interrupted => Style::new().fg(Color::Red),
        ToolCallState::Denied | ToolCallState::Cancelled => Style::new().fg(Color::Yellow),
        ToolCallState::WaitingApproval => Style::new().fg(Color::Magenta),
        ToolCallState::Running => Style::new().fg(Color::DarkGray),
    }
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The rows of one call at `width` columns.
pub(super) fn call_lines(
    call: &CallLine,
    unfolded: bool,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let line = format!("{INDENT}{}", call_line(call));
    let first = wrap_chars(&line, width)
        .into_iter()
        .next()
        .unwrap_or_default();
    out.push(Line::from(Span::styled(first, state_style(call.state))));
    if !unfolded {
        return;
    }
    let inner = width.saturating_sub(6).max(1);
    let bar = format!("{INDENT}{INDENT}┊ ");
    out.push(Line::from(Span::styled(format!("{bar}arguments:"), dim())));
    for line in arguments_pretty(&call.arguments).lines() {
        for row in wrap_chars(&expand_tabs(line), inner) {
            out.push(Line::from(Span::styled(format!("{bar}{row}"), dim())));
        }
    }
    let result = call
        .output
        .as_deref()
        .filter(|o| !o.is_empty())
        .or(call.summary.as_deref());
    if let Some(result) = result {
        out.push(Line::from(Span::styled(format!("{bar}result:"), dim())));
        let lines: Vec<&str> = result.lines().collect();
        for line in lines.iter().take(RESULT_LINES) {
            for row in wrap_chars(&expand_tabs(line), inner) {
                out.push(Line::from(Span::styled(format!("{bar}{row}"), dim())));
            }
        }
        if lines.len() > RESULT_LINES {
            out.push(Line::from(Span::styled(
                format!("{bar}… {} more lines", lines.len() - RESULT_LINES),
                dim(),
            )));
        }
    }
}

/// The prompt for the oldest call waiting for a person, on its own line
/// above the composer.
pub(super) fn render_approval(frame: &mut Frame, area: Rect, app: &App) {
    let Some(text) = prompt_text(&app.approvals) else {
        return;
    };
    let style = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
    let width = area.width as usize;
    let text = format!(" ⏸ {text}");
    let shown = if str_width(&text) > width {
        wrap_chars(&text, width)
            .into_iter()
            .next()
            .unwrap_or_default()
    } else {
        text
    };
    frame.render_widget(Paragraph::new(Line::from(Span::styled(shown, style))), area);
}
