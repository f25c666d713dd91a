//! Drawing the console: `render(frame, &app)` and nothing else.
//!
//! From top to bottom: the bordered transcript, a notice line (only when
//! there is something to say), the composer (growing to a few lines) and the
//! one-line status bar. The help and the worker picker are drawn over it.
//! Rendering reads the [`App`] and never changes it.

mod form;
mod search;
mod tool;
mod transcript;
mod wrap;

use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Padding, Paragraph, Wrap};
use ratatui::Frame;
use yoi_protocol::{RuntimeStatus, RuntimeSummary, SnapshotReason, WorkerStatus, WorkerSummary};

use crate::app::{App, ConnState, LiveKind, Scroll, Target};
use crate::keys::{Focus, KEY_HELP};
use crate::notice::Level;
use crate::picker::{worker_ref, MoreState, Row};
use wrap::{char_width, str_width};

/// Most rows the composer grows to (without its border).
const COMPOSER_MAX_ROWS: usize = 6;

struct Areas {
    transcript: Rect,
    notice: Rect,
    approval: Rect,
    composer: Rect,
    status: Rect,
}

fn areas(area: Rect, app: &App) -> Areas {
    let inner_width = composer_block().inner(area).width as usize;
    let (rows, _) = composer_rows(app.composer.text(), app.composer.cursor(), inner_width);
    let composer_height = rows.len().clamp(1, COMPOSER_MAX_ROWS) as u16 + 2;
    let notice_height = u16::from(app.notice.is_some());
    let approval_height = u16::from(!app.approvals.is_empty());
    let [transcript, notice, approval, composer, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(notice_height),
        Constraint::Length(approval_height),
        Constraint::Length(composer_height),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        transcript,
        notice,
        approval,
        composer,
        status,
    }
}

/// The transcript's frame; its inner area is what the text wraps to.
fn transcript_block() -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(Color::DarkGray))
        .padding(Padding::horizontal(1))
}

fn composer_block() -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .padding(Padding::horizontal(1))
}

/// The transcript's height in wrapped rows, and the rows it can show at once,
/// at the terminal size the app last saw.
pub fn transcript_extent(app: &App) -> (usize, usize) {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let inner = transcript_block().inner(areas(area, app).transcript);
    let total = transcript::lines(app, inner.width as usize).len();
    (total, inner.height as usize)
}

pub fn render(frame: &mut Frame, app: &App) {
    let a = areas(frame.area(), app);
    render_transcript(frame, a.transcript, app);
    render_notice(frame, a.notice, app);
    tool::render_approval(frame, a.approval, app);
    render_composer(frame, a.composer, app);
    render_status(frame, a.status, app);
    match app.focus {
        Focus::Help => render_help(frame, frame.area()),
        Focus::Picker | Focus::Filter => render_picker(frame, frame.area(), app),
        Focus::Form => {
            render_picker(frame, frame.area(), app);
            form::render_form(frame, frame.area(), app);
        }
        Focus::Search => search::render_search(frame, frame.area(), app),
        Focus::Composer => {}
    }
}

fn title_of(app: &App) -> String {
    match (&app.worker, &app.target) {
        (Some(w), _) => w.display_ref.clone(),
        (None, Target::Companion) => "companion".into(),
        (None, Target::Worker(r)) => r.to_string(),
    }
}

fn render_transcript(frame: &mut Frame, area: Rect, app: &App) {
    let block = transcript_block().title(Line::from(Span::styled(
        format!(" {} ", title_of(app)),
        Style::new().add_modifier(Modifier::BOLD),
    )));
    let inner = block.inner(area);
    let lines = transcript::lines(app, inner.width as usize);
    let height = inner.height as usize;
    let max_top = lines.len().saturating_sub(height);
    let top = match app.scroll {
        Scroll::Follow => max_top,
        Scroll::At(t) => t.min(max_top),
    };
    let below = max_top - top;
    let block = if below > 0 {
        block.title_bottom(
            Line::from(Span::styled(
                format!(" ↓ {below} more lines · End follows "),
                Style::new().fg(Color::Yellow),
            ))
            .alignment(Alignment::Right),
        )
    } else {
        block
    };
    frame.render_widget(block, area);
    if lines.is_empty() {
        let hint = match app.conn {
            ConnState::Live(_) => "No messages yet. Say hello — Enter sends, F1 lists the keys.",
            _ => "Waiting for the server…",
        };
        let hint = Paragraph::new(Line::from(Span::styled(
            hint,
            Style::new().fg(Color::DarkGray),
        )))
        .alignment(Alignment::Center);
        let mid = Rect::new(
            inner.x,
            inner.y + inner.height / 2,
            inner.width,
            1.min(inner.height),
        );
        frame.render_widget(hint, mid);
        return;
    }
    let visible: Vec<Line> = lines.into_iter().skip(top).take(height).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

fn render_notice(frame: &mut Frame, area: Rect, app: &App) {
    let Some(notice) = &app.notice else {
        return;
    };
    let (mark, style) = match notice.level {
        Level::Info => ("•", Style::new().fg(Color::Cyan)),
        Level::Warning => ("⚠", Style::new().fg(Color::Yellow)),
        Level::Error => ("✗", Style::new().fg(Color::Red)),
    };
    let line = Line::from(vec![
        Span::styled(format!(" {mark} "), style.add_modifier(Modifier::BOLD)),
        Span::styled(notice.text.clone(), style),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// The draft broken into rows of `width` columns (by character, at `\n` and
/// at the edge), and the cursor's `(row, column)`.
fn composer_rows(text: &str, cursor: usize, width: usize) -> (Vec<String>, (usize, usize)) {
    let width = width.max(1);
    let mut rows = vec![String::new()];
    let mut col = 0;
    let mut at = None;
    for (i, c) in text.char_indices() {
        if i == cursor {
            at = Some((rows.len() - 1, col));
        }
        if c == '\n' {
            rows.push(String::new());
            col = 0;
            continue;
        }
        let c = if c == '\t' { ' ' } else { c };
        let w = char_width(c);
        if col + w > width && col > 0 {
            rows.push(String::new());
            col = 0;
            if i == cursor {
                at = Some((rows.len() - 1, 0));
            }
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
        col += w;
    }
    let mut at = at.unwrap_or((rows.len() - 1, col));
    if at.1 >= width {
        rows.push(String::new());
        at = (rows.len() - 1, 0);
    }
    (rows, at)
}

fn render_composer(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Focus::Composer;
    let (title, title_style) = if app.sending {
        (" sending… ", Style::new().fg(Color::Yellow))
    } else if app.run_in_flight() {
        (" message · Enter queues ", Style::new().fg(Color::Cyan))
    } else {
        (" message ", Style::new().fg(Color::Cyan))
    };
    let keys = if app.queue.is_empty() {
        " Enter send · Alt-Enter new line · Esc stop · F1 help "
    } else {
        " Enter queue · Ctrl-X take back last queued · Esc stop · F1 help "
    };
    let block = composer_block()
        .border_style(if focused {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new().fg(Color::DarkGray)
        })
        .title(Span::styled(
            title,
            title_style.add_modifier(Modifier::BOLD),
        ))
        .title_bottom(
            Line::from(Span::styled(keys, Style::new().fg(Color::DarkGray)))
                .alignment(Alignment::Right),
        );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.composer.is_empty() {
        let hint = Span::styled(
            format!("Message {}…", app.worker_name()),
            Style::new().fg(Color::DarkGray),
        );
        frame.render_widget(Paragraph::new(Line::from(hint)), inner);
        if focused && !app.sending {
            frame.set_cursor_position(Position::new(inner.x, inner.y));
        }
        return;
    }
    let (rows, (row, col)) = composer_rows(
        app.composer.text(),
        app.composer.cursor(),
        inner.width as usize,
    );
    let height = inner.height as usize;
    let first = (row + 1).saturating_sub(height);
    let style = if app.sending {
        Style::new().fg(Color::DarkGray)
    } else {
        Style::new()
    };
    let visible: Vec<Line> = rows
        .into_iter()
        .skip(first)
        .take(height)
        .map(|r| Line::from(Span::styled(r, style)))
        .collect();
    frame.render_widget(Paragraph::new(visible), inner);
    if focused && !app.sending {
        let x = inner.x + col.min(u16::MAX as usize) as u16;
        let y = inner.y + (row - first).min(u16::MAX as usize) as u16;
        frame.set_cursor_position(Position::new(x, y));
    }
}

/// The connection badge: its words and colours.
fn connection_badge(conn: &ConnState) -> (String, Style) {
    let black_on = |bg| {
        Style::new()
            .fg(Color::Black)
            .bg(bg)
            .add_modifier(Modifier::BOLD)
    };
    match conn {
        ConnState::Connecting { attempt: 1 } => (" ◌ connecting ".into(), black_on(Color::Yellow)),
        ConnState::Connecting { attempt } => (
            format!(" ◌ connecting (try {attempt}) "),
            black_on(Color::Yellow),
        ),
        ConnState::Live(LiveKind::Fresh) => (" ● live ".into(), black_on(Color::Green)),
        ConnState::Live(LiveKind::Resumed { from }) => (
            format!(" ● live · resumed from #{from} "),
            black_on(Color::Green),
        ),
        ConnState::Live(LiveKind::Reset { reason }) => {
            let why = match reason {
                Some(SnapshotReason::CursorExpired) => "history expired",
                Some(SnapshotReason::CursorAhead) => "server restarted",
                Some(SnapshotReason::Lagged) => "caught up",
                None => "fresh snapshot",
            };
            (format!(" ● live · reset: {why} "), black_on(Color::Green))
        }
        ConnState::Reconnecting {
            attempt,
            delay,
            reason,
        } => (
            format!(
                " ↻ reconnecting in {:.1}s{} · {reason} ",
                delay.as_secs_f32(),
                if *attempt > 1 {
                    format!(" (try {})", attempt + 1)
                } else {
                    String::new()
                }
            ),
            black_on(Color::Yellow),
        ),
        ConnState::Gone { reason } => (
            format!(" ✗ disconnected · {reason} "),
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ),
    }
}

fn render_status(frame: &mut Frame, area: Rect, app: &App) {
    let (badge, badge_style) = connection_badge(&app.conn);
    let dim = Style::new().fg(Color::DarkGray);
    // Segments by importance; the least important go first when the line is short.
    let mut segments: Vec<(u8, Span)> = vec![
        (0, Span::styled(badge, badge_style)),
        (
            0,
            Span::styled(
                format!(" {}", title_of(app)),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ),
    ];
    if let Some(w) = &app.worker {
        let (status, color) = worker_status(w.status);
        segments.push((0, Span::styled(" · ", dim)));
        segments.push((0, Span::styled(status, Style::new().fg(color))));
        if !w.profile.model.is_empty() {
            segments.push((2, Span::styled(" · ", dim)));
            segments.push((
                2,
                Span::styled(w.profile.model.clone(), Style::new().fg(Color::Magenta)),
            ));
        }
    }
    if let Some(run) = &app.last_run {
        segments.push((1, Span::styled(" · ", dim)));
        segments.push((
            1,
            Span::raw(format!(
                "{}↑ {}↓ tok {}",
                run.usage.prompt_tokens,
                run.usage.completion_tokens,
                duration(run.duration_ms)
            )),
        ));
    }
    if app.duplicates_dropped > 0 {
        segments.push((
            3,
            Span::styled(format!(" · {} dup dropped", app.duplicates_dropped), dim),
        ));
    }
    segments.push((4, Span::styled("  F1 help", dim)));
    let width = area.width as usize;
    for level in (1..=4).rev() {
        let used: usize = segments.iter().map(|(_, s)| s.width()).sum();
        if used <= width {
            break;
        }
        segments.retain(|(l, _)| *l < level);
    }
    let help_shown = segments.iter().any(|(l, _)| *l == 4);
    let (left, help): (Vec<_>, Vec<_>) = segments.into_iter().partition(|(l, _)| *l < 4);
    frame.render_widget(
        Paragraph::new(Line::from(
            left.into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        )),
        area,
    );
    if help_shown {
        let help = Line::from(help.into_iter().map(|(_, s)| s).collect::<Vec<_>>());
        frame.render_widget(Paragraph::new(help).alignment(Alignment::Right), area);
    }
}

/// `850ms`, `1.5s`, `2m05s`.
fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

fn overlay_block(title: &str) -> Block<'_> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(Color::Cyan))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ))
}

fn render_help(frame: &mut Frame, area: Rect) {
    let key_width = KEY_HELP
        .iter()
        .map(|(k, _)| str_width(k))
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEY_HELP
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {key:<key_width$}  "),
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        " Esc or F1 closes this help",
        Style::new().fg(Color::DarkGray),
    )));
    let height = lines.len() as u16 + 2;
    let width = KEY_HELP
        .iter()
        .map(|(_, what)| key_width + 4 + str_width(what))
        .max()
        .unwrap_or(0) as u16
        + 2;
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(overlay_block("keys")),
        popup,
    );
}

fn render_picker(frame: &mut Frame, area: Rect, app: &App) {
    let picker = &app.picker;
    let title = match (picker.live, picker.query.is_empty()) {
        (false, _) => "workers · connecting…".to_owned(),
        (true, true) => "workers · live".to_owned(),
        (true, false) => format!("workers · live · named like “{}”", picker.query),
    };
    let rows = picker.rows().len().max(1) as u16;
    let most = (area.height as u32 * 7 / 10) as u16;
    let height = (rows + 2).clamp(5.min(most), most.max(3));
    let popup = area.centered(Constraint::Percentage(80), Constraint::Length(height));
    let keys = if app.focus == Focus::Filter {
        " type a name · Enter back to the list · Esc close "
    } else {
        " ↑↓ choose · Enter switch · / find · n new · r rename · d stop · Esc close "
    };
    let block = overlay_block(&title).title_bottom(
        Line::from(Span::styled(keys, Style::new().fg(Color::DarkGray)))
            .alignment(Alignment::Right),
    );
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);

    let mut lines = Vec::new();
    if app.focus == Focus::Filter || !picker.filter_text.is_empty() {
        // The filter line, above the rows.
        let cursor = if app.focus == Focus::Filter {
            "▏"
        } else {
            ""
        };
        lines.push(Line::from(vec![
            Span::styled("/ ", Style::new().fg(Color::Cyan)),
            Span::raw(format!("{}{cursor}", picker.filter_text)),
        ]));
    }
    let height = (inner.height as usize).saturating_sub(lines.len());
    lines.extend(picker_lines(app, height));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The `height` rows of the picker around the selected one. Only those are
/// made into lines: a picker may hold thousands of workers.
fn picker_lines(app: &App, height: usize) -> Vec<Line<'static>> {
    let picker = &app.picker;
    let current = app.resolved();
    let selected = picker.selected();
    let rows = picker.rows();
    if rows.is_empty() {
        let text = if picker.live {
            "No workers in this workspace."
        } else {
            "Waiting for the workspace socket…"
        };
        return vec![Line::from(Span::styled(
            text,
            Style::new().fg(Color::DarkGray),
        ))];
    }
    let selected_row = rows
        .iter()
        .position(|r| matches!(r, Row::Worker(w) if selected == Some(&worker_ref(w))))
        .unwrap_or(0);
    let first = (selected_row + 1).saturating_sub(height);
    rows.into_iter()
        .skip(first)
        .take(height)
        .map(|row| match row {
            Row::Runtime(r) => runtime_line(r),
            Row::OtherRuntime(id) => Line::from(Span::styled(
                format!("▾ {id}"),
                Style::new().add_modifier(Modifier::BOLD),
            )),
            Row::More(_, state) => Line::from(Span::styled(
                match state {
                    MoreState::Waiting => "    … more below",
                    MoreState::Loading => "    … loading more",
                    MoreState::Failed => "    … more could not be loaded (reopen to retry)",
                },
                Style::new().fg(Color::DarkGray),
            )),
            Row::Worker(w) => {
                let this = worker_ref(w);
                let is_selected = selected == Some(&this);
                let is_current = current.as_ref() == Some(&this);
                worker_line(w, is_current, is_selected)
            }
        })
        .collect()
}

fn runtime_line(r: &RuntimeSummary) -> Line<'static> {
    let (status, color) = match r.status {
        RuntimeStatus::Available => ("available", Color::Green),
        RuntimeStatus::Unavailable => ("unavailable", Color::Red),
    };
    let kind = format!("{:?}", r.kind).to_lowercase();
    Line::from(vec![
        Span::styled(
            format!("▾ {} ", r.runtime_id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{kind} · "), Style::new().fg(Color::DarkGray)),
        Span::styled(status, Style::new().fg(color)),
    ])
}

/// A worker of the picker: `◆` marks the one the console is attached to.
fn worker_line(w: &WorkerSummary, is_current: bool, is_selected: bool) -> Line<'static> {
    let mark = if is_current { "◆" } else { " " };
    let (status, color) = worker_status(w.status);
    // A worker that waits for a person stands out wherever the person is.
    let status = if w.status == WorkerStatus::WaitingApproval {
        "⏸ waits for you"
    } else {
        status
    };
    let base = if is_selected {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    };
    Line::from(vec![
        Span::styled(format!("  {mark} {}  ", w.display_ref), base),
        Span::styled(format!("{status}  "), base.fg(color)),
        Span::styled(w.profile.model.clone(), base.fg(Color::Magenta)),
    ])
}

/// A worker's status in words and colour, as the status bar and the picker show it.
fn worker_status(status: WorkerStatus) -> (&'static str, Color) {
    match status {
        WorkerStatus::Idle => ("idle", Color::Green),
        WorkerStatus::Running => ("running", Color::Yellow),
        WorkerStatus::WaitingApproval => ("waiting for approval", Color::Magenta),
        WorkerStatus::Stopped => ("stopped", Color::Red),
        WorkerStatus::Quarantined => ("quarantined", Color::Red),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
