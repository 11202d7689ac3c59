//! ISC search queries (`/v3/search`'s `query.query`, `sp:get-identities`' `inputQuery`, and
//! `sp:access:get`'s `query`): the subset of Elasticsearch's query-string syntax that workflows use,
//! turned into a [`Filter`] — `field:value`, `field:"quoted"`, `field:(a OR b)`, `field:*`,
//! `prefix*`, `AND`, `OR`, `NOT`, parentheses, and `*` for everything. Fields ending in `.exact`
//! compare exactly, as the others do here.

use super::{Filter, QueryError};

/// The filter a search query stands for; `None` when it matches everything.
pub fn search_filter(query: &str) -> Result<Option<Filter>, QueryError> {
    let tokens = tokenize(query)?;
    if tokens.is_empty() || tokens == [Token::Word("*".into(), 0)] {
        return Ok(None);
    }
    let mut parser = Parser { tokens, at: 0, text: String::new() };
    parser.expression(0)?;
    if let Some(token) = parser.tokens.get(parser.at) {
        return Err(QueryError::new(token.position(), "unexpected text after the end of the query"));
    }
    Filter::parse(&parser.text).map(Some).map_err(|e| {
        QueryError::new(0, format!("the search query could not be translated ({}); supported: field:value, field:\"text\", field:(a OR b), field:*, prefix*, AND, OR, NOT and parentheses", e.message))
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String, usize),
    Quoted(String, usize),
    Colon(usize),
    Open(usize),
    Close(usize),
    Comma(usize),
}

impl Token {
    fn position(&self) -> usize {
        match self {
            Token::Word(_, p)
            | Token::Quoted(_, p)
            | Token::Colon(p)
            | Token::Open(p)
            | Token::Close(p)
            | Token::Comma(p) => *p,
        }
    }
}

fn tokenize(query: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ':' => {
                tokens.push(Token::Colon(i));
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open(i));
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close(i));
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma(i));
                i += 1;
            }
            '"' => {
                let start = i;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError::new(start, "this quoted text has no closing quote")),
                        Some('"') => break,
                        Some('\\') if i + 1 < chars.len() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push(Token::Quoted(text, start));
            }
            _ => {
                let start = i;
                let mut text = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace() || matches!(c, ':' | '(' | ')' | '"' | ',') {
                        break;
                    }
                    if c == '\\' && i + 1 < chars.len() {
                        text.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    text.push(c);
                    i += 1;
                }
                tokens.push(Token::Word(text, start));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The filter text built so far.
    text: String,
}

/// Search fields with a different name in the filter language.
fn field_name(field: &str) -> String {
    let field = field.strip_suffix(".exact").unwrap_or(field);
    match field {
        "email" => "email".to_owned(),
        "firstname" | "lastname" | "displayName" | "department" | "employeeNumber" => format!("attributes.{field}"),
        other => other.to_owned(),
    }
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w, _)) if w == word)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or_else(|| self.tokens.last().map_or(0, Token::position), Token::position)
    }

    /// expression := term ((AND | OR | <nothing>) term)*; AND binds tighter than OR, and terms
    /// side by side mean AND (the default operator workflows rely on).
    fn expression(&mut self, depth: usize) -> Result<(), QueryError> {
        if depth > 16 {
            return Err(QueryError::new(self.position(), "the query nests too deeply"));
        }
        self.text.push('(');
        self.term(depth)?;
        loop {
            match self.tokens.get(self.at) {
                None | Some(Token::Close(_)) => break,
                Some(Token::Word(w, _)) if w == "OR" => {
                    self.at += 1;
                    self.text.push_str(" or ");
                }
                Some(Token::Word(w, _)) if w == "AND" => {
                    self.at += 1;
                    self.text.push_str(" and ");
                }
                _ => self.text.push_str(" and "),
            }
            self.term(depth)?;
        }
        self.text.push(')');
        Ok(())
    }

    fn term(&mut self, depth: usize) -> Result<(), QueryError> {
        if self.peek_word("NOT") {
            self.at += 1;
            self.text.push_str("not ");
            return self.term(depth);
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Open(_)) => {
                self.at += 1;
                self.expression(depth + 1)?;
                self.close()
            }
            Some(Token::Word(field, position)) => {
                self.at += 1;
                if !matches!(self.tokens.get(self.at), Some(Token::Colon(_))) {
                    return Err(QueryError::new(
                        position,
                        format!("`{field}` needs a field name and a colon before it, as in name:\"{field}\""),
                    ));
                }
                self.at += 1;
                self.value(&field_name(&field), depth)
            }
            Some(token) => Err(QueryError::new(token.position(), "expected a field:value term here")),
            None => Err(QueryError::new(self.position(), "the query ends where a term was expected")),
        }
    }

    fn close(&mut self) -> Result<(), QueryError> {
        match self.tokens.get(self.at) {
            Some(Token::Close(_)) => {
                self.at += 1;
                Ok(())
            }
            _ => Err(QueryError::new(self.position(), "a parenthesis is not closed")),
        }
    }

    /// value := word | "quoted" | ( value ((OR | AND | ,) value)* )
    fn value(&mut self, field: &str, depth: usize) -> Result<(), QueryError> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Word(word, _)) => {
                self.at += 1;
                if word == "*" {
                    self.text.push_str(&format!("pr {field}"));
                } else if let Some(prefix) = word.strip_suffix('*').filter(|p| !p.contains('*')) {
                    self.text.push_str(&format!("{field} sw {}", quote(prefix)));
                } else {
                    self.text.push_str(&format!("{field} eq {}", quote(&word)));
                }
                Ok(())
            }
            Some(Token::Quoted(text, _)) => {
                self.at += 1;
                self.text.push_str(&format!("{field} eq {}", quote(&text)));
                Ok(())
            }
            Some(Token::Open(_)) if depth < 16 => {
                self.at += 1;
                self.text.push('(');
                self.value(field, depth + 1)?;
                loop {
                    match self.tokens.get(self.at) {
                        Some(Token::Close(_)) => break,
                        Some(Token::Word(w, _)) if w == "AND" => {
                            self.at += 1;
                            self.text.push_str(" and ");
                        }
                        Some(Token::Word(w, _)) if w == "OR" => {
                            self.at += 1;
                            self.text.push_str(" or ");
                        }
                        Some(Token::Comma(_)) => {
                            self.at += 1;
                            self.text.push_str(" or ");
                        }
                        _ => self.text.push_str(" or "),
                    }
                    self.value(field, depth + 1)?;
                }
                self.text.push(')');
                self.close()
            }
            _ => Err(QueryError::new(self.position(), format!("`{field}:` needs a value"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::search_filter;

    fn shown(query: &str) -> String {
        match search_filter(query) {
            Ok(Some(filter)) => filter.to_string(),
            Ok(None) => "everything".to_owned(),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn corpus_queries_translate() {
        for (query, expected) in [
            ("attributes.cloudLifecycleState:active", r#"attributes.cloudLifecycleState eq "active""#),
            ("attributes.identificationNumber.exact:E000042", r#"attributes.identificationNumber eq "E000042""#),
            (r#"id: ("a1", "b2")"#, r#"id eq "a1" or id eq "b2""#),
            (r#"name.exact:"Engineer""#, r#"name eq "Engineer""#),
            ("*", "everything"),
            ("", "everything"),
            ("email:* AND NOT attributes.department:Sales", r#"pr email and not attributes.department eq "Sales""#),
            ("name:Ada*", r#"name sw "Ada""#),
        ] {
            assert_eq!(shown(query), expected, "{query}");
        }
    }

    #[test]
    fn bad_queries_say_where() {
        for query in ["name:", "(name:a", "justaword", r#"name:"open"#] {
            assert!(shown(query).starts_with("error: "), "{query}: {}", shown(query));
        }
    }
}
