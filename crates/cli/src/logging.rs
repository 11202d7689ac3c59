//! The node's log: one line per event, whatever its fields hold. A value a client chose (a client id
//! with a newline, a name with terminal escapes) could otherwise forge log lines or colour a terminal,
//! so every control character an event carries is written escaped (`\n`, `\x1b`), and the log itself
//! is never coloured.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Installs the log on standard output, filtered by `TESSERA_LOG` (default `info`).
pub(crate) fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(false)
        .with_writer(Escaping)
        .init();
}

/// Makes [`EscapingWriter`]s on standard output.
#[derive(Debug, Clone, Copy)]
struct Escaping;

impl<'a> MakeWriter<'a> for Escaping {
    type Writer = EscapingWriter<io::Stdout>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(io::stdout())
    }
}

/// Writes one formatted event (which ends with its newline) with every other control character escaped.
#[derive(Debug)]
struct EscapingWriter<W>(W);

/// `text` with control characters escaped, but for one final newline.
fn escape(text: &str) -> String {
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text, ""),
    };
    let mut out = String::with_capacity(text.len() + 8);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str(end);
    out
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(escape(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_line_ends_once() {
        assert_eq!(
            escape("token refused client=evil\nFORGED \u{1b}[31mred\n"),
            "token refused client=evil\\nFORGED \\x1b[31mred\n"
        );
        assert_eq!(escape("tab\there"), "tab\\there");
        assert_eq!(escape("plain\n"), "plain\n");
    }
}
