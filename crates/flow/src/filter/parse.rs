//! The filter parser: recursive descent over the text into the tree [`super`] declares.
//!
//! ```text
//! filter    = ws path ws END                       (the path starts with `$`)
//! path      = ('$' | '@') segment* ['.' function '(' ')']
//! segment   = '.' name | '.*' | '..' (name | '*' | bracket) | bracket
//! bracket   = '[' ( '*' | quoted {',' quoted} | index {',' index} | [index] ':' [index]
//!                 | '?(' or ')' ) ']'
//! or        = and {'||' and}
//! and       = unary {'&&' unary}
//! unary     = '!' unary | '(' or ')' | relation
//! relation  = operand [operator operand]         (no operator: a path's existence)
//! operand   = path | literal | '/' regex '/' [flags]
//! literal   = string | number | true | false | null | '[' … ']' | '{' … '}'
//! ```

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Number, Value};

use super::{Expr, FilterError, Function, Op, Operand, Path, Segment, Selector, Start};

/// How deeply parentheses, `!`, filters inside filters and array literals may nest: deeper than
/// any real filter, shallow enough that the recursion below never threatens the stack.
const MAX_DEPTH: usize = 48;

/// What may stand where a comparison operand goes.
const OPERAND: &str = "a value: a path (`@.x` or `$.x`), a string, a number, true, false, null, an array or a /regex/";

/// What may stand inside an array or object literal.
const ITEM: &str = "a literal: a string, a number, true, false, null, an array or an object";

/// Compiles a whole filter: a path from `$`, nothing after it.
pub(super) fn filter(text: &str) -> Result<Path, FilterError> {
    let mut parser = Parser { text, pos: 0, depth: 0 };
    parser.skip_ws();
    if !parser.eat('$') {
        return Err(parser.expected("a path starting with `$`"));
    }
    let path = parser.path(Start::Root)?;
    parser.skip_ws();
    if !parser.at_end() {
        let expected =
            if path.function.is_some() { "the end of the filter" } else { "`.`, `[` or the end of the filter" };
        return Err(parser.expected(expected));
    }
    Ok(path)
}

struct Parser<'t> {
    text: &'t str,
    /// A byte offset into `text`, always on a character boundary.
    pos: usize,
    depth: usize,
}

type Parsed<T> = Result<T, FilterError>;

impl Parser<'_> {
    // -----------------------------------------------------------------------------------------
    // Paths

    /// The rest of a path whose `$` or `@` has been read.
    fn path(&mut self, start: Start) -> Parsed<Path> {
        let mut segments = Vec::new();
        loop {
            match (self.peek(), self.peek_second()) {
                (Some('.'), Some('.')) => {
                    self.pos += 2;
                    let selector = match self.peek() {
                        Some('[') => self.bracket()?,
                        Some('*') => {
                            self.pos += 1;
                            Selector::Wildcard
                        }
                        _ => Selector::Names(vec![self.name("a member name, `*` or `[` after `..`")?]),
                    };
                    segments.push(Segment::Descendant(selector));
                }
                (Some('.'), _) => {
                    self.pos += 1;
                    if self.eat('*') {
                        segments.push(Segment::Child(Selector::Wildcard));
                        continue;
                    }
                    let name_at = self.pos;
                    let name = self.name("a member name or `*` after `.`")?;
                    if self.peek() == Some('(') {
                        let function = self.function(&name, name_at)?;
                        return Ok(Path { start, segments, function: Some(function) });
                    }
                    segments.push(Segment::Child(Selector::Names(vec![name])));
                }
                (Some('['), _) => segments.push(Segment::Child(self.bracket()?)),
                _ => return Ok(Path { start, segments, function: None }),
            }
        }
    }

    /// `name()` at the end of a path; the name has been read and `(` is next.
    fn function(&mut self, name: &str, name_at: usize) -> Parsed<Function> {
        let Some(function) = Function::named(name) else {
            return Err(self.error_at(name_at, &format!("a function: {}", Function::NAMES), format!("`{name}()`")));
        };
        self.pos += 1;
        self.skip_ws();
        if !self.eat(')') {
            return Err(self.expected(&format!("`)`: `{name}()` takes no arguments")));
        }
        if matches!(self.peek(), Some('.' | '[')) {
            return Err(self.expected(&format!("the end of the path after `{name}()`")));
        }
        Ok(function)
    }

    /// A member name in dot notation: up to the next character that cannot be part of one.
    fn name(&mut self, expected: &str) -> Parsed<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        if self.pos == start {
            return Err(self.expected(expected));
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    /// `[…]`: names, indices, a slice, `*` or a filter.
    fn bracket(&mut self) -> Parsed<Selector> {
        let open = self.pos;
        self.pos += 1;
        self.skip_ws();
        let selector = match self.peek() {
            Some('?') => {
                self.pos += 1;
                self.skip_ws();
                let paren = self.pos;
                if !self.eat('(') {
                    return Err(self.expected("`(` after `[?`: a filter is written `[?(…)]`"));
                }
                let expr = self.nested(Self::or)?;
                self.skip_ws();
                if !self.eat(')') {
                    let expected =
                        format!("`&&`, `||` or `)` to close the filter opened at character {}", self.column(paren));
                    return Err(self.expected(&expected));
                }
                Selector::Filter(Box::new(expr))
            }
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some(quote @ ('\'' | '"')) => {
                let mut names = vec![self.string(quote)?];
                while self.skip_ws().eat(',') {
                    self.skip_ws();
                    match self.peek() {
                        Some(quote @ ('\'' | '"')) => names.push(self.string(quote)?),
                        _ => return Err(self.expected("a quoted member name after `,`")),
                    }
                }
                Selector::Names(names)
            }
            Some(c) if c == '-' || c == ':' || c.is_ascii_digit() => self.indices()?,
            _ => return Err(self.expected("a quoted member name, an index, a slice, `*` or `?(` after `[`")),
        };
        self.skip_ws();
        if !self.eat(']') {
            return Err(self.expected(&format!("`]` to close the `[` at character {}", self.column(open))));
        }
        Ok(selector)
    }

    /// `[0]`, `[-1]`, `[0, 2]`, `[1:3]`, `[:2]`, `[-2:]`.
    fn indices(&mut self) -> Parsed<Selector> {
        let first = if self.peek() == Some(':') { None } else { Some(self.integer()?) };
        if self.skip_ws().eat(':') {
            self.skip_ws();
            let end = if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
                Some(self.integer()?)
            } else {
                None
            };
            return Ok(Selector::Slice { start: first, end });
        }
        let mut indices = Vec::from_iter(first);
        while self.skip_ws().eat(',') {
            self.skip_ws();
            indices.push(self.integer()?);
        }
        Ok(Selector::Indices(indices))
    }

    fn integer(&mut self) -> Parsed<i64> {
        let start = self.pos;
        self.eat('-');
        if self.digits() == 0 {
            return Err(self.expected("an index (an integer)"));
        }
        let text = &self.text[start..self.pos];
        text.parse().map_err(|_| self.error_at(start, "an index that fits in 64 bits", format!("`{text}`")))
    }

    // -----------------------------------------------------------------------------------------
    // Expressions

    fn or(&mut self) -> Parsed<Expr> {
        let mut terms = vec![self.and()?];
        while self.skip_ws().eat_str("||") {
            terms.push(self.and()?);
        }
        Ok(collapse(terms, Expr::Or))
    }

    fn and(&mut self) -> Parsed<Expr> {
        let mut terms = vec![self.unary()?];
        while self.skip_ws().eat_str("&&") {
            terms.push(self.unary()?);
        }
        Ok(collapse(terms, Expr::And))
    }

    fn unary(&mut self) -> Parsed<Expr> {
        self.skip_ws();
        match self.peek() {
            Some('!') if self.peek_second() != Some('=') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.nested(Self::unary)?)))
            }
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                let expr = self.nested(Self::or)?;
                self.skip_ws();
                if !self.eat(')') {
                    let expected = format!("`&&`, `||` or `)` to close the `(` at character {}", self.column(open));
                    return Err(self.expected(&expected));
                }
                Ok(expr)
            }
            _ => self.relation(),
        }
    }

    /// `operand operator operand`, or a path alone (it exists).
    fn relation(&mut self) -> Parsed<Expr> {
        let (left, left_span) = self.operand()?;
        self.skip_ws();
        let op_at = self.pos;
        let Some(op) = self.operator()? else {
            return match left {
                Operand::Path(path) => Ok(Expr::Exists(path)),
                _ => Err(self.expected(&format!("{} after `{}`", Op::NAMES, self.slice(left_span)))),
            };
        };
        self.skip_ws();
        let (right, right_span) = self.operand()?;
        self.check(op, op_at, &left, (&right, right_span))?;
        Ok(Expr::Compare { left, op, right })
    }

    /// The operator next, or `None` where the relation ends (`)`, `&&`, `||`).
    fn operator(&mut self) -> Parsed<Option<Op>> {
        let rest = &self.text[self.pos..];
        let (len, op) = match self.peek() {
            None | Some(')' | '&' | '|') => return Ok(None),
            Some('=' | '!' | '<' | '>' | '~') => {
                let len = rest.find(|c| !matches!(c, '=' | '!' | '<' | '>' | '~')).unwrap_or(rest.len());
                (len, Op::symbolic(&rest[..len]))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
                (len, Op::word(&rest[..len]))
            }
            Some(_) => return Err(self.expected(&format!("{}, `&&`, `||` or `)`", Op::NAMES))),
        };
        match op {
            Some(op) => {
                self.pos += len;
                Ok(Some(op))
            }
            None => Err(self.error_at(self.pos, Op::NAMES, format!("`{}`", &rest[..len]))),
        }
    }

    /// An operand and the byte span it was read from.
    fn operand(&mut self) -> Parsed<(Operand, (usize, usize))> {
        self.skip_ws();
        let start = self.pos;
        let operand = match self.peek() {
            Some('@') => {
                self.pos += 1;
                Operand::Path(self.path(Start::Current)?)
            }
            Some('$') => {
                self.pos += 1;
                Operand::Path(self.path(Start::Root)?)
            }
            Some('/') => Operand::Regex(self.regex()?),
            _ => Operand::Literal(self.literal(OPERAND)?),
        };
        Ok((operand, (start, self.pos)))
    }

    /// Operand types the operator can never accept, refused now rather than false on every event.
    fn check(
        &self,
        op: Op,
        op_at: usize,
        left: &Operand,
        (right, right_span): (&Operand, (usize, usize)),
    ) -> Parsed<()> {
        let left_regex = matches!(left, Operand::Regex(_));
        let right_regex = matches!(right, Operand::Regex(_));
        let symbol = op.symbol();
        let wanted = match op {
            Op::Matches if left_regex && right_regex => Some((right_span, "a string or a path, not a second regex")),
            Op::Matches if !left_regex && !right_regex => {
                Some((right_span, "a regex literal such as /.*Admin.*/ (`=~` matches a regex)"))
            }
            Op::Matches => None,
            _ if left_regex || right_regex => {
                return Err(self.error_at(op_at, "`=~` before a regex literal", format!("`{symbol}`")));
            }
            Op::In | Op::Nin | Op::SubsetOf | Op::AnyOf | Op::NoneOf | Op::All if matches!(right, Operand::Literal(v) if !v.is_array()) => {
                Some((right_span, "an array such as ['a', 'b']"))
            }
            Op::Size if matches!(right, Operand::Literal(v) if !v.is_number()) => Some((right_span, "a number")),
            Op::Empty if matches!(right, Operand::Literal(v) if !v.is_boolean()) => Some((right_span, "true or false")),
            _ => None,
        };
        match wanted {
            Some((span, wanted)) => {
                Err(self.error_at(span.0, &format!("{wanted} after `{symbol}`"), format!("`{}`", self.slice(span))))
            }
            None => Ok(()),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Literals

    /// A string, number, boolean, null, or a JSON array or object written with either quote.
    fn literal(&mut self, expected: &str) -> Parsed<Value> {
        match self.peek() {
            Some(quote @ ('\'' | '"')) => Ok(Value::String(self.string(quote)?)),
            Some('[') => self.nested(Self::array),
            Some('{') => self.nested(Self::object),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let rest = &self.text[self.pos..];
                let len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
                let value = match &rest[..len] {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => return Err(self.expected(expected)),
                };
                self.pos += len;
                Ok(value)
            }
            _ => Err(self.expected(expected)),
        }
    }

    fn array(&mut self) -> Parsed<Value> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        if self.skip_ws().eat(']') {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.literal(ITEM)?);
            if self.skip_ws().eat(',') {
                continue;
            }
            if self.eat(']') {
                return Ok(Value::Array(items));
            }
            return Err(self.expected(&format!("`,` or `]` to close the array at character {}", self.column(open))));
        }
    }

    fn object(&mut self) -> Parsed<Value> {
        let open = self.pos;
        self.pos += 1;
        let mut members = Map::new();
        if self.skip_ws().eat('}') {
            return Ok(Value::Object(members));
        }
        loop {
            let key = match self.skip_ws().peek() {
                Some(quote @ ('\'' | '"')) => self.string(quote)?,
                _ => return Err(self.expected("a quoted member name")),
            };
            if !self.skip_ws().eat(':') {
                return Err(self.expected("`:` after the member name"));
            }
            self.skip_ws();
            members.insert(key, self.literal(ITEM)?);
            if self.skip_ws().eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(Value::Object(members));
            }
            return Err(self.expected(&format!("`,` or `}}` to close the object at character {}", self.column(open))));
        }
    }

    /// A quoted string, `quote` next; backslash escapes as in JSON, plus `\'`.
    fn string(&mut self, quote: char) -> Parsed<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => {
                    let expected = format!("`{quote}` to close the string at character {}", self.column(open));
                    return Err(self.error_at(at, &expected, "the end of the filter".into()));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => out.push(self.escape(at)?),
                Some(c) => out.push(c),
            }
        }
    }

    /// The character a backslash escape stands for; the backslash at `at` has been read.
    fn escape(&mut self, at: usize) -> Parsed<char> {
        let escaped = match self.bump() {
            Some(c @ ('\\' | '\'' | '"' | '/')) => c,
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('u') => {
                let high = self.hex4(at)?;
                let mut code = high;
                // A character beyond the BMP is written as a surrogate pair, as in JSON.
                if (0xD800..0xDC00).contains(&high) && self.eat_str("\\u") {
                    let low = self.hex4(at)?;
                    if (0xDC00..0xE000).contains(&low) {
                        code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    }
                }
                return char::from_u32(code).ok_or_else(|| {
                    self.error_at(at, "a \\u escape naming a character", format!("`{}`", &self.text[at..self.pos]))
                });
            }
            _ => {
                let end = self.pos.min(self.text.len());
                let found = format!("`{}`", &self.text[at..end]);
                return Err(self.error_at(at, "an escape: \\\\ \\' \\\" \\/ \\n \\t \\r \\b \\f or \\uXXXX", found));
            }
        };
        Ok(escaped)
    }

    fn hex4(&mut self, at: usize) -> Parsed<u32> {
        let digits = self.text[self.pos..].get(..4).filter(|d| d.chars().all(|c| c.is_ascii_hexdigit()));
        let Some(value) = digits.and_then(|d| u32::from_str_radix(d, 16).ok()) else {
            return Err(self.error_at(at, "four hex digits after \\u", self.found_here()));
        };
        self.pos += 4;
        Ok(value)
    }

    /// `-?digits[.digits][(e|E)[+-]digits]`.
    fn number(&mut self) -> Parsed<Value> {
        let start = self.pos;
        self.eat('-');
        if self.digits() == 0 {
            return Err(self.expected("a digit"));
        }
        let mut integer = true;
        if self.eat('.') {
            integer = false;
            if self.digits() == 0 {
                return Err(self.expected("a digit after the decimal point"));
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            integer = false;
            self.pos += 1;
            if !self.eat('+') {
                self.eat('-');
            }
            if self.digits() == 0 {
                return Err(self.expected("a digit in the exponent"));
            }
        }
        let text = &self.text[start..self.pos];
        let number = if integer {
            text.parse::<i64>().ok().map(Number::from).or_else(|| text.parse::<u64>().ok().map(Number::from))
        } else {
            None
        };
        number
            .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
            .map(Value::Number)
            .ok_or_else(|| self.error_at(start, "a number a 64-bit float can hold", format!("`{text}`")))
    }

    /// `/pattern/flags`, matched against the whole string as Jayway's `matcher().matches()` does.
    fn regex(&mut self) -> Parsed<Regex> {
        let open = self.pos;
        self.pos += 1;
        let mut pattern = String::new();
        loop {
            match self.bump() {
                None => {
                    let expected = format!("`/` to close the regex at character {}", self.column(open));
                    return Err(self.error_at(self.pos, &expected, "the end of the filter".into()));
                }
                Some('/') => break,
                Some('\\') if self.eat('/') => pattern.push('/'),
                Some('\\') => {
                    pattern.push('\\');
                    if let Some(c) = self.bump() {
                        pattern.push(c);
                    }
                }
                Some(c) => pattern.push(c),
            }
        }
        let literal_end = self.pos;
        let mut flags = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
            if !matches!(c, 'i' | 'm' | 's' | 'x') {
                return Err(self.expected("regex flags i, m, s or x"));
            }
            flags.push(c);
            self.pos += 1;
        }
        let build = |text: &str| {
            RegexBuilder::new(text)
                .case_insensitive(flags.contains('i'))
                .multi_line(flags.contains('m'))
                .dot_matches_new_line(flags.contains('s'))
                .ignore_whitespace(flags.contains('x'))
                .build()
        };
        // Check the pattern on its own first, so a stray `)` cannot escape the anchoring group.
        if let Err(error) = build(&pattern) {
            let found = format!("`{}` ({})", &self.text[open..literal_end], regex_reason(&error));
            return Err(self.error_at(open, "a valid regular expression", found));
        }
        // With `x`, a `#` comment runs to the end of the line: end it before the closing anchor.
        let newline = if flags.contains('x') { "\n" } else { "" };
        build(&format!(r"\A(?:{pattern}{newline})\z")).map_err(|error| {
            let found = format!("`{}` ({})", &self.text[open..literal_end], regex_reason(&error));
            self.error_at(open, "a valid regular expression", found)
        })
    }

    // -----------------------------------------------------------------------------------------
    // The cursor

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, wanted: char) -> bool {
        let found = self.peek() == Some(wanted);
        if found {
            self.pos += wanted.len_utf8();
        }
        found
    }

    fn eat_str(&mut self, wanted: &str) -> bool {
        let found = self.text[self.pos..].starts_with(wanted);
        if found {
            self.pos += wanted.len();
        }
        found
    }

    /// Reads ASCII digits and says how many.
    fn digits(&mut self) -> usize {
        let count = self.text[self.pos..].bytes().take_while(u8::is_ascii_digit).count();
        self.pos += count;
        count
    }

    fn skip_ws(&mut self) -> &mut Self {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        self
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Runs `parse` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        if self.depth >= MAX_DEPTH {
            return Err(self.expected(&format!("at most {MAX_DEPTH} levels of nesting")));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    // -----------------------------------------------------------------------------------------
    // Errors

    /// The 1-based character position of byte offset `at`.
    fn column(&self, at: usize) -> usize {
        self.text.get(..at).map_or(0, |before| before.chars().count()) + 1
    }

    fn slice(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn error_at(&self, at: usize, expected: &str, found: String) -> FilterError {
        FilterError { position: self.column(at), expected: expected.to_owned(), found }
    }

    /// `expected` was not what comes next.
    fn expected(&self, expected: &str) -> FilterError {
        self.error_at(self.pos, expected, self.found_here())
    }

    /// What is next, for an error: a word, or one character, or the end.
    fn found_here(&self) -> String {
        let rest = &self.text[self.pos..];
        let Some(first) = rest.chars().next() else { return "the end of the filter".into() };
        let word = if first.is_alphanumeric() || first == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(rest, |end| &rest[..end])
        } else {
            &rest[..first.len_utf8()]
        };
        format!("`{}`", word.chars().take(40).collect::<String>())
    }
}

/// A member name in dot notation stops at whitespace and at the dialect's punctuation.
fn is_name_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '.' | '['
                | ']'
                | '('
                | ')'
                | '\''
                | '"'
                | '='
                | '!'
                | '<'
                | '>'
                | '~'
                | '&'
                | '|'
                | ','
                | '/'
                | '*'
                | '?'
                | '@'
                | '$'
        )
}

/// One expression for one term, else the combination.
fn collapse(mut terms: Vec<Expr>, combine: fn(Vec<Expr>) -> Expr) -> Expr {
    match terms.pop() {
        Some(only) if terms.is_empty() => only,
        Some(last) => {
            terms.push(last);
            combine(terms)
        }
        None => combine(terms),
    }
}

/// The one line of a regex error that says what is wrong (its full text draws the pattern).
fn regex_reason(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => {
            text.lines().rev().find_map(|line| line.strip_prefix("error: ")).unwrap_or(text).trim().to_owned()
        }
        regex::Error::CompiledTooBig(_) => "it compiles too large".to_owned(),
        other => other.to_string(),
    }
}
