//! Event trigger filters: the Jayway JsonPath dialect ISC evaluates an event against (`filter.$`).
//!
//! An EVENT trigger may carry a filter such as
//! `$.changes[?(@.attribute == "department" && @.newValue == "Sales")]`. The event starts the
//! workflow only when the path, with its filter segments, selects at least one node of the event.
//!
//! ISC documents the dialect as Jayway JsonPath's (the Java library), and filters written for ISC
//! lean on its extensions: `=~` with `/regex/i` literals, `in`, `nin`, `subsetof`, `anyof`,
//! `noneof`, `size`, `empty`, `contains`, and functions such as `.length()` inside filters.
//! Nothing on crates.io implements that dialect (`serde_json_path`, used by [`crate::path`], is
//! RFC 9535 only, which has none of these), so the parser here is written by hand: recursive
//! descent over the text, compiled once into the tree below and evaluated per event.
//!
//! # Semantics
//!
//! The evaluation follows Jayway's own code (`EvaluatorFactory`, `ValueNodes`, `PathNode`) where
//! its README and its code disagree, because a filter must pick the same events here as in ISC:
//!
//! - A filter segment on an array keeps the elements the expression accepts; on an object it
//!   tests the object itself (so `$[?(@.source.name == "AD")]` works on an event object); on
//!   anything else it selects nothing. `..[?(…)]` tests every object at or below the node.
//! - A path in an expression that goes through only names and indices is *definite*: it yields
//!   its one node, or nothing (missing). Any other path (wildcard, deep scan, filter, slice,
//!   union) yields the array of every node it selects, possibly empty. A function (`.length()`,
//!   `.size()`, `.min()`, `.max()`, `.avg()`, `.sum()`, `.stddev()`, `.first()`, `.last()`,
//!   `.keys()`) applies to that value; `length()` and `size()` count an array's items, an
//!   object's members or a string's characters.
//! - `==`: numbers compare numerically, strings exactly, booleans, nulls, arrays and objects by
//!   value. A string and a number are equal when the string reads as that number (`1 == '1'` and
//!   `'1.0' == 1` hold: Jayway's `NumberNode`/`StringNode` equality, despite its README saying
//!   otherwise). Other mixed types are never equal. A missing value equals nothing, not even
//!   `null`. `!=` is exactly the negation of `==`, so a missing left side is *not equal* to
//!   anything and `@.missing != 'x'` is true, as in Jayway. `===` and `!==` also require the same
//!   JSON type.
//! - `<`, `<=`, `>`, `>=`: numbers numerically, strings lexically (by code point); a string and a
//!   number compare the string with the number's text, lexically (Jayway again). Any other pair,
//!   and a missing side, is not ordered: the comparison is false.
//! - `=~` takes a regex literal `/…/` with optional flags `i`, `m`, `s`, `x` on one side. As in
//!   Jayway (`Pattern.matcher(input).matches()`), the *whole* string must match: `/Admin/` does
//!   not match `"Temporary Admin Access"`; write `/.*Admin.*/`. Numbers and booleans are matched
//!   as their text, an array matches when any item does; a missing value, `null` or an object
//!   never matches (Jayway would match them as `""`). Patterns use the `regex` crate's syntax, a
//!   subset of Java's without look-around or back-references; those are refused when parsing.
//! - `in` / `nin`: the left value is / is not equal (as `==`) to an item of the right array.
//!   `subsetof`: every item of the left array is in the right one. `all`: every item of the right
//!   array is in the left one. `anyof` / `noneof`: the arrays do / do not share an item. With a
//!   right side (or for the last four, a left side) that is not an array, each is false.
//! - `size`: the left string's length or array's item count equals the right number. `empty`
//!   `true`/`false`: whether the left string, array or object is empty. `contains`: the left
//!   string contains the right string, or the left array has an item equal to the right value.
//!   Other types make these false.
//! - `@.x` alone is an existence check: true when the path selects a node, even one that is
//!   `null` (Jayway reads the property with `REQUIRE_PROPERTIES`, and a present `null` exists).
//!   `!@.x` is its negation. `!` before any other expression negates it (Jayway silently drops a
//!   `!` before a comparison; here it means what it says).
//! - `&&` binds tighter than `||`; parentheses group.

mod eval;
mod parse;

use std::fmt;

use regex::Regex;
use serde_json::Value;

/// A compiled trigger filter: parse it once, then test each event with [`TriggerFilter::matches`].
#[derive(Debug, Clone)]
pub struct TriggerFilter {
    source: String,
    path: Path,
}

impl TriggerFilter {
    /// Compiles `text`, which must be a path starting at `$`.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let path = parse::filter(text)?;
        Ok(Self { source: text.to_owned(), path })
    }

    /// Whether the event passes the filter: the path with its filters selects at least one node
    /// (a node that is `null` counts).
    pub fn matches(&self, event: &Value) -> bool {
        eval::matches(&self.path, event)
    }

    /// The nodes the path selects in `event`, in document order (or the function's result).
    pub fn select(&self, event: &Value) -> Vec<Value> {
        eval::select(&self.path, event)
    }

    /// The filter as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for TriggerFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a filter did not compile: where (a 1-based character position in the text), what the
/// parser expected there, and what it found instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: expected {expected}, found {found}")]
pub struct FilterError {
    position: usize,
    expected: String,
    found: String,
}

impl FilterError {
    /// The 1-based character position the problem was found at.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What would have been accepted there.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What was there instead.
    pub fn found(&self) -> &str {
        &self.found
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled form

/// A path: where it starts, its segments, and perhaps a function applied to what they select.
#[derive(Debug, Clone)]
struct Path {
    start: Start,
    segments: Vec<Segment>,
    function: Option<Function>,
}

impl Path {
    /// Names and single indices only: the path selects at most one node.
    fn is_definite(&self) -> bool {
        self.segments.iter().all(|segment| match segment {
            Segment::Child(Selector::Names(names)) => names.len() == 1,
            Segment::Child(Selector::Indices(indices)) => indices.len() == 1,
            _ => false,
        })
    }
}

/// `$` (the event) or `@` (the node a filter is testing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Root,
    Current,
}

#[derive(Debug, Clone)]
enum Segment {
    /// `.name`, `[…]`: the selector applied to the node.
    Child(Selector),
    /// `..name`, `..[…]`, `..*`: the selector applied to the node and everything below it.
    Descendant(Selector),
}

#[derive(Debug, Clone)]
enum Selector {
    /// `.name`, `['a']`, `['a','b']`.
    Names(Vec<String>),
    /// `*`, `[*]`.
    Wildcard,
    /// `[0]`, `[-1]`, `[0,2]`: negative indices count from the end.
    Indices(Vec<i64>),
    /// `[start:end]`, either bound optional, negative from the end.
    Slice { start: Option<i64>, end: Option<i64> },
    /// `[?(expression)]`.
    Filter(Box<Expr>),
}

/// A function written at the end of a path: `.length()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Length,
    Min,
    Max,
    Avg,
    Sum,
    StdDev,
    First,
    Last,
    Keys,
}

impl Function {
    const NAMES: &'static str = "length(), size(), min(), max(), avg(), sum(), stddev(), first(), last() or keys()";

    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "length" | "size" => Self::Length,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "sum" => Self::Sum,
            "stddev" => Self::StdDev,
            "first" => Self::First,
            "last" => Self::Last,
            "keys" => Self::Keys,
            _ => return None,
        })
    }
}

/// A filter expression.
#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `@.x` alone: the path selects something.
    Exists(Path),
    Compare {
        left: Operand,
        op: Op,
        right: Operand,
    },
}

#[derive(Debug, Clone)]
enum Operand {
    Path(Path),
    Literal(Value),
    Regex(Regex),
}

/// A relational operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Matches,
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    All,
    Size,
    Empty,
    Contains,
}

impl Op {
    const NAMES: &'static str =
        "an operator (== != === !== < <= > >= =~ in nin subsetof anyof noneof all size empty contains)";

    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::StrictEq => "===",
            Op::StrictNe => "!==",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Matches => "=~",
            Op::In => "in",
            Op::Nin => "nin",
            Op::SubsetOf => "subsetof",
            Op::AnyOf => "anyof",
            Op::NoneOf => "noneof",
            Op::All => "all",
            Op::Size => "size",
            Op::Empty => "empty",
            Op::Contains => "contains",
        }
    }

    fn symbolic(text: &str) -> Option<Self> {
        Some(match text {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "===" => Op::StrictEq,
            "!==" => Op::StrictNe,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "=~" => Op::Matches,
            _ => return None,
        })
    }

    /// Word operators, in any case as Jayway accepts them.
    fn word(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "in" => Op::In,
            "nin" => Op::Nin,
            "subsetof" => Op::SubsetOf,
            "anyof" => Op::AnyOf,
            "noneof" => Op::NoneOf,
            "all" => Op::All,
            "size" => Op::Size,
            "empty" => Op::Empty,
            "contains" => Op::Contains,
            _ => return None,
        })
    }
}
