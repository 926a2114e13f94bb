//! Outside strings in log lines and CLI output, made harmless. Pure, but for [`init_tracing`], which
//! installs the log subscriber the binaries write through [`Lines`].
//!
//! Anything that came from outside (Service Bus message ids and properties, Event Grid fields, ARM
//! bodies and error messages, HTTP headers, tag values) is written through [`q`]: quoted, with
//! newlines, ESC and every other character Rust's `Debug` escaping does not print (controls, format
//! characters such as zero-width spaces, bidi overrides and BOMs, line separators) escaped, and cut at
//! [`MAX_CHARS`]. So such a value can never end a line, start one, or hide text: every line begins with
//! our own words, and the `mpe.audit {` / `mpe.outcome` lines cannot be forged. [`scrub`] is the last
//! guard on whole lines we compose; [`json`] writes JSON whose strings carry no such character raw.

use std::fmt;

/// Characters of an outside value written at most; the rest is counted, not shown.
pub const MAX_CHARS: usize = 256;

/// An outside value as it appears in a log line: `"..."`, escaped and bounded (see the module).
/// Width and alignment (`{:<36}`) apply to the quoted text.
#[derive(Clone, Copy)]
pub struct Quoted<'a> {
    value: &'a str,
    max: usize,
}

/// Quote an outside value for a log line or a terminal, at most [`MAX_CHARS`] characters of it.
pub fn q(value: &str) -> Quoted<'_> {
    Quoted { value, max: MAX_CHARS }
}

/// [`q`], at most `max` characters (a table column).
pub fn q_max(value: &str, max: usize) -> Quoted<'_> {
    Quoted { value, max }
}

impl Quoted<'_> {
    fn render(&self) -> String {
        let (shown, rest) = match self.value.char_indices().nth(self.max) {
            Some((i, _)) => (&self.value[..i], self.value[i..].chars().count()),
            None => (self.value, 0),
        };
        let mut s = format!("{shown:?}");
        if rest > 0 {
            s.push_str(&format!("...({rest} more characters)"));
        }
        s
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printable ASCII but `"` and `\`, within the bound and without width or precision: written
        // as it is between quotes, which is what `render` gives for it.
        let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
        if f.width().is_none()
            && f.precision().is_none()
            && self.value.len() <= self.max
            && self.value.bytes().all(plain)
        {
            f.write_str("\"")?;
            f.write_str(self.value)?;
            return f.write_str("\"");
        }
        f.pad(&self.render())
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether `c` is written as itself by `Debug` escaping (quotes and backslashes count as printable:
/// only the string around them escapes them).
fn printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    c.escape_debug().len() == 1
}

/// A line we composed, with any character [`printable`] refuses written as its escape (`\n`,
/// `\u{1b}`, ...); quotes, backslashes and everything printable stay as they are.
pub fn scrub(line: &str) -> std::borrow::Cow<'_, str> {
    if line.chars().all(printable) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut s = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if printable(c) {
            s.push(c);
        } else {
            s.extend(c.escape_debug());
        }
    }
    std::borrow::Cow::Owned(s)
}

/// `value` as JSON (`pretty` or one line) whose bytes hold no character [`printable`] refuses: serde
/// escapes the C0 controls; DEL, C1 controls, format characters and line separators are written as
/// `\uXXXX` escapes too. The decoded values are unchanged.
pub fn json<T: serde::Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<String> {
    let text = if pretty { serde_json::to_string_pretty(value)? } else { serde_json::to_string(value)? };
    // Outside strings serde writes no raw control character, so a raw `\n` is pretty-printing's own.
    if text.chars().all(|c| c == '\n' || printable(c)) {
        return Ok(text);
    }
    let mut s = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\n' || printable(c) {
            s.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                s.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    Ok(s)
}

/// A writer for the log subscriber: each line written through it is [`scrub`]bed, its final newline
/// kept, so no event (a field, a span's fields, a message) can break a line or send escapes to a
/// terminal, whatever it holds. The subscriber writes each event with one `write_all`.
pub struct Lines<W>(pub W);

impl<W: std::io::Write> std::io::Write for Lines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        self.0.write_all(format!("{}{end}", scrub(body)).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Install the log subscriber of a binary: RUST_LOG's filter (else `default_filter`), text lines or JSON
/// lines (`json`, what `MPE_LOG_FORMAT=json` asks for), each through [`Lines`], to stdout (`serve`, under
/// the Functions host, which captures it) or to stderr (the CLI commands and the demo, whose stdout is
/// their result).
pub fn init_tracing(default_filter: &str, json: bool, to_stdout: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match (json, to_stdout) {
        (true, true) => {
            builder.json().flatten_event(true).with_current_span(true).with_writer(|| Lines(std::io::stdout())).init()
        }
        (true, false) => {
            builder.json().flatten_event(true).with_current_span(true).with_writer(|| Lines(std::io::stderr())).init()
        }
        (false, true) => builder.with_writer(|| Lines(std::io::stdout())).init(),
        (false, false) => builder.with_writer(|| Lines(std::io::stderr())).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "m-1\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J\r\u{7f}\u{9b}\u{200b}\u{feff}\u{202e}\u{2028}";

    #[test]
    fn outside_values_are_quoted_escaped_and_bounded() {
        let shown = q(HOSTILE).to_string();
        assert!(shown.starts_with('"') && shown.ends_with('"'), "{shown}");
        assert!(shown.chars().all(|c| (' '..='~').contains(&c)), "only printable ASCII here: {shown}");
        for escaped in
            [r"\n", r"\u{1b}", r"\r", r"\u{7f}", r"\u{9b}", r"\u{200b}", r"\u{feff}", r"\u{202e}", r"\u{2028}"]
        {
            assert!(shown.contains(escaped), "{escaped} in {shown}");
        }
        assert!(shown.contains(r#"mpe.audit {\"outcome\""#), "quotes inside are escaped: {shown}");
        let long = "x".repeat(1000);
        assert_eq!(q(&long).to_string(), format!("\"{}\"...(744 more characters)", "x".repeat(256)));
        assert_eq!(q_max("abcdef", 3).to_string(), "\"abc\"...(3 more characters)");
        assert_eq!(format!("{:<8}|", q("ab")), "\"ab\"    |");
        assert_eq!(q("plain-id").to_string(), "\"plain-id\"");
        // Non-ASCII that prints stays readable.
        assert_eq!(q("Zürich").to_string(), "\"Zürich\"");
    }

    #[test]
    fn ascii_is_printable_from_space_to_tilde_as_debug_escaping_says() {
        for c in (0u8..=0x7f).map(char::from) {
            assert_eq!(printable(c), matches!(c, '"' | '\'' | '\\') || c.escape_debug().len() == 1, "{c:?}");
        }
    }

    #[test]
    fn plain_ascii_is_quoted_as_debug_escaping_quotes_it() {
        for value in ["", "plain-id", "a'b", "a\"b", "a\\b", "tab\there", "x".repeat(300).as_str(), "Zürich"] {
            assert_eq!(q(value).to_string(), q(value).render(), "{value:?}");
            assert_eq!(q_max(value, 4).to_string(), q_max(value, 4).render(), "{value:?}");
            assert_eq!(format!("{:>12.6}|", q(value)), format!("{:>12.6}|", q(value).render()), "{value:?}");
        }
        assert_eq!(q("plain-id").to_string(), format!("{:?}", "plain-id"));
    }

    #[test]
    fn scrub_escapes_what_does_not_print_and_keeps_the_rest() {
        assert_eq!(scrub("INFO: mpe.audit {\"a\":\"b\\c\"}"), "INFO: mpe.audit {\"a\":\"b\\c\"}");
        assert_eq!(scrub("a\nb\u{1b}[2J\u{200b}"), "a\\nb\\u{1b}[2J\\u{200b}");
    }

    #[test]
    fn lines_keep_one_newline_per_write() {
        use std::io::Write;
        let mut w = Lines(Vec::new());
        w.write_all(b"INFO event{id=a\nmpe.audit {}}: x\x1b[2J\n").unwrap();
        assert_eq!(String::from_utf8(w.0).unwrap(), "INFO event{id=a\\nmpe.audit {}}: x\\u{1b}[2J\n");
    }

    #[test]
    fn json_escapes_every_unprintable_character_and_decodes_the_same() {
        let v = serde_json::json!({"id": HOSTILE, "n": [1, 2]});
        for pretty in [false, true] {
            let text = json(&v, pretty).unwrap();
            assert!(text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)), "{text}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        }
        assert_eq!(
            json(&serde_json::json!({"e": "\u{1F600}\u{200b}"}), false).unwrap(),
            "{\"e\":\"\u{1F600}\\u200b\"}"
        );
    }
}
