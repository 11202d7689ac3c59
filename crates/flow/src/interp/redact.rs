//! Keeping secrets out of history: values under credential-like keys are masked, and so is any
//! later appearance of such a value (a token fetched by one step and sent by the next).

use serde_json::Value;

const MASK: &str = "********";

/// Shorter values are not tracked by value: they would mask ordinary words.
const MIN_TRACKED: usize = 8;

/// `value` with every secret masked; secrets are found in `value` itself and in `doc`.
pub fn redact(value: &Value, doc: &Value) -> Value {
    redact_with(value, &[doc])
}

/// `value` with every secret masked; secrets are found in `value` and in each of `sources` (the
/// data document, and for an action's output the inputs it was called with).
pub fn redact_with(value: &Value, sources: &[&Value]) -> Value {
    let mut known = Vec::new();
    for source in sources {
        collect(source, &mut known);
    }
    collect(value, &mut known);
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    known.dedup();
    mask(value, &known)
}

/// Whether a key names a credential: `password`, `clientSecret`, `access_token`, `Authorization`,
/// `x-api-key`… but not `token_type`, `lastPasswordChangeDate` or `oAuthTokenUrl`.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    const EXACT: [&str; 8] = [
        "token",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "privatekey",
        "passphrase",
        "credentials",
    ];
    const SUFFIXES: [&str; 7] = ["password", "passwd", "secret", "accesstoken", "refreshtoken", "idtoken", "apikey"];
    EXACT.contains(&k.as_str()) || SUFFIXES.iter().any(|s| k.ends_with(s)) || k == "bearertoken" || k == "sessiontoken"
}

fn collect(value: &Value, known: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                match member {
                    Value::String(secret) if is_secret_key(key) && secret.len() >= MIN_TRACKED && secret != MASK => {
                        known.push(secret.strip_prefix("Bearer ").unwrap_or(secret).to_owned());
                    }
                    _ => collect(member, known),
                }
            }
            // Header lists written as `{"name": "Authorization", "value": "…"}`.
            if let (Some(Value::String(name)), Some(Value::String(secret))) =
                (members.get("name").or(members.get("key")), members.get("value"))
                && is_secret_key(name)
                && secret.len() >= MIN_TRACKED
            {
                known.push(secret.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, known)),
        _ => {}
    }
}

fn mask(value: &Value, known: &[String]) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, member)| {
                    let masked = match member {
                        Value::String(_) | Value::Number(_) if is_secret_key(key) => Value::String(MASK.into()),
                        other => mask(other, known),
                    };
                    (key.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| mask(item, known)).collect()),
        Value::String(text) => {
            let mut text = text.clone();
            for secret in known {
                if text.contains(secret.as_str()) {
                    text = text.replace(secret.as_str(), MASK);
                }
            }
            Value::String(text)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_credentials_by_key_and_by_value() {
        let doc = json!({"token": {"body": {"access_token": "eyJhbGciOi.fake.sig", "token_type": "bearer", "expires_in": 3600}}});
        let input = json!({
            "oAuthClientSecret": "s3cr3t-value", "oAuthTokenUrl": "https://idp/token", "lastPasswordChangeDate": "2024-01-01",
            "requestHeaders": {"Authorization": "Bearer eyJhbGciOi.fake.sig"},
            "jsonPatchRequestBody": [{"op": "replace", "path": "/auth", "value": "eyJhbGciOi.fake.sig"}],
            "bearerTokenAuthConfig": {"bearerToken": "abcdefghij", "type": "static"}
        });
        assert_eq!(
            redact(&input, &doc),
            json!({
                "oAuthClientSecret": MASK, "oAuthTokenUrl": "https://idp/token", "lastPasswordChangeDate": "2024-01-01",
                "requestHeaders": {"Authorization": MASK},
                "jsonPatchRequestBody": [{"op": "replace", "path": "/auth", "value": MASK}],
                "bearerTokenAuthConfig": {"bearerToken": MASK, "type": "static"}
            })
        );
        let output = redact(&doc, &Value::Null);
        assert_eq!(output["token"]["body"], json!({"access_token": MASK, "token_type": "bearer", "expires_in": 3600}));
    }
}
