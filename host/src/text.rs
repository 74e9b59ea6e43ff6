//! Untrusted text on its way to a log line or a terminal: what a plugin says,
//! what an agent or an upstream service sends, names read from disk. Control
//! characters are escaped so nobody can forge a log line or drive a terminal
//! with escape sequences, and long text is clipped with a marker that says
//! how much was cut.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character escaped: `\n`, `\r` and `\t`-like
/// escapes for the common ones, `\u{…}` for the rest (ESC, DEL, C1 codes),
/// and the Unicode direction overrides that can make text read differently
/// than it is. Text without any comes back borrowed.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A tab is harmless on a line of its own; everything else that moves the
/// cursor, starts an escape sequence or flips the reading direction is not.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// At most `max` bytes of `s`, cut on a character boundary; when cut, a
/// marker saying how many bytes were left out is appended.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let end = s.floor_char_boundary(max);
    Cow::Owned(format!("{}… ({} more bytes cut)", &s[..end], s.len() - end))
}

/// [`clip`] in place, for owned strings.
pub fn clip_owned(s: &mut String, max: usize) {
    if s.len() > max {
        let clipped = clip(s, max).into_owned();
        *s = clipped;
    }
}

/// [`has_text`] as the OpenAPI document's `pattern` says it.
pub const HAS_TEXT_PATTERN: &str = r"[^ \t\n\r\x0b\x0c]";

/// Whether `s` has a character other than an ASCII space, tab or line
/// break: the JSON Schema pattern [`HAS_TEXT_PATTERN`], which means the same
/// in every regular-expression dialect (`\S` does not).
pub fn has_text(s: &str) -> bool {
    s.chars()
        .any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// An error and its sources, each once, joined with `: ` — libraries often
/// put the useful part (connection refused, certificate rejected) only in a
/// source.
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// [`escape_control`] then [`clip`]: what to put on one log or terminal line.
pub fn one_line(s: &str, max: usize) -> String {
    clip(&escape_control(s), max).into_owned()
}

/// An error and its context on one line (line breaks become spaces), with
/// control characters escaped: what `plugin ls`, the API and the log show
/// of a failure whose text may come from a plugin's files.
pub fn error_line(e: &anyhow::Error) -> String {
    escape_control(&format!("{e:#}").replace('\n', " ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(escape_control("plain text\tok"), Cow::Borrowed(_)));
        assert_eq!(
            escape_control("a\nforged line\rover\x1b[31mred\x7f"),
            "a\\nforged line\\rover\\u{1b}[31mred\\u{7f}"
        );
        assert_eq!(escape_control("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(escape_control("\u{9b}"), "\\u{9b}");
    }

    #[test]
    fn clipping_keeps_characters_whole_and_says_what_was_cut() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdef", 3), "abc… (3 more bytes cut)");
        // 'é' is two bytes: never cut in half.
        assert_eq!(clip("éé", 3), "é… (2 more bytes cut)");
        let mut s = "x".repeat(100);
        clip_owned(&mut s, 10);
        assert!(s.starts_with("xxxxxxxxxx…") && s.ends_with("(90 more bytes cut)"));
        assert_eq!(one_line("a\nb", 100), "a\\nb");
    }

    #[test]
    fn an_error_chain_is_one_escaped_line() {
        let e = anyhow::anyhow!("bad \x1b[2Jname\nsecond line").context("loading p");
        assert_eq!(error_line(&e), "loading p: bad \\u{1b}[2Jname second line");
    }
}
