//! Where a workflow document holds credentials written into it — ISC exports carry them: the HTTP
//! action's `bearerToken`, `basicAuthPassword`, `oAuthClientSecret` and `headerAuthValue`, the value of
//! a request header that carries credentials (`Authorization`, `X-API-Key`, …), and the password of a
//! URL's `user:password@`. Only literal values count: a `.$` path or a `{{…}}` template names data, not
//! a secret. This module finds them and rewrites them through a caller's function; sealing, opening
//! and masking are the caller's, since the language knows no keys.

use serde_json::Value;

/// Attributes whose literal value is a credential.
pub const SECRET_ATTRIBUTES: &[&str] = &["bearerToken", "basicAuthPassword", "oAuthClientSecret", "headerAuthValue"];

/// Attributes holding a URL, whose `user:password@` may carry a password.
const URL_ATTRIBUTES: &[&str] = &["url", "oAuthTokenUrl"];

/// Attributes holding request headers, by name.
const HEADER_ATTRIBUTES: &[&str] = &["requestHeaders", "headers"];

/// What the mask stands for when a document is shown: the secret is there, but not shown.
pub const MASK: &str = "********";

/// One secret in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The whole string value is the secret.
    Whole,
    /// The string is a URL; the secret is its password.
    UrlPassword,
}

/// How a reference to a stored secret begins: `{{secret:<name>}}`.
pub const REFERENCE_PREFIX: &str = "{{secret:";

/// Whether the inside of a `{{…}}` names a stored secret (`secret:` and a name of letters, digits,
/// `.`, `_` and `-`).
pub fn is_secret_reference(inner: &str) -> bool {
    inner.strip_prefix("secret:").is_some_and(|name| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    })
}

/// The names of the stored secrets `text` refers to, with where each reference is.
pub fn secret_references(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(REFERENCE_PREFIX).map(|at| from + at) {
        let Some(end) = text[start..].find("}}").map(|at| start + at + 2) else { break };
        let inner = &text[start + 2..end - 2];
        if is_secret_reference(inner) {
            found.push((start..end, &inner["secret:".len()..]));
        }
        from = end;
    }
    found
}

/// Whether a header's value is a credential, by its name.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["authorization", "auth", "token", "secret", "password", "api-key", "apikey", "cookie", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

/// A value that is a secret written in place: not empty (exports carry empty ones) and no template.
fn literal(text: &str) -> bool {
    !text.is_empty() && !text.contains("{{")
}

/// What [`rewrite`] calls for each secret: (its JSON pointer, where the secret is in the value, the
/// value), answering the new value (`None`: leave it).
pub type Rewrite<'a, E> = dyn FnMut(&str, Slot, &str) -> Result<Option<String>, E> + 'a;

/// Calls `rewrite(pointer, slot, current)` for every secret of `document` (its `definition`, where steps
/// live), replacing the value with what it returns (`Ok(None)` leaves it). The first error stops the
/// walk and is returned.
pub fn rewrite<E>(document: &mut Value, rewrite: &mut Rewrite<'_, E>) -> Result<(), E> {
    if let Some(definition) = document.get_mut("definition") {
        walk(definition, "/definition", rewrite)?;
    }
    Ok(())
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk<E>(value: &mut Value, at: &str, rewrite: &mut Rewrite<'_, E>) -> Result<(), E> {
    match value {
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                let pointer = format!("{at}/{}", escape(key));
                match member {
                    Value::String(text) if SECRET_ATTRIBUTES.contains(&key.as_str()) && literal(text) => {
                        if let Some(new) = rewrite(&pointer, Slot::Whole, text)? {
                            *text = new;
                        }
                    }
                    Value::String(text) if URL_ATTRIBUTES.contains(&key.as_str()) && url_password(text).is_some() => {
                        if let Some(new) = rewrite(&pointer, Slot::UrlPassword, text)? {
                            *text = new;
                        }
                    }
                    Value::Object(headers) if HEADER_ATTRIBUTES.contains(&key.as_str()) => {
                        for (name, header) in headers.iter_mut() {
                            if let Value::String(text) = header
                                && is_secret_header(name)
                                && literal(text)
                            {
                                let pointer = format!("{pointer}/{}", escape(name));
                                if let Some(new) = rewrite(&pointer, Slot::Whole, text)? {
                                    *text = new;
                                }
                            }
                        }
                    }
                    other => walk(other, &pointer, rewrite)?,
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{at}/{index}"), rewrite)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Where a URL's password is: the byte range of the text between `user:` and `@` in its authority,
/// when it has one and it is literal. Read without a URL parser, since the rest of the URL may hold
/// `{{…}}` templates.
pub fn url_password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |end| start + end);
    let at = url[start..authority_end].rfind('@')? + start;
    let colon = url[start..at].find(':')? + start;
    let password = colon + 1..at;
    (!password.is_empty() && literal(&url[password.clone()])).then_some(password)
}

/// `url` with its password replaced by `password`.
pub fn with_url_password(url: &str, password: &str) -> String {
    match url_password(url) {
        Some(range) => format!("{}{password}{}", &url[..range.start], &url[range.end..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn literal_credentials_are_found_and_references_are_not() {
        let mut document = json!({"name": "x", "definition": {"start": "A", "steps": {
            "A": {"type": "action", "actionId": "sp:http", "attributes": {
                "url": "https://svc:pa55@api.example.com/{{$.trigger.id}}", "bearerToken": "tok-123",
                "basicAuthPassword": "{{$.secrets.password}}", "oAuthClientSecret.$": "$.trigger.secret",
                "requestHeaders": {"X-API-Key": "k-9", "Accept": "application/json"}}},
            "B": {"type": "action", "actionId": "sp:loop:iterator", "attributes": {"definition": {"steps": {
                "C": {"attributes": {"oAuthTokenUrl": "https://id:s3@idp/token", "headerAuthValue": "v"}}}}}}}}});
        let mut found = Vec::new();
        rewrite::<()>(&mut document, &mut |pointer, slot, text| {
            found.push((pointer.to_owned(), slot, text.to_owned()));
            Ok(Some(format!("<{}>", found.len())))
        })
        .unwrap();
        let pointers: Vec<&str> = found.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/definition/steps/A/attributes/url",
                "/definition/steps/A/attributes/bearerToken",
                "/definition/steps/A/attributes/requestHeaders/X-API-Key",
                "/definition/steps/B/attributes/definition/steps/C/attributes/oAuthTokenUrl",
                "/definition/steps/B/attributes/definition/steps/C/attributes/headerAuthValue",
            ]
        );
        assert_eq!(found[0].1, Slot::UrlPassword);
        assert_eq!(document.pointer("/definition/steps/A/attributes/bearerToken").unwrap(), "<2>");
        assert_eq!(
            document.pointer("/definition/steps/A/attributes/requestHeaders/Accept").unwrap(),
            "application/json"
        );
    }

    #[test]
    fn references_to_stored_secrets_are_found() {
        let text = "Bearer {{secret:github-token}} and {{secret:bad name}} and {{secret:zip.pass_2}}";
        let names: Vec<&str> = secret_references(text).into_iter().map(|(_, name)| name).collect();
        assert_eq!(names, ["github-token", "zip.pass_2"]);
        assert_eq!(&text[secret_references(text)[0].0.clone()], "{{secret:github-token}}");
    }

    #[test]
    fn a_urls_password_is_found_without_parsing_the_rest() {
        let url = "https://svc:pa55@api.example.com/{{$.trigger.id}}?a=b@c";
        assert_eq!(&url[url_password(url).unwrap()], "pa55");
        assert_eq!(with_url_password(url, MASK), "https://svc:********@api.example.com/{{$.trigger.id}}?a=b@c");
        for none in ["https://api.example.com/x@y", "https://user@host/", "https://user:@host/", "not a url"] {
            assert_eq!(url_password(none), None, "{none}");
        }
    }
}
