//! The picker's forms, drawn over the console: the steps of a new worker
//! (runtime, profile, name), a rename, and the confirmation of a stop.

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::overlay_block;
use crate::app::App;
use crate::manage::Form;

pub fn render_form(frame: &mut Frame, area: Rect, app: &App) {
    let Some(form) = &app.form else {
        return;
    };
    let (title, lines, help) = content(form);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = area.centered(Constraint::Percentage(70), Constraint::Length(height));
    let block = overlay_block(title).title_bottom(
        Line::from(Span::styled(help, Style::new().fg(Color::DarkGray)))
            .alignment(Alignment::Right),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        popup,
    );
}

/// The form's title, lines and key hint.
fn content(form: &Form) -> (&'static str, Vec<Line<'static>>, &'static str) {
    match form {
        Form::Runtime { choices, selected } => (
            "new worker · runtime",
            choices
                .iter()
                .enumerate()
                .map(|(i, id)| choice(format!("{id}"), i == *selected, None))
                .collect(),
            " ↑↓ choose · Enter next · Esc back ",
        ),
        Form::Profile {
            runtime,
            choices,
            selected,
        } => {
            let mut lines = vec![Line::from(Span::styled(
                format!("in {runtime}"),
                Style::new().fg(Color::DarkGray),
            ))];
            lines.extend(choices.iter().enumerate().map(|(i, p)| {
                let mut about = p.model.clone();
                if !p.configured {
                    about.push_str(" · not configured");
                }
                if let Some(d) = &p.description {
                    about = format!("{about} · {d}");
                }
                choice(p.name.clone(), i == *selected, Some(about))
            }));
            (
                "new worker · profile",
                lines,
                " ↑↓ choose · Enter next · Esc back ",
            )
        }
        Form::Name {
            runtime, profile, ..
        } => (
            "new worker · name",
            vec![
                Line::from(Span::styled(
                    format!("a {profile} worker in {runtime}; empty: named {profile}"),
                    Style::new().fg(Color::DarkGray),
                )),
                field(form),
            ],
            " Enter start · Esc back ",
        ),
        Form::Rename { target, .. } => (
            "rename",
            vec![
                Line::from(Span::styled(
                    format!("worker {}", target.worker_id),
                    Style::new().fg(Color::DarkGray),
                )),
                field(form),
            ],
            " Enter rename · Esc back ",
        ),
        Form::ConfirmStop { display_ref, .. } => (
            "stop worker",
            vec![
                Line::from(format!("Stop {display_ref}?")),
                Line::from(Span::styled(
                    "Its run ends and it is gone for good.",
                    Style::new().fg(Color::DarkGray),
                )),
            ],
            " y stop · n keep ",
        ),
    }
}

fn choice(name: String, selected: bool, about: Option<String>) -> Line<'static> {
    let base = if selected {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    };
    let mut spans = vec![Span::styled(format!(" {name} "), base)];
    if let Some(about) = about.filter(|a| !a.is_empty()) {
        spans.push(Span::styled(
            format!("  {about}"),
            Style::new().fg(Color::Magenta),
        ));
    }
    Line::from(spans)
}

/// The text being typed, with a cursor.
fn field(form: &Form) -> Line<'static> {
    let text = match form {
        Form::Name { name, .. } | Form::Rename { name, .. } => name.clone(),
        _ => String::new(),
    };
    Line::from(vec![
        Span::styled("name: ", Style::new().fg(Color::Cyan)),
        Span::raw(text),
        Span::styled("▍", Style::new().fg(Color::Cyan)),
    ])
}
