//! How Tessera's account attributes map to a SCIM 2.0 user (RFC 7643 §4.1, §4.3), both ways: the body of a
//! create, PATCH operations (RFC 7644 §3.5.2), and a read user or group as an [`Account`] or [`Entitlement`].
//!
//! Account attribute → SCIM:
//! - `givenName`, `familyName`, `middleName`, `honorificPrefix`, `honorificSuffix` → `name.<same>`.
//! - `email` → `emails`: Set makes it the one (primary) address, Add and Remove add or remove an address;
//!   read back as the primary (else the first) address.
//! - `department`, `employeeNumber`, `costCenter`, `organization`, `division` → the enterprise extension's
//!   attribute of the same name; `manager` → its `manager.value` (the manager's user id).
//! - `emails`, `phoneNumbers`, `ims`, `photos`, `entitlements`, `roles`, `x509Certificates` → multi-valued: a
//!   plain value `v` is the element `{"value": v}`; read back as the array of the elements' values.
//! - `urn:…:<attr>[.<sub>]` → that attribute of that schema extension; `<attr>.<sub>` → that sub-attribute of a
//!   core attribute.
//! - Anything else (`userName`, `displayName`, `active`, `externalId`, `title`, `nickName`, `userType`,
//!   `locale`…) → the core attribute of the same name.
//!
//! Set with null removes the attribute; Remove of a single-valued attribute removes it whatever the value.
//!
//! Group memberships are not user attributes in SCIM (a user's `groups` is read-only); the connector changes
//! them through the group's `members` (see the parent module).

use serde_json::{Map, Value, json};

use crate::{Account, ConnectorError, Entitlement};

pub(super) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(super) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const NAME_PARTS: [&str; 5] = ["givenName", "familyName", "middleName", "honorificPrefix", "honorificSuffix"];
const ENTERPRISE_ATTRIBUTES: [&str; 5] = ["department", "employeeNumber", "costCenter", "organization", "division"];
/// The core user's single-valued attributes a client may write.
const SINGULAR: [&str; 11] = [
    "userName",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "externalId",
];
/// The core user's multi-valued attributes whose elements have a `value` (`addresses` has none; `groups` is
/// read-only).
const MULTI_VALUED: [&str; 7] =
    ["emails", "phoneNumbers", "ims", "photos", "entitlements", "roles", "x509Certificates"];

/// Where an account attribute lives in a SCIM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The primary email address.
    Email,
    /// An attribute, or one sub-attribute of a complex attribute, of the core schema (`schema` `None`) or of
    /// an extension.
    Path { schema: Option<String>, attribute: String, sub: Option<String> },
}

impl Target {
    pub(super) fn of(name: &str) -> Self {
        let path = |schema: Option<&str>, attribute: &str, sub: Option<&str>| Target::Path {
            schema: schema.map(str::to_owned),
            attribute: attribute.to_owned(),
            sub: sub.map(str::to_owned),
        };
        if name == "email" {
            return Target::Email;
        }
        if NAME_PARTS.contains(&name) {
            return path(None, "name", Some(name));
        }
        if ENTERPRISE_ATTRIBUTES.contains(&name) {
            return path(Some(ENTERPRISE_SCHEMA), name, None);
        }
        if name == "manager" {
            return path(Some(ENTERPRISE_SCHEMA), "manager", Some("value"));
        }
        let (schema, rest) = match name.strip_prefix("urn:").and_then(|_| name.rsplit_once(':')) {
            Some((schema, rest)) => (Some(schema), rest),
            None => (None, name),
        };
        match rest.split_once('.') {
            Some((attribute, sub)) => path(schema, attribute, Some(sub)),
            None => path(schema, rest, None),
        }
    }

    /// The SCIM attribute path (RFC 7644 §3.10) of the attribute as a whole.
    pub(super) fn path(&self) -> String {
        match self {
            Target::Email => "emails".to_owned(),
            Target::Path { schema, attribute, sub } => {
                let mut path = schema.as_ref().map(|schema| format!("{schema}:")).unwrap_or_default();
                path.push_str(attribute);
                if let Some(sub) = sub {
                    path.push('.');
                    path.push_str(sub);
                }
                path
            }
        }
    }

    /// Whether the attribute is known to hold one value: a sub-attribute, a singular core attribute, an
    /// enterprise extension attribute.
    fn single_valued(&self) -> bool {
        match self {
            Target::Email => false,
            Target::Path { sub: Some(_), .. } => true,
            Target::Path { schema: None, attribute, .. } => SINGULAR.contains(&attribute.as_str()),
            Target::Path { schema: Some(schema), .. } => schema == ENTERPRISE_SCHEMA,
        }
    }

    /// Whether values are elements of a multi-valued attribute with a `value` sub-attribute.
    fn multi_valued(&self) -> bool {
        match self {
            Target::Email => true,
            Target::Path { schema, attribute, sub } => {
                schema.is_none() && sub.is_none() && MULTI_VALUED.contains(&attribute.as_str())
            }
        }
    }
}

/// The values an attribute request carries: the elements of an array, or the one value.
pub(super) fn values(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// A value as a multi-valued attribute's element: an object as it is, anything else as `{"value": v}`.
fn element(value: &Value) -> Value {
    if value.is_object() { value.clone() } else { json!({ "value": value }) }
}

/// A value as SCIM wants it: `active` as a boolean even when it comes as the string `"true"` or `"false"`.
fn scalar(name: &str, value: &Value) -> Result<Value, ConnectorError> {
    if name == "active" {
        return match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(ConnectorError::permanent(format!("attribute `active`: {value} is not a boolean"))),
        };
    }
    Ok(value.clone())
}

/// The value of a PATCH `add`: the list of elements for a multi-valued attribute, else the value.
fn added(target: &Target, name: &str, value: &Value) -> Result<Value, ConnectorError> {
    if target.multi_valued() {
        Ok(Value::Array(values(value).into_iter().map(element).collect()))
    } else {
        scalar(name, value)
    }
}

/// Puts an attribute into a user being created. Add merges into a multi-valued attribute; Set replaces.
pub(super) fn set_in_body(
    body: &mut Map<String, Value>,
    name: &str,
    value: &Value,
    add: bool,
) -> Result<(), ConnectorError> {
    let target = Target::of(name);
    if value.is_null() {
        return Ok(());
    }
    let (container, attribute, sub) = match &target {
        Target::Email => {
            let emails = body.entry("emails").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(emails) = emails {
                if !add {
                    emails.clear();
                }
                for value in values(value) {
                    let mut element = element(value);
                    if emails.is_empty()
                        && let Value::Object(fields) = &mut element
                    {
                        fields.entry("primary").or_insert(Value::Bool(true));
                    }
                    emails.push(element);
                }
            }
            return Ok(());
        }
        Target::Path { schema: Some(schema), attribute, sub } => {
            let schemas = body.entry("schemas").or_insert_with(|| json!([USER_SCHEMA]));
            if let Value::Array(schemas) = schemas
                && !schemas.iter().any(|known| known == schema)
            {
                schemas.push(Value::String(schema.clone()));
            }
            let extension = body.entry(schema.clone()).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(extension) = extension else {
                return Err(ConnectorError::permanent(format!("attribute `{name}`: `{schema}` is not an object")));
            };
            (extension, attribute, sub)
        }
        Target::Path { schema: None, attribute, sub } => (body, attribute, sub),
    };
    let value = if target.multi_valued() { added(&target, name, value)? } else { scalar(name, value)? };
    match sub {
        Some(sub) => {
            let parent = container.entry(attribute.clone()).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(parent) = parent else {
                return Err(ConnectorError::permanent(format!("attribute `{name}`: `{attribute}` is not an object")));
            };
            parent.insert(sub.clone(), value);
        }
        None => match (container.get_mut(attribute), value) {
            (Some(Value::Array(existing)), Value::Array(more)) if add => existing.extend(more),
            (_, value) => {
                container.insert(attribute.clone(), value);
            }
        },
    }
    Ok(())
}

/// The PATCH operation replacing an attribute; a null value removes it.
pub(super) fn replace_op(name: &str, value: &Value) -> Result<Value, ConnectorError> {
    let target = Target::of(name);
    let path = target.path();
    if value.is_null() || (target.multi_valued() && values(value).is_empty()) {
        return Ok(json!({ "op": "remove", "path": path }));
    }
    let value = match target {
        Target::Email => {
            let mut emails: Vec<Value> = values(value).into_iter().map(element).collect();
            if let Some(Value::Object(first)) = emails.first_mut() {
                first.entry("primary").or_insert(Value::Bool(true));
            }
            Value::Array(emails)
        }
        target => added(&target, name, value)?,
    };
    Ok(json!({ "op": "replace", "path": path, "value": value }))
}

/// The PATCH operation adding values to an attribute (an existing element is no error, RFC 7644 §3.5.2.1).
pub(super) fn add_op(name: &str, value: &Value) -> Result<Value, ConnectorError> {
    let target = Target::of(name);
    Ok(json!({ "op": "add", "path": target.path(), "value": added(&target, name, value)? }))
}

/// The PATCH operations removing values: for a single-valued attribute, the attribute; otherwise one per
/// value, each selecting the elements with that `value` (removing an absent one matches nothing and is no
/// error, RFC 7644 §3.5.2.2).
pub(super) fn remove_ops(name: &str, value: &Value) -> Vec<Value> {
    let target = Target::of(name);
    let path = target.path();
    if target.single_valued() {
        return vec![json!({ "op": "remove", "path": path })];
    }
    values(value)
        .into_iter()
        .map(|value| {
            let value = match value {
                Value::Object(fields) => fields.get("value").unwrap_or(value),
                value => value,
            };
            json!({ "op": "remove", "path": format!("{path}[value eq {}]", filter_literal(value)) })
        })
        .collect()
}

/// A value as a filter's comparison value (RFC 7644 §3.4.2.2): strings as JSON strings, which escapes `"`
/// and `\`.
pub(super) fn filter_literal(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Null => value.to_string(),
        other => Value::String(other.to_string()).to_string(),
    }
}

/// The values of a multi-valued attribute's elements.
fn element_values(elements: &[Value]) -> Vec<Value> {
    elements.iter().filter_map(|element| element.get("value")).filter(|value| !value.is_null()).cloned().collect()
}

/// A SCIM user as an account: attributes under the names [`Target::of`] maps (see the module documentation),
/// and the user's `groups` (when the service provider returns them) as an array of group ids.
pub(super) fn account(user: &Value, group_attribute: &str) -> Result<Account, ConnectorError> {
    let Some(user) = user.as_object() else {
        return Err(ConnectorError::permanent("a user in the answer is not a JSON object"));
    };
    let Some(id) = user.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
        return Err(ConnectorError::permanent("a user in the answer has no `id`"));
    };
    let mut attributes = Map::new();
    for (key, value) in user {
        match (key.as_str(), value) {
            ("id" | "schemas" | "meta" | "password", _) => {}
            ("name", Value::Object(name)) => {
                for part in NAME_PARTS {
                    if let Some(value) = name.get(part).filter(|value| !value.is_null()) {
                        attributes.insert(part.to_owned(), value.clone());
                    }
                }
            }
            ("groups", Value::Array(groups)) => {
                attributes.insert(group_attribute.to_owned(), Value::Array(element_values(groups)));
            }
            ("emails", Value::Array(emails)) => {
                let primary = emails.iter().find(|email| email.get("primary") == Some(&Value::Bool(true)));
                if let Some(address) = primary.or(emails.first()).and_then(|email| email.get("value")) {
                    attributes.insert("email".to_owned(), address.clone());
                }
                attributes.insert("emails".to_owned(), Value::Array(element_values(emails)));
            }
            (key, Value::Array(elements)) if MULTI_VALUED.contains(&key) => {
                attributes.insert(key.to_owned(), Value::Array(element_values(elements)));
            }
            (schema, Value::Object(extension)) if schema.starts_with("urn:") => {
                let enterprise = schema == ENTERPRISE_SCHEMA;
                for (name, value) in extension {
                    if enterprise && name == "manager" {
                        if let Some(manager) = value.get("value").filter(|id| !id.is_null()) {
                            attributes.insert("manager".to_owned(), manager.clone());
                        }
                    } else if !(value.is_object() || value.is_array() || value.is_null()) {
                        let flat = if enterprise && ENTERPRISE_ATTRIBUTES.contains(&name.as_str()) {
                            name.clone()
                        } else {
                            format!("{schema}:{name}")
                        };
                        attributes.insert(flat, value.clone());
                    }
                }
            }
            (_, Value::Object(_) | Value::Array(_) | Value::Null) => {}
            (key, value) => {
                attributes.insert(key.to_owned(), value.clone());
            }
        }
    }
    let name = user.get("userName").and_then(Value::as_str).unwrap_or(id).to_owned();
    let disabled = user.get("active") == Some(&Value::Bool(false));
    Ok(Account { native_identity: id.to_owned(), name, attributes, disabled, locked: false })
}

/// A SCIM group as an entitlement under `attribute`: its id as the value, its `displayName` as the name.
pub(super) fn entitlement(group: &Value, attribute: &str) -> Result<Entitlement, ConnectorError> {
    let Some(id) = group.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
        return Err(ConnectorError::permanent("a group in the answer has no `id`"));
    };
    let mut attributes = Map::new();
    for key in ["displayName", "externalId"] {
        if let Some(value) = group.get(key).filter(|value| !value.is_null()) {
            attributes.insert(key.to_owned(), value.clone());
        }
    }
    let name = group.get("displayName").and_then(Value::as_str).unwrap_or(id).to_owned();
    Ok(Entitlement { attribute: attribute.to_owned(), value: id.to_owned(), name, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_scim_paths() {
        for (name, path) in [
            ("userName", "userName"),
            ("givenName", "name.givenName"),
            ("email", "emails"),
            ("department", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            ("manager", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            (
                "urn:example:params:scim:schemas:extension:acme:2.0:User:badge",
                "urn:example:params:scim:schemas:extension:acme:2.0:User:badge",
            ),
            ("name.formatted", "name.formatted"),
            ("nickName", "nickName"),
        ] {
            assert_eq!(Target::of(name).path(), path, "{name}");
        }
    }

    #[test]
    fn a_created_user_carries_extensions_and_elements() {
        let mut body = Map::new();
        body.insert("schemas".to_owned(), json!([USER_SCHEMA]));
        set_in_body(&mut body, "userName", &json!("ann"), false).unwrap();
        set_in_body(&mut body, "familyName", &json!("Smith"), false).unwrap();
        set_in_body(&mut body, "email", &json!("ann@example.org"), false).unwrap();
        set_in_body(&mut body, "email", &json!("ann@home.example"), true).unwrap();
        set_in_body(&mut body, "phoneNumbers", &json!(["+1 555 0100"]), true).unwrap();
        set_in_body(&mut body, "department", &json!("Ops"), false).unwrap();
        set_in_body(&mut body, "manager", &json!("u-42"), false).unwrap();
        set_in_body(&mut body, "title", &Value::Null, false).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": "ann",
                "name": { "familyName": "Smith" },
                "emails": [{ "value": "ann@example.org", "primary": true }, { "value": "ann@home.example" }],
                "phoneNumbers": [{ "value": "+1 555 0100" }],
                ENTERPRISE_SCHEMA: { "department": "Ops", "manager": { "value": "u-42" } },
            })
        );
        assert!(set_in_body(&mut Map::new(), "active", &json!("maybe"), false).is_err());
    }

    #[test]
    fn patch_operations() {
        assert_eq!(
            replace_op("active", &json!("false")).unwrap(),
            json!({"op": "replace", "path": "active", "value": false})
        );
        assert_eq!(replace_op("title", &Value::Null).unwrap(), json!({"op": "remove", "path": "title"}));
        assert_eq!(
            replace_op("email", &json!("a@b.c")).unwrap(),
            json!({"op": "replace", "path": "emails", "value": [{"value": "a@b.c", "primary": true}]})
        );
        assert_eq!(
            add_op("roles", &json!("admin")).unwrap(),
            json!({"op": "add", "path": "roles", "value": [{"value": "admin"}]})
        );
        assert_eq!(
            remove_ops("emails", &json!(["a\"b@c.d", {"value": "e@f.g"}])),
            [
                json!({"op": "remove", "path": r#"emails[value eq "a\"b@c.d"]"#}),
                json!({"op": "remove", "path": r#"emails[value eq "e@f.g"]"#}),
            ]
        );
        assert_eq!(
            remove_ops("department", &json!("Ops")),
            [json!({"op": "remove", "path": format!("{ENTERPRISE_SCHEMA}:department")})]
        );
    }

    #[test]
    fn a_read_user_is_flattened() {
        let user = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "id": "u1",
            "meta": { "resourceType": "User" },
            "userName": "ann",
            "name": { "givenName": "Ann", "formatted": "Ann Smith" },
            "active": false,
            "emails": [{ "value": "ann@home.example" }, { "value": "ann@example.org", "primary": true }],
            "groups": [{ "value": "g1", "display": "admins" }, { "value": "g2" }],
            "addresses": [{ "locality": "Paris" }],
            ENTERPRISE_SCHEMA: { "department": "Ops", "manager": { "value": "u-42", "displayName": "Boss" } },
            "urn:example:acme:2.0:User": { "badge": 7, "tags": ["x"] },
        });
        let account = account(&user, "memberOf").unwrap();
        assert_eq!((account.native_identity.as_str(), account.name.as_str(), account.disabled), ("u1", "ann", true));
        assert_eq!(
            Value::Object(account.attributes),
            json!({
                "userName": "ann",
                "givenName": "Ann",
                "active": false,
                "email": "ann@example.org",
                "emails": ["ann@home.example", "ann@example.org"],
                "memberOf": ["g1", "g2"],
                "department": "Ops",
                "manager": "u-42",
                "urn:example:acme:2.0:User:badge": 7,
            })
        );
        assert!(super::account(&json!({"userName": "x"}), "groups").is_err());
    }
}
