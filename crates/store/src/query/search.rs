//! ISC search queries (`/v3/search`, `sp:get-identities`' `inputQuery`, `sp:access:get`'s `query`): the part of ISC's search query syntax (Elasticsearch `query_string`) that workflows use, read into
//! a tree and written as a `filters` expression over identities: `field:value`, `field:"quoted value"`,
//! `field:prefix*`, `field:*text*`, `field:*` (has a value), `field:(a OR b)`, `AND`, `OR`, `NOT`,
//! parentheses, and `*` alone for every identity. Anything else is refused, saying what is supported.

use super::{Filter, QueryError};

/// What the refusal of an unsupported query says after its reason.
pub const SEARCH_SUPPORTED: &str = "supported are field:value, field:\"quoted value\", field:prefix*, \
     field:*text*, field:* (has a value), field:(a OR b), AND, OR, NOT, parentheses, and * alone for every \
     identity; the fields are id, name, displayName, email, alias, manager.id, identityProfile.id, \
     lifecycleState, identityStatus, inactive and attributes.<name> (a trailing .exact is ignored)";

/// The deepest nesting of parentheses and `NOT` a query may have.
const MAX_DEPTH: usize = 32;

/// Why a query cannot be run: what is wrong, and at which character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unsupported {
    position: usize,
    message: String,
}

fn unsupported<T>(position: usize, message: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported { position, message: message.into() })
}

/// One character of an unquoted word: itself, or the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Colon,
    Quoted(String),
    Word(Vec<Piece>),
}

impl Token {
    /// The keyword an unquoted word is, if any.
    fn keyword(&self) -> Option<&'static str> {
        let Token::Word(pieces) = self else { return None };
        let text: String = pieces.iter().map(|p| if let Piece::Char(c) = p { *c } else { '*' }).collect();
        ["AND", "OR", "NOT"].into_iter().find(|k| *k == text)
    }
}

fn lex(text: &str) -> Result<Vec<(usize, Token)>, Unsupported> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let start = at;
        match c {
            c if c.is_whitespace() => at += 1,
            '(' | ')' | ':' => {
                let token = match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Colon,
                };
                tokens.push((start, token));
                at += 1;
            }
            '"' => {
                let mut value = String::new();
                at += 1;
                loop {
                    match chars.get(at) {
                        None => return unsupported(start, "this quoted value is not closed with a `\"`"),
                        Some('"') => break,
                        Some('\\') if at + 1 < chars.len() => {
                            value.push(chars[at + 1]);
                            at += 2;
                        }
                        Some(&other) => {
                            value.push(other);
                            at += 1;
                        }
                    }
                }
                at += 1;
                tokens.push((start, Token::Quoted(value)));
            }
            _ => {
                let mut pieces = Vec::new();
                while let Some(&c) = chars.get(at) {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ':' | '"') {
                        break;
                    }
                    match c {
                        '\\' if at + 1 < chars.len() => {
                            pieces.push(Piece::Char(chars[at + 1]));
                            at += 2;
                            continue;
                        }
                        '*' => pieces.push(Piece::Star),
                        '?' | '~' | '^' | '[' | ']' | '{' | '}' => {
                            return unsupported(
                                at,
                                format!("`{c}` (fuzzy, boost, range or single-character wildcard) is not supported"),
                            );
                        }
                        other => pieces.push(Piece::Char(other)),
                    }
                    at += 1;
                }
                tokens.push((start, Token::Word(pieces)));
            }
        }
    }
    Ok(tokens)
}

/// How a value matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// `*`: the field has a value.
    Present,
    Exact(String),
    Prefix(String),
    Contains(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    All,
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    /// A field and the values it may match (any of them).
    Term {
        field: String,
        position: usize,
        values: Vec<(usize, Match)>,
    },
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&(usize, Token)> {
        self.tokens.get(self.at)
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |(p, _)| *p)
    }

    fn keyword(&self) -> Option<&'static str> {
        self.peek().and_then(|(_, t)| t.keyword())
    }

    fn nest(&mut self) -> Result<(), Unsupported> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return unsupported(self.position(), format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Query, Unsupported> {
        let mut items = vec![self.and()?];
        while self.keyword() == Some("OR") {
            self.at += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::Or(items) })
    }

    fn and(&mut self) -> Result<Query, Unsupported> {
        let mut items = vec![self.not()?];
        loop {
            match (self.keyword(), self.peek()) {
                (Some("AND"), _) => {
                    self.at += 1;
                    items.push(self.not()?);
                }
                (None, Some((position, token))) if *token != Token::Close => {
                    return unsupported(*position, "join conditions with AND or OR");
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::And(items) })
    }

    fn not(&mut self) -> Result<Query, Unsupported> {
        if self.keyword() == Some("NOT") {
            self.at += 1;
            self.nest()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Query::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Query, Unsupported> {
        let position = self.position();
        let Some((_, token)) = self.tokens.get(self.at).cloned() else {
            return unsupported(position, "a condition such as name:\"Ada Lovelace\" is missing here");
        };
        self.at += 1;
        match token {
            Token::Open => {
                self.nest()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.close(position)?;
                Ok(inner)
            }
            Token::Word(pieces) if pieces == [Piece::Star] => Ok(Query::All),
            Token::Word(pieces) if matches!(self.peek(), Some((_, Token::Colon))) => {
                let Some(field) = literal(&pieces) else {
                    return unsupported(position, "a field name cannot hold `*`");
                };
                self.at += 1;
                let values = self.values()?;
                Ok(Query::Term { field, position, values })
            }
            Token::Word(_) | Token::Quoted(_) => {
                unsupported(position, "free-text search is not supported: name the field, as in name:\"Ada Lovelace\"")
            }
            Token::Close => unsupported(position, "this `)` closes no `(`"),
            Token::Colon => unsupported(position, "a field name is missing before `:`"),
        }
    }

    fn close(&mut self, opened: usize) -> Result<(), Unsupported> {
        match self.peek() {
            Some((_, Token::Close)) => {
                self.at += 1;
                Ok(())
            }
            _ => unsupported(opened, "this `(` is not closed"),
        }
    }

    /// A value, or `(v OR v …)`.
    fn values(&mut self) -> Result<Vec<(usize, Match)>, Unsupported> {
        let opened = self.position();
        if matches!(self.peek(), Some((_, Token::Open))) {
            self.at += 1;
            let mut values = vec![self.value()?];
            while self.keyword() == Some("OR") {
                self.at += 1;
                values.push(self.value()?);
            }
            self.close(opened)?;
            return Ok(values);
        }
        Ok(vec![self.value()?])
    }

    fn value(&mut self) -> Result<(usize, Match), Unsupported> {
        let position = self.position();
        let Some((_, token)) = self.tokens.get(self.at).cloned() else {
            return unsupported(position, "a value is missing after `:`");
        };
        self.at += 1;
        let found = match token {
            Token::Quoted(text) => Match::Exact(text),
            Token::Word(pieces) => word_match(&pieces, position)?,
            _ => return unsupported(position, "a value is missing after `:`"),
        };
        Ok((position, found))
    }
}

fn literal(pieces: &[Piece]) -> Option<String> {
    pieces.iter().map(|p| if let Piece::Char(c) = p { Some(*c) } else { None }).collect()
}

/// What an unquoted value matches: exactly, by prefix (`abc*`), by substring (`*abc*`), or anything (`*`).
fn word_match(pieces: &[Piece], position: usize) -> Result<Match, Unsupported> {
    if pieces == [Piece::Star] {
        return Ok(Match::Present);
    }
    let (leading, trailing) = (pieces.first() == Some(&Piece::Star), pieces.last() == Some(&Piece::Star));
    let inner = &pieces[usize::from(leading)..pieces.len() - usize::from(trailing)];
    let Some(text) = literal(inner).filter(|t| !t.is_empty()) else {
        return unsupported(position, "`*` may stand only at the end of a value, or at both ends");
    };
    match (leading, trailing) {
        (false, false) => Ok(Match::Exact(text)),
        (false, true) => Ok(Match::Prefix(text)),
        (true, true) => Ok(Match::Contains(text)),
        (true, false) => unsupported(position, "a value ending with text after `*` (a suffix match) is not supported"),
    }
}

/// How a search field is filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Matched exactly only.
    Id(&'static str),
    Text(&'static str),
    /// `inactive:true|false`.
    Inactive,
}

fn field(name: &str, position: usize) -> Result<(Field, Option<String>), Unsupported> {
    let name = name.strip_suffix(".exact").unwrap_or(name);
    let found = match name {
        "id" => Field::Id("id"),
        "manager.id" => Field::Id("manager.id"),
        "identityProfile.id" => Field::Id("identityProfile.id"),
        "name" | "displayName" => Field::Text("name"),
        "alias" => Field::Text("alias"),
        "email" | "emailAddress" => Field::Text("email"),
        "lifecycleState" | "cloudLifecycleState" | "attributes.cloudLifecycleState" => {
            Field::Text("cloudLifecycleState")
        }
        "identityStatus" | "status" => Field::Text("identityStatus"),
        "inactive" => Field::Inactive,
        other => match other.strip_prefix("attributes.") {
            Some(key) if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                return Ok((Field::Text("attributes.*"), Some(key.to_owned())));
            }
            _ => return unsupported(position, format!("`{other}` is not a field identities are searched by")),
        },
    };
    Ok((found, None))
}

/// The `filters` name of a field; `None` for `inactive`, which is no column of its own.
fn filter_name(field: Field, key: Option<&str>) -> Option<String> {
    match (field, key) {
        (Field::Text(_), Some(key)) => Some(format!("attributes.{key}")),
        (Field::Text(name) | Field::Id(name), _) => Some(name.to_owned()),
        (Field::Inactive, _) => None,
    }
}

fn condition(field: Field, key: Option<&str>, position: usize, value: &Match) -> Result<String, Unsupported> {
    let Some(name) = filter_name(field, key) else {
        return match value {
            Match::Exact(v) if v.eq_ignore_ascii_case("true") => Ok("identityStatus eq \"INACTIVE\"".into()),
            Match::Exact(v) if v.eq_ignore_ascii_case("false") => Ok("identityStatus ne \"INACTIVE\"".into()),
            _ => unsupported(position, "`inactive` takes true or false"),
        };
    };
    Ok(match value {
        Match::Present => format!("pr {name}"),
        Match::Exact(text) => format!("{name} eq {}", quoted(text)),
        Match::Prefix(_) | Match::Contains(_) if matches!(field, Field::Id(_)) => {
            return unsupported(position, format!("`{name}` is matched exactly; wildcards are not supported on it"));
        }
        Match::Prefix(text) => format!("{name} sw {}", quoted(text)),
        Match::Contains(text) => format!("{name} co {}", quoted(text)),
    })
}

/// The filter text for a query; `None` when it matches every identity.
fn translate(query: &Query) -> Result<Option<String>, Unsupported> {
    Ok(match query {
        Query::All => None,
        Query::And(items) => {
            let parts: Vec<String> =
                items.iter().map(translate).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
            (!parts.is_empty()).then(|| format!("({})", parts.join(" and ")))
        }
        Query::Or(items) => {
            let parts = items.iter().map(translate).collect::<Result<Option<Vec<String>>, _>>()?;
            parts.map(|parts| format!("({})", parts.join(" or ")))
        }
        // Nothing matches "not everything": no identity lacks an id.
        Query::Not(inner) => Some(translate(inner)?.map_or_else(|| "id isnull".to_owned(), |t| format!("not ({t})"))),
        Query::Term { field: name, position, values } => {
            let (field, key) = field(name, *position)?;
            let exact: Option<Vec<&String>> =
                values.iter().map(|(_, v)| if let Match::Exact(t) = v { Some(t) } else { None }).collect();
            match (exact, filter_name(field, key.as_deref())) {
                (Some(texts), Some(name)) if texts.len() > 1 => {
                    let list: Vec<String> = texts.iter().map(|t| quoted(t)).collect();
                    Some(format!("{name} in ({})", list.join(", ")))
                }
                _ => {
                    let parts = values
                        .iter()
                        .map(|(p, v)| condition(field, key.as_deref(), *p, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(if parts.len() == 1 { parts.concat() } else { format!("({})", parts.join(" or ")) })
                }
            }
        }
    })
}

/// The filter a search query stands for; `None` when it matches every identity. A query outside
/// the supported subset is refused with its position and [`SEARCH_SUPPORTED`].
pub fn search_filter(text: &str) -> Result<Option<Filter>, QueryError> {
    match to_filter(text) {
        Ok(None) => Ok(None),
        Ok(Some(filter)) => Filter::parse(&filter).map(Some),
        Err(e) => Err(QueryError::new(e.position, e.message)),
    }
}

/// `text` as a double-quoted filter string, for filters built from values.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Reads a search query and writes it as `filters` text over identities; `None` matches every identity.
fn to_filter(text: &str) -> Result<Option<String>, Unsupported> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return unsupported(0, "the query is empty; write * for every identity");
    }
    let mut parser = Parser { tokens, at: 0, depth: 0, end: text.chars().count() };
    let query = parser.or()?;
    if let Some((position, _)) = parser.peek() {
        return unsupported(*position, "this `)` closes no `(`");
    }
    translate(&query)
}

/// The identity field a search sorts by, as `sorters` name it.
pub fn search_sort_field(name: &str) -> Option<String> {
    let (descending, bare) = match name.strip_prefix('-') {
        Some(bare) => (true, bare),
        None => (false, name.strip_prefix('+').unwrap_or(name)),
    };
    let mapped = match bare.strip_suffix(".exact").unwrap_or(bare) {
        "created" | "modified" => bare.to_owned(),
        other => {
            let (field, key) = field(other, 0).ok()?;
            filter_name(field, key.as_deref())?
        }
    };
    Some(if descending { format!("-{mapped}") } else { mapped })
}

#[cfg(test)]
mod tests {
    use super::to_filter;

    fn ok(query: &str) -> Option<String> {
        to_filter(query).unwrap()
    }

    fn refused(query: &str) -> (usize, String) {
        let error = to_filter(query).unwrap_err();
        (error.position, error.message)
    }

    #[test]
    fn the_corpus_queries_translate() {
        assert_eq!(ok("attributes.cloudLifecycleState:active").as_deref(), Some("cloudLifecycleState eq \"active\""));
        assert_eq!(ok("id: (\"a1\" OR \"b2\")").as_deref(), Some("id in (\"a1\", \"b2\")"));
        assert_eq!(ok("id: 2c91").as_deref(), Some("id eq \"2c91\""));
        assert_eq!(ok("name.exact:\"Role \\\"X\\\"\"").as_deref(), Some("name eq \"Role \\\"X\\\"\""));
        assert_eq!(ok("*"), None);
    }

    #[test]
    fn operators_wildcards_and_grouping_translate() {
        assert_eq!(
            ok("attributes.department:R\\&D AND NOT (email:* OR name:ad*)").as_deref(),
            Some("(attributes.department eq \"R&D\" and not ((pr email or name sw \"ad\")))")
        );
        assert_eq!(
            ok("name:*love* OR inactive:true").as_deref(),
            Some("(name co \"love\" or identityStatus eq \"INACTIVE\")")
        );
        assert_eq!(ok("* AND name:x").as_deref(), Some("(name eq \"x\")"));
        assert_eq!(ok("* OR name:x"), None);
        assert_eq!(ok("NOT *").as_deref(), Some("id isnull"));
        assert_eq!(
            ok("attributes.city:(Paris OR Lon*)").as_deref(),
            Some("(attributes.city eq \"Paris\" or attributes.city sw \"Lon\")")
        );
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_with_its_position() {
        assert_eq!(
            refused("john"),
            (0, "free-text search is not supported: name the field, as in name:\"Ada Lovelace\"".into())
        );
        assert_eq!(refused("name:a name:b").0, 7);
        assert_eq!(refused("name:*son").0, 5);
        assert_eq!(refused("created:[2020 TO 2021]").0, 8);
        assert_eq!(refused("phone:1").1, "`phone` is not a field identities are searched by");
        assert_eq!(refused("id:ab*").1, "`id` is matched exactly; wildcards are not supported on it");
        assert_eq!(refused("(name:a").0, 0);
        assert_eq!(refused("name:a)").0, 6);
        assert_eq!(refused("name:\"open").0, 5);
        assert!(refused(&"NOT ".repeat(40)).1.contains("nests deeper"));
        assert_eq!(refused("   ").0, 0);
    }
}
