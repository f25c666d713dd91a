//! The search overlay: the prompt, the hits with their matches marked (from
//! the answer's offsets, as styled spans), or the chosen hit in its
//! conversation with the message highlighted.

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use yoi_protocol::{Role, SearchHit};

use super::overlay_block;
use crate::app::App;
use crate::search::{Context, Search};

pub(super) fn render_search(frame: &mut Frame, area: Rect, app: &App) {
    let Some(search) = app.search.as_ref() else {
        return;
    };
    let height = (area.height as u32 * 8 / 10) as u16;
    let popup = area.centered(
        Constraint::Percentage(85),
        Constraint::Length(height.max(5)),
    );
    let hint = if search.context.is_some() {
        " Enter open this conversation · Esc back to the hits "
    } else {
        " type words · Enter search, then ↑↓ and Enter show a hit · Esc close "
    };
    let block = overlay_block("search").title_bottom(
        Line::from(Span::styled(hint, Style::new().fg(Color::DarkGray)))
            .alignment(Alignment::Right),
    );
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    let lines = match &search.context {
        Some(context) => context_lines(context),
        None => hit_lines(search, inner.height as usize),
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn hit_lines(search: &Search, height: usize) -> Vec<Line<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    let mut lines = vec![Line::from(vec![
        Span::styled("/ ", Style::new().fg(Color::Cyan)),
        Span::raw(search.query.clone()),
        Span::styled("▏", Style::new().fg(Color::Cyan)),
    ])];
    let status = if search.busy {
        "searching…".to_owned()
    } else if let Some(error) = &search.error {
        error.clone()
    } else if search.searched.is_some() {
        let mut s = match search.hits.len() {
            0 => "nothing found".to_owned(),
            1 => "1 message".to_owned(),
            n => format!("{n} messages"),
        };
        if !search.missing.is_empty() {
            s.push_str(&format!(
                " · not searched (unavailable): {}",
                search.missing.join(", ")
            ));
        }
        s
    } else {
        String::new()
    };
    lines.push(Line::from(Span::styled(status, dim)));
    let room = height.saturating_sub(2).max(1);
    let first = (search.selected + 1).saturating_sub(room);
    for (i, hit) in search.hits.iter().enumerate().skip(first).take(room) {
        lines.push(hit_line(hit, i == search.selected));
    }
    lines
}

fn hit_line(hit: &SearchHit, selected: bool) -> Line<'static> {
    let base = if selected {
        Style::new().bg(Color::DarkGray)
    } else {
        Style::new()
    };
    let mark = base.fg(Color::Yellow).add_modifier(Modifier::BOLD);
    let who = match hit.role {
        Role::User => "you",
        Role::Assistant => "answer",
    };
    let mut spans = vec![
        Span::styled(if selected { "› " } else { "  " }, base),
        Span::styled(
            format!("{}@{} ", hit.display_name, hit.runtime_id),
            base.fg(Color::Cyan),
        ),
        Span::styled(format!("{who}: "), base.fg(Color::Gray)),
    ];
    let text = &hit.snippet.text;
    let mut at = 0;
    for range in hit.snippet.byte_ranges() {
        if range.start < at || range.end > text.len() {
            continue;
        }
        spans.push(Span::styled(text[at..range.start].to_owned(), base));
        spans.push(Span::styled(text[range.clone()].to_owned(), mark));
        at = range.end;
    }
    spans.push(Span::styled(text[at..].to_owned(), base));
    Line::from(spans)
}

fn context_lines(context: &Context) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{}@{} · the message in its conversation",
            context.hit.display_name, context.hit.runtime_id
        ),
        Style::new().fg(Color::Cyan),
    ))];
    let Some(messages) = &context.messages else {
        lines.push(Line::from(Span::styled(
            "loading…",
            Style::new().fg(Color::DarkGray),
        )));
        return lines;
    };
    for m in messages {
        let hit = context.is_hit(&m.id);
        let style = if hit {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let who = match m.role {
            Role::User => "You",
            Role::Assistant => "Answer",
        };
        let marker = if hit { "▶ " } else { "  " };
        let text = m.text.replace('\n', " ");
        lines.push(Line::from(vec![
            Span::styled(format!("{marker}{who}: "), style.fg(Color::Gray)),
            Span::styled(text, style),
        ]));
    }
    lines
}
