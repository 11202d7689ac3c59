//! Reading a `filters` text into a tree, and writing the tree back in canonical form; no field is known here.

use std::fmt::{self, Display};

use super::{Op, QueryError};

/// The longest filter or sorter text accepted, in characters.
pub const MAX_LENGTH: usize = 4096;

/// How deeply parentheses and `not` may nest, so that hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// A parsed `filters` expression, not yet checked against any resource (see [`super::compile`]).
///
/// Its `Display` is the canonical text: single spaces, lower-case keywords, double quotes, and parentheses
/// around every nested `and`/`or`; it parses back to the same conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(pub(crate) Expr);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cond(Cond),
}

/// One comparison: `field op value`, `field in (values)`, `field isnull` or `pr field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cond {
    pub(crate) field: String,
    pub(crate) field_pos: usize,
    pub(crate) op: Op,
    pub(crate) op_pos: usize,
    /// None for `isnull` and `pr`, one for comparisons, at least one for `in`.
    pub(crate) values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) literal: Literal,
    pub(crate) pos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    Text(String),
    Integer(i64),
    Boolean(bool),
    /// An unquoted token starting with a digit that is not a whole number: a timestamp, checked when compiled.
    Bare(String),
}

impl Filter {
    /// Parses ISC filter syntax; keywords and operators ignore case.
    pub fn parse(text: &str) -> Result<Filter, QueryError> {
        let tokens = lex(text)?;
        let mut parser = Parser { tokens, at: 0, depth: 0 };
        if parser.peek().kind == Kind::End {
            return Err(QueryError::new(0, "the filter is empty: write a condition such as name eq \"John\""));
        }
        let expr = parser.or()?;
        let next = parser.peek();
        match &next.kind {
            Kind::End => Ok(Filter(expr)),
            Kind::RParen => Err(QueryError::new(next.pos, "this `)` closes no `(`")),
            _ => Err(QueryError::new(
                next.pos,
                format!("expected `and`, `or` or the end of the filter, found {}", next.kind.describe()),
            )),
        }
    }
}

/// Checks the length of a filter or sorter text.
pub(crate) fn check_length(text: &str, what: &str) -> Result<(), QueryError> {
    if text.chars().nth(MAX_LENGTH).is_some() {
        return Err(QueryError::new(MAX_LENGTH, format!("the {what} is longer than {MAX_LENGTH} characters")));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    Comma,
    Str(String),
    /// Anything unquoted: a field, a keyword, a number, `true`, a timestamp.
    Word(String),
    End,
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::LParen => "`(`".into(),
            Kind::RParen => "`)`".into(),
            Kind::Comma => "`,`".into(),
            Kind::Str(s) => format!("the string {}", Quoted(s)),
            Kind::Word(w) => format!("`{w}`"),
            Kind::End => "the end of the filter".into(),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Kind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    pos: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    check_length(text, "filter")?;
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        i += 1;
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            '"' | '\'' => {
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(QueryError::new(start, format!("this string has no closing {c}")));
                        }
                        Some(&q) if q == c => break,
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(&e @ ('"' | '\'' | '\\')) => s.push(e),
                                _ => {
                                    return Err(QueryError::new(
                                        i,
                                        "unknown escape: inside a string write \\\" for a quote and \\\\ for a backslash",
                                    ));
                                }
                            }
                            i += 1;
                        }
                        Some(&other) => s.push(other),
                    }
                    i += 1;
                }
                i += 1;
                Kind::Str(s)
            }
            _ => {
                while i < chars.len() && !ends_word(chars[i]) {
                    i += 1;
                }
                Kind::Word(chars[start..i].iter().collect())
            }
        };
        tokens.push(Token { kind, pos: start });
    }
    tokens.push(Token { kind: Kind::End, pos: chars.len() });
    Ok(tokens)
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '\'')
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != Kind::End {
            self.at += 1;
        }
        token
    }

    fn deeper(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(pos, format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.peek().kind.is_word("or") {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary()?];
        while self.peek().kind.is_word("and") {
            self.next();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek().kind.is_word("not") {
            let not = self.next();
            self.deeper(not.pos)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if self.peek().kind.is_word("pr") {
            let pr = self.next();
            let (field, field_pos) = self.field()?;
            return Ok(Expr::Cond(Cond { field, field_pos, op: Op::Pr, op_pos: pr.pos, values: Vec::new() }));
        }
        if self.peek().kind == Kind::LParen {
            let open = self.next();
            self.deeper(open.pos)?;
            let inner = self.or()?;
            self.depth -= 1;
            let close = self.next();
            if close.kind != Kind::RParen {
                return Err(QueryError::new(
                    close.pos,
                    format!("expected `)` to close the `(` at character {}, found {}", open.pos, close.kind.describe()),
                ));
            }
            return Ok(inner);
        }
        let (field, field_pos) = self.field()?;
        let token = self.next();
        let op = match &token.kind {
            Kind::Word(w) => Op::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(QueryError::new(
                token.pos,
                format!(
                    "expected an operator after `{field}` (eq, ne, gt, ge, lt, le, co, sw, in or isnull), found {}",
                    token.kind.describe()
                ),
            ));
        };
        let values = match op {
            Op::Pr => {
                return Err(QueryError::new(token.pos, format!("`pr` goes before the field: write `pr {field}`")));
            }
            Op::IsNull => Vec::new(),
            Op::In => self.list(&field)?,
            _ => vec![self.value(op)?],
        };
        Ok(Expr::Cond(Cond { field, field_pos, op, op_pos: token.pos, values }))
    }

    fn field(&mut self) -> Result<(String, usize), QueryError> {
        let token = self.next();
        match token.kind {
            Kind::Word(w)
                if Op::from_keyword(&w).is_some() || ["and", "or", "not"].iter().any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(QueryError::new(token.pos, format!("expected a field name, found the keyword `{w}`")))
            }
            Kind::Word(w) if is_field_name(&w) => Ok((w, token.pos)),
            Kind::Word(w) => Err(QueryError::new(
                token.pos,
                format!("`{w}` is not a field name: names are letters, digits, `_`, `-` and `.`"),
            )),
            other => Err(QueryError::new(
                token.pos,
                format!("expected a field name, `(`, `not` or `pr`, found {}", other.describe()),
            )),
        }
    }

    fn list(&mut self, field: &str) -> Result<Vec<Value>, QueryError> {
        let open = self.next();
        if open.kind != Kind::LParen {
            return Err(QueryError::new(
                open.pos,
                format!("`in` takes a list in parentheses, as in {field} in (\"a\", \"b\")"),
            ));
        }
        if self.peek().kind == Kind::RParen {
            return Err(QueryError::new(self.peek().pos, "the list after `in` is empty: give at least one value"));
        }
        let mut values = vec![self.value(Op::In)?];
        loop {
            let token = self.next();
            match token.kind {
                Kind::RParen => return Ok(values),
                Kind::Comma => values.push(self.value(Op::In)?),
                other => {
                    return Err(QueryError::new(
                        token.pos,
                        format!("expected `,` or `)` in the list after `in`, found {}", other.describe()),
                    ));
                }
            }
        }
    }

    fn value(&mut self, op: Op) -> Result<Value, QueryError> {
        let token = self.next();
        let literal = match token.kind {
            Kind::Str(s) => Literal::Text(s),
            Kind::Word(w) => word_literal(&w, token.pos)?,
            other => {
                return Err(QueryError::new(
                    token.pos,
                    format!(
                        "expected a value after `{op}` (a quoted string, a number, true, false or a timestamp), \
                         found {}",
                        other.describe()
                    ),
                ));
            }
        };
        Ok(Value { literal, pos: token.pos })
    }
}

fn is_field_name(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && w.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// An unquoted value: `true`, `false`, a whole number, or something starting with a digit (a timestamp).
fn word_literal(w: &str, pos: usize) -> Result<Literal, QueryError> {
    if w.eq_ignore_ascii_case("true") {
        return Ok(Literal::Boolean(true));
    }
    if w.eq_ignore_ascii_case("false") {
        return Ok(Literal::Boolean(false));
    }
    let digits = w.strip_prefix('-').unwrap_or(w);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return w
            .parse()
            .map(Literal::Integer)
            .map_err(|_| QueryError::new(pos, format!("`{w}` is too large: numbers must fit in 64 bits")));
    }
    if digits.starts_with(|c: char| c.is_ascii_digit()) {
        if w.parse::<f64>().is_ok() {
            return Err(QueryError::new(pos, format!("`{w}` is not a whole number: only whole numbers are supported")));
        }
        return Ok(Literal::Bare(w.to_owned()));
    }
    Err(QueryError::new(
        pos,
        format!("`{w}` is not a value: quote text as \"{w}\"; unquoted values are numbers, true, false and timestamps"),
    ))
}

/// A string written back with the escapes the lexer reads.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Expr {
    /// Writes the expression, with a group in parentheses when it is not a single condition.
    fn fmt_nested(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(_) | Expr::Or(_) => write!(f, "({self})"),
            Expr::Not(_) | Expr::Cond(_) => self.fmt(f),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let joiner = if matches!(self, Expr::And(_)) { " and " } else { " or " };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joiner)?;
                    }
                    item.fmt_nested(f)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                inner.fmt_nested(f)
            }
            Expr::Cond(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Pr => write!(f, "pr {}", self.field),
            Op::IsNull => write!(f, "{} isnull", self.field),
            Op::In => {
                write!(f, "{} in (", self.field)?;
                for (i, value) in self.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    value.literal.fmt(f)?;
                }
                f.write_str(")")
            }
            op => {
                write!(f, "{} {op} ", self.field)?;
                self.values.iter().try_for_each(|v| v.literal.fmt(f))
            }
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Text(s) => Quoted(s).fmt(f),
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Bare(w) => f.write_str(w),
        }
    }
}
