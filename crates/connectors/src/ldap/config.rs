//! The LDAP connector's configuration: what a source's `connectorAttributes` say, checked once.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::dn;
use crate::Error;

/// How an account is disabled and how a read tells that it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableMode {
    /// An attribute the connector owns holds the state: Disable replaces its values with `disabled_value`;
    /// Enable replaces them with `enabled_value`, or removes the attribute when there is none. An account is
    /// disabled when the attribute holds `disabled_value` (compared without case).
    Attribute { name: String, disabled_value: String, enabled_value: Option<String> },
    /// Disabled accounts live in their own organizational unit: Disable moves the entry there (a modify-DN,
    /// so its DN, the native identity, changes) and Enable moves it back under the accounts' base DN. Group
    /// memberships follow the entry.
    MoveToOu { disabled_ou: String },
}

/// How a password is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordMode {
    /// The Password Modify extended operation (RFC 3062): the server hashes the password with its own
    /// scheme (`{SSHA}` on OpenLDAP by default). The default.
    Exop,
    /// Replace `userPassword` with the clear text, for servers that hash on write (389-ds) or that lack the
    /// extended operation. OpenLDAP stores such a value as it is.
    Replace,
}

/// Where an LDAP directory is and how its accounts and groups are laid out.
///
/// Build it with [`LdapConfig::from_json`] or fill the fields; [`super::LdapConnector::new`] checks them
/// either way. `Debug` does not show the bind password.
#[derive(Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Use StartTLS on an `ldap://` URL.
    pub start_tls: bool,
    pub bind_dn: String,
    pub bind_password: String,
    /// Where accounts live; created accounts go directly below it.
    pub base_dn: String,
    /// Where groups live (searched with subtree scope).
    pub group_base_dn: String,
    /// The object classes of a created account; a read takes entries that have all of them.
    pub user_object_classes: Vec<String>,
    /// The attribute of an account's RDN (`uid`, `cn`); a Create names the account by its value.
    pub naming_attribute: String,
    pub group_object_class: String,
    /// The group attribute that lists member DNs.
    pub group_member_attribute: String,
    pub disable: DisableMode,
    pub password_mode: PasswordMode,
    /// Entries per page of a paged read.
    pub page_size: u32,
    /// For connecting and for each operation.
    pub timeout: Duration,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("start_tls", &self.start_tls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"<redacted>")
            .field("base_dn", &self.base_dn)
            .field("group_base_dn", &self.group_base_dn)
            .field("user_object_classes", &self.user_object_classes)
            .field("naming_attribute", &self.naming_attribute)
            .field("group_object_class", &self.group_object_class)
            .field("group_member_attribute", &self.group_member_attribute)
            .field("disable", &self.disable)
            .field("password_mode", &self.password_mode)
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The default disable attribute: `employeeType` is in the inetOrgPerson schema, so every inetOrgPerson
/// entry may carry it without schema changes.
const DEFAULT_DISABLE_ATTRIBUTE: &str = "employeeType";
const DEFAULT_DISABLED_VALUE: &str = "disabled";
const DEFAULT_PAGE_SIZE: u32 = 500;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger pages than this are refused: servers cap them anyway, and one page is held in memory.
const MAX_PAGE_SIZE: u32 = 10_000;

impl LdapConfig {
    /// Reads a source's `connectorAttributes`. Required: `url`, `bindDn`, `bindPassword`, `baseDn`,
    /// `groupBaseDn`. Optional (default): `startTls` (false), `userObjectClasses` (`["inetOrgPerson"]`, an
    /// array or a comma-separated string), `namingAttribute` (`uid`), `groupObjectClass` (`groupOfNames`),
    /// `groupMemberAttribute` (`member`), `disableMode` (`attribute` or `ou`; `attribute`),
    /// `disableAttribute` (`employeeType`), `disabledValue` (`disabled`), `enabledValue` (none: Enable
    /// removes the attribute), `disabledOu` (required for `ou`), `passwordMode` (`exop` or `replace`;
    /// `exop`), `pageSize` (500), `timeoutSeconds` (30). Numbers and booleans may also be given as strings.
    pub fn from_json(connector_attributes: &Value) -> Result<Self, Error> {
        let Some(attrs) = connector_attributes.as_object() else {
            return Err(config_error("connectorAttributes", "must be a JSON object"));
        };
        let disable = match optional_str(attrs, "disableMode")?.as_deref() {
            None | Some("attribute") => DisableMode::Attribute {
                name: optional_str(attrs, "disableAttribute")?.unwrap_or_else(|| DEFAULT_DISABLE_ATTRIBUTE.into()),
                disabled_value: optional_str(attrs, "disabledValue")?.unwrap_or_else(|| DEFAULT_DISABLED_VALUE.into()),
                enabled_value: optional_str(attrs, "enabledValue")?,
            },
            Some("ou") => DisableMode::MoveToOu { disabled_ou: required_str(attrs, "disabledOu")? },
            Some(other) => {
                return Err(config_error("disableMode", format!("must be `attribute` or `ou`, not `{other}`")));
            }
        };
        let password_mode = match optional_str(attrs, "passwordMode")?.as_deref() {
            None | Some("exop") => PasswordMode::Exop,
            Some("replace") => PasswordMode::Replace,
            Some(other) => {
                return Err(config_error("passwordMode", format!("must be `exop` or `replace`, not `{other}`")));
            }
        };
        let user_object_classes = match attrs.get("userObjectClasses") {
            None | Some(Value::Null) => vec!["inetOrgPerson".to_owned()],
            Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(|s| s.trim().to_owned())
                        .ok_or_else(|| config_error("userObjectClasses", "must hold strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(config_error("userObjectClasses", "must be an array of strings")),
        };
        let timeout_seconds = optional_u64(attrs, "timeoutSeconds")?.unwrap_or(DEFAULT_TIMEOUT.as_secs());
        let config = LdapConfig {
            url: required_str(attrs, "url")?,
            start_tls: optional_bool(attrs, "startTls")?.unwrap_or(false),
            bind_dn: required_str(attrs, "bindDn")?,
            bind_password: required_str(attrs, "bindPassword")?,
            base_dn: required_str(attrs, "baseDn")?,
            group_base_dn: required_str(attrs, "groupBaseDn")?,
            user_object_classes,
            naming_attribute: optional_str(attrs, "namingAttribute")?.unwrap_or_else(|| "uid".into()),
            group_object_class: optional_str(attrs, "groupObjectClass")?.unwrap_or_else(|| "groupOfNames".into()),
            group_member_attribute: optional_str(attrs, "groupMemberAttribute")?.unwrap_or_else(|| "member".into()),
            disable,
            password_mode,
            page_size: match optional_u64(attrs, "pageSize")? {
                None => DEFAULT_PAGE_SIZE,
                Some(n) => u32::try_from(n).map_err(|_| config_error("pageSize", "is too large"))?,
            },
            timeout: Duration::from_secs(timeout_seconds),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types do not: non-empty names, a usable URL, sane numbers.
    pub(super) fn validate(&self) -> Result<(), Error> {
        if !(self.url.starts_with("ldap://") || self.url.starts_with("ldaps://")) {
            return Err(config_error("url", "must start with ldap:// or ldaps://"));
        }
        if self.start_tls && self.url.starts_with("ldaps://") {
            return Err(config_error("startTls", "cannot be used with an ldaps:// URL, which is TLS already"));
        }
        if self.bind_dn.trim().is_empty() {
            return Err(config_error("bindDn", "must not be empty"));
        }
        if self.bind_password.is_empty() {
            return Err(config_error("bindPassword", "must not be empty"));
        }
        for (key, value) in [("baseDn", &self.base_dn), ("groupBaseDn", &self.group_base_dn)] {
            if !dn::looks_like_dn(value) {
                return Err(config_error(key, format!("`{value}` is not a DN")));
            }
        }
        if self.user_object_classes.is_empty() || self.user_object_classes.iter().any(|c| !is_attribute_name(c)) {
            return Err(config_error("userObjectClasses", "must name one or more object classes"));
        }
        for (key, value) in [
            ("namingAttribute", &self.naming_attribute),
            ("groupObjectClass", &self.group_object_class),
            ("groupMemberAttribute", &self.group_member_attribute),
        ] {
            if !is_attribute_name(value) {
                return Err(config_error(key, format!("`{value}` is not an attribute or class name")));
            }
        }
        match &self.disable {
            DisableMode::Attribute { name, disabled_value, enabled_value } => {
                if !is_attribute_name(name) {
                    return Err(config_error("disableAttribute", format!("`{name}` is not an attribute name")));
                }
                if disabled_value.is_empty() {
                    return Err(config_error("disabledValue", "must not be empty"));
                }
                if enabled_value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(disabled_value)) {
                    return Err(config_error("enabledValue", "must differ from disabledValue"));
                }
            }
            DisableMode::MoveToOu { disabled_ou } => {
                if !dn::looks_like_dn(disabled_ou) {
                    return Err(config_error("disabledOu", format!("`{disabled_ou}` is not a DN")));
                }
                if dn::normalize(disabled_ou) == dn::normalize(&self.base_dn) {
                    return Err(config_error("disabledOu", "must differ from baseDn"));
                }
            }
        }
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return Err(config_error("pageSize", format!("must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if self.timeout.is_zero() {
            return Err(config_error("timeoutSeconds", "must be at least 1"));
        }
        Ok(())
    }
}

/// An attribute type or object class name: a keystring (RFC 4512) or a numeric OID.
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some(first) if first.is_ascii_digit() => name.chars().all(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}

fn config_error(key: &'static str, message: impl Into<String>) -> Error {
    Error::Config { key, message: message.into() }
}

fn required_str(attrs: &Map<String, Value>, key: &'static str) -> Result<String, Error> {
    optional_str(attrs, key)?.ok_or_else(|| config_error(key, "is required"))
}

/// A string attribute; absent, null and blank are all "not given".
fn optional_str(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<String>, Error> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        // A password keeps its spaces; names and DNs lose the ones around them.
        Some(Value::String(s)) if key == "bindPassword" => Ok(Some(s.clone())),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(config_error(key, "must be a string")),
    }
}

fn optional_u64(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<u64>, Error> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| config_error(key, "must be a whole number")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| config_error(key, format!("`{s}` is not a whole number")))
        }
        Some(_) => Err(config_error(key, "must be a whole number")),
    }
}

fn optional_bool(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<bool>, Error> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim() {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(config_error(key, format!("`{s}` is not true or false"))),
        },
        Some(_) => Err(config_error(key, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "url": "ldap://127.0.0.1:389",
            "bindDn": "cn=admin,dc=example,dc=org",
            "bindPassword": " secret ",
            "baseDn": "ou=people,dc=example,dc=org",
            "groupBaseDn": "ou=groups,dc=example,dc=org",
        })
    }

    #[test]
    fn defaults_fill_the_optional_keys() {
        let config = LdapConfig::from_json(&minimal()).expect("valid");
        assert_eq!(config.bind_password, " secret ");
        assert_eq!(config.user_object_classes, ["inetOrgPerson"]);
        assert_eq!(config.naming_attribute, "uid");
        assert_eq!(config.group_object_class, "groupOfNames");
        assert_eq!(config.group_member_attribute, "member");
        assert_eq!(
            config.disable,
            DisableMode::Attribute {
                name: "employeeType".into(),
                disabled_value: "disabled".into(),
                enabled_value: None
            }
        );
        assert_eq!(config.password_mode, PasswordMode::Exop);
        assert_eq!(config.page_size, 500);
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn every_key_is_read() {
        let mut value = minimal();
        let extra = json!({
            "startTls": "true", "userObjectClasses": "person, inetOrgPerson", "namingAttribute": "cn",
            "groupObjectClass": "groupOfUniqueNames", "groupMemberAttribute": "uniqueMember", "disableMode": "ou",
            "disabledOu": "ou=disabled,dc=example,dc=org", "passwordMode": "replace", "pageSize": "2",
            "timeoutSeconds": 5,
        });
        value.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        let config = LdapConfig::from_json(&value).expect("valid");
        assert!(config.start_tls);
        assert_eq!(config.user_object_classes, ["person", "inetOrgPerson"]);
        assert_eq!(config.naming_attribute, "cn");
        assert_eq!(config.group_member_attribute, "uniqueMember");
        assert_eq!(config.disable, DisableMode::MoveToOu { disabled_ou: "ou=disabled,dc=example,dc=org".into() });
        assert_eq!(config.password_mode, PasswordMode::Replace);
        assert_eq!(config.page_size, 2);
        assert_eq!(config.timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("url", json!(null), "connector attribute `url`: is required"),
            ("url", json!("http://x"), "connector attribute `url`: must start with ldap:// or ldaps://"),
            ("bindPassword", json!(7), "connector attribute `bindPassword`: must be a string"),
            ("baseDn", json!("people"), "connector attribute `baseDn`: `people` is not a DN"),
            ("pageSize", json!(0), "connector attribute `pageSize`: must be between 1 and 10000"),
            ("pageSize", json!("many"), "connector attribute `pageSize`: `many` is not a whole number"),
            (
                "disableMode",
                json!("lock"),
                "connector attribute `disableMode`: must be `attribute` or `ou`, not `lock`",
            ),
            ("disableMode", json!("ou"), "connector attribute `disabledOu`: is required"),
            (
                "namingAttribute",
                json!("u id"),
                "connector attribute `namingAttribute`: `u id` is not an attribute or class name",
            ),
            ("timeoutSeconds", json!(0), "connector attribute `timeoutSeconds`: must be at least 1"),
        ];
        for (key, bad, expected) in cases {
            let mut value = minimal();
            value[key] = bad;
            let error = LdapConfig::from_json(&value).expect_err(key);
            assert_eq!(error.to_string(), expected);
        }
        let error = LdapConfig::from_json(&json!([])).expect_err("not an object");
        assert_eq!(error.to_string(), "connector attribute `connectorAttributes`: must be a JSON object");
    }
}
