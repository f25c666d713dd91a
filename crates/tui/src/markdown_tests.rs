use super::*;

fn kinds(lines: &[MdLine]) -> Vec<&LineKind> {
    lines.iter().map(|l| &l.kind).collect()
}

#[test]
fn emphasis_strong_code_and_strikethrough_are_marked() {
    let lines = to_lines("Some *soft*, **loud**, `code` and ~~gone~~ words", false);
    assert_eq!(lines.len(), 1);
    let pieces = &lines[0].pieces;
    let marked = |text: &str| pieces.iter().find(|p| p.text == text).map(|p| p.marks);
    assert!(marked("soft").is_some_and(|m| m.emphasis));
    assert!(marked("loud").is_some_and(|m| m.strong));
    assert!(marked("code").is_some_and(|m| m.code));
    assert!(marked("gone").is_some_and(|m| m.strike));
    assert_eq!(lines[0].plain(), "Some soft, loud, code and gone words");
}

#[test]
fn headings_paragraphs_and_rules_are_separate_blocks() {
    let lines = to_lines("# Title\nfirst\nline\n\n---\n\nsecond", false);
    assert_eq!(
        kinds(&lines),
        [
            &LineKind::Heading(1),
            &LineKind::Blank,
            &LineKind::Prose,
            &LineKind::Blank,
            &LineKind::Rule,
            &LineKind::Blank,
            &LineKind::Prose
        ]
    );
    assert_eq!(lines[2].plain(), "first line", "a soft break is a space");
}

#[test]
fn lists_nest_number_and_mark_tasks() {
    let lines = to_lines(
        "- one\n  - inner\n- two\n\n3. c\n4. d\n\n- [x] done\n- [ ] todo",
        false,
    );
    let items: Vec<(String, usize, String)> = lines
        .iter()
        .filter(|l| l.kind == LineKind::Prose)
        .map(|l| (l.marker.clone(), l.indent, l.plain()))
        .collect();
    assert_eq!(
        items,
        [
            ("• ".into(), 0, "one".into()),
            ("• ".into(), 3, "inner".into()),
            ("• ".into(), 0, "two".into()),
            ("3. ".into(), 0, "c".into()),
            ("4. ".into(), 0, "d".into()),
            ("• ".into(), 0, "[x] done".into()),
            ("• ".into(), 0, "[ ] todo".into()),
        ]
    );
}

#[test]
fn links_show_their_text_and_address() {
    let lines = to_lines(
        "See [the docs](https://example.com/docs) or <https://example.com>.",
        false,
    );
    assert_eq!(
        lines[0].plain(),
        "See the docs (https://example.com/docs) or https://example.com."
    );
    assert!(lines[0]
        .pieces
        .iter()
        .any(|p| p.text == "the docs" && p.marks.link));
}

#[test]
fn tables_keep_their_rows_and_head() {
    let lines = to_lines("| a | b |\n|---|---|\n| 1 | **2** |\n| 3 | 4 |", false);
    assert_eq!(
        kinds(&lines),
        [&LineKind::Table {
            rows: vec![
                vec!["a".into(), "b".into()],
                vec!["1".into(), "2".into()],
                vec!["3".into(), "4".into()]
            ],
            header: 1
        }]
    );
}

#[test]
fn fenced_code_keeps_its_lines_and_language() {
    let text = "Try:\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\nDone.";
    let lines = to_lines(text, false);
    assert_eq!(
        kinds(&lines),
        [
            &LineKind::Prose,
            &LineKind::Blank,
            &LineKind::CodeStart("rust".into()),
            &LineKind::Code("fn main() {".into()),
            &LineKind::Code("    println!(\"hi\");".into()),
            &LineKind::Code("}".into()),
            &LineKind::CodeEnd,
            &LineKind::Blank,
            &LineKind::Prose,
        ]
    );
}

#[test]
fn an_unclosed_fence_while_streaming_is_code_to_the_end_with_an_open_frame() {
    let lines = to_lines("See:\n~~~~\nls -l\n```\nstill code", true);
    assert_eq!(
        kinds(&lines)[2..],
        [
            &LineKind::CodeStart(String::new()),
            &LineKind::Code("ls -l".into()),
            &LineKind::Code("```".into()),
            &LineKind::Code("still code".into()),
        ]
    );
    let done = to_lines("See:\n~~~~\nls -l", false);
    assert_eq!(done.last().map(|l| &l.kind), Some(&LineKind::CodeEnd));
}

#[test]
fn raw_html_is_shown_as_text() {
    let lines = to_lines("a <b>bold</b> claim\n\n<script>alert(1)</script>", false);
    let all: String = lines
        .iter()
        .map(MdLine::plain)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("<b>bold</b>"), "{all}");
    assert!(all.contains("<script>alert(1)</script>"), "{all}");
}

#[test]
fn quotes_are_nested() {
    let lines = to_lines("> quoted\n>> deeper", false);
    let quoted: Vec<(usize, String)> = lines
        .iter()
        .filter(|l| l.kind == LineKind::Prose)
        .map(|l| (l.quote, l.plain()))
        .collect();
    assert_eq!(quoted, [(1, "quoted".into()), (2, "deeper".into())]);
}
