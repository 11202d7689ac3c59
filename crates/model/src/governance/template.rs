//! The Velocity subset ISC's `static` and `conditional` transforms use: `$name`, `${name}`, `$!name`, `$!{name}`.
//!
//! A reference to a variable the transform defines is replaced by the variable's value. As in Velocity, a
//! reference whose value is null is written out literally (`$name`) unless it is quiet (`$!name`), which writes
//! nothing; references to names the transform does not define are plain text. Directives (`#if`, `#set`),
//! escapes (`\$name`) and method calls are not supported and stay as text.

use std::borrow::Cow;

/// A parsed template: text runs and variable references, the latter by index into the transform's variables.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Var {
        index: usize,
        /// `$!name`: a null value writes nothing rather than the reference itself.
        quiet: bool,
        /// The reference as written, output when the value is null and the reference is not quiet.
        written: String,
    },
}

impl Template {
    /// Splits `source` into text and references, resolving names with `lookup` (name → variable index).
    pub(crate) fn parse(source: &str, lookup: impl Fn(&str) -> Option<usize>) -> Self {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            let after = &rest[dollar..];
            match reference(after).and_then(|found| lookup(found.name).map(|index| (found, index))) {
                Some((found, index)) => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    let written = after[..found.len].to_owned();
                    parts.push(Part::Var { index, quiet: found.quiet, written });
                    rest = &after[found.len..];
                }
                None => {
                    text.push('$');
                    rest = &after[1..];
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Self { parts }
    }

    /// The template as a constant, when it references no variables.
    pub(crate) fn as_constant(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Writes the template out, asking `value` for each referenced variable. Borrows when a single part allows.
    pub(crate) fn render<'s>(&'s self, mut value: impl FnMut(usize) -> Option<Cow<'s, str>>) -> Cow<'s, str> {
        let mut one = |part: &'s Part| -> Cow<'s, str> {
            match part {
                Part::Text(text) => Cow::Borrowed(text),
                Part::Var { index, quiet, written } => match value(*index) {
                    Some(found) => found,
                    None if *quiet => Cow::Borrowed(""),
                    None => Cow::Borrowed(written),
                },
            }
        };
        match self.parts.as_slice() {
            [only] => one(only),
            parts => {
                let mut out = String::new();
                for part in parts {
                    out.push_str(&one(part));
                }
                Cow::Owned(out)
            }
        }
    }
}

struct Reference<'t> {
    name: &'t str,
    quiet: bool,
    /// Bytes the reference takes in the source, from the `$` on.
    len: usize,
}

/// The reference starting at the `$` that begins `text`, if one is written there.
fn reference(text: &str) -> Option<Reference<'_>> {
    let mut at = 1;
    let quiet = text[at..].starts_with('!');
    if quiet {
        at += 1;
    }
    let braced = text[at..].starts_with('{');
    if braced {
        at += 1;
    }
    let name_len = identifier_len(&text[at..], braced);
    if name_len == 0 {
        return None;
    }
    let name = &text[at..at + name_len];
    at += name_len;
    if braced {
        if !text[at..].starts_with('}') {
            return None;
        }
        at += 1;
    }
    Some(Reference { name, quiet, len: at })
}

/// The length of the identifier (a letter or `_`, then letters, digits or `_`) starting `text`; inside braces a
/// `-` may follow the first character too.
///
/// Velocity 1.7 also took `-` in unbraced names, so `$dept-Contractor` looked up a variable `dept-Contractor`
/// and, finding none, came out literally; Velocity 2 stopped doing that and so do we: it reads `dept`.
fn identifier_len(text: &str, braced: bool) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphabetic() || *first == b'_' => {}
        _ => return 0,
    }
    let mut len = 1;
    while let Some(byte) = bytes.get(len) {
        if byte.is_ascii_alphanumeric() || *byte == b'_' || (braced && *byte == b'-') {
            len += 1;
        } else {
            break;
        }
    }
    len
}
