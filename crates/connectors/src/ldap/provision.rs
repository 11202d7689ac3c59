//! Carrying out account requests on the directory: each operation written so that doing it twice leaves
//! the directory as doing it once does.

use std::collections::HashSet;

use ldap3::exop::PasswordModify;
use ldap3::{Mod, dn_escape};
use serde_json::Value;

use super::config::{DisableMode, PasswordMode};
use super::conn::{check, from_ldap, from_result};
use super::{LdapConnector, MEMBER_OF, dn};
use crate::{AccountRequest, AttributeOperation, ConnectorError, Outcome};

// Result codes a repeated request meets and takes as done.
const NO_SUCH_ATTRIBUTE: u32 = 16;
const VALUE_EXISTS: u32 = 20;
const NO_SUCH_OBJECT: u32 = 32;
const ALREADY_EXISTS: u32 = 68;

/// Object classes whose entries must have `cn` and `sn`.
const PERSON_CLASSES: [&str; 3] = ["person", "organizationalPerson", "inetOrgPerson"];

impl LdapConnector {
    pub(super) async fn create(&self, request: &AccountRequest) -> Result<Outcome, ConnectorError> {
        let naming = self.config.naming_attribute.as_str();
        let mut attrs: Vec<(String, Vec<String>)> = Vec::new();
        let mut groups = Vec::new();
        for attr in &request.attributes {
            let values = ldap_values(&attr.name, &attr.value)?;
            if attr.operation == AttributeOperation::Remove {
                continue;
            }
            if attr.name.eq_ignore_ascii_case(MEMBER_OF) {
                groups.extend(values);
                continue;
            }
            let name = if attr.name.eq_ignore_ascii_case("familyName") { "sn" } else { attr.name.as_str() };
            match attrs.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, existing)) if attr.operation == AttributeOperation::Set => *existing = values,
                Some((_, existing)) => {
                    for value in values {
                        if !existing.contains(&value) {
                            existing.push(value);
                        }
                    }
                }
                None => attrs.push((name.to_owned(), values)),
            }
        }
        attrs.retain(|(_, values)| !values.is_empty());
        let naming_value = match get(&attrs, naming) {
            Some([value]) => value.clone(),
            Some(_) => return Err(ConnectorError::permanent(format!("a Create needs one value of `{naming}`"))),
            None => {
                return Err(ConnectorError::permanent(format!(
                    "a Create needs the attribute `{naming}`, which names the entry"
                )));
            }
        };
        if get(&attrs, "objectClass").is_none() {
            attrs.push(("objectClass".to_owned(), self.config.user_object_classes.clone()));
        }
        fill_person_names(&mut attrs, &naming_value);
        let dn = format!("{naming}={},{}", dn_escape(naming_value.as_str()), self.config.base_dn);

        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let entry: Vec<(String, HashSet<String>)> =
            attrs.into_iter().map(|(name, values)| (name, values.into_iter().collect())).collect();
        let context = format!("adding {dn}");
        let result =
            ldap.with_timeout(self.config.timeout).add(&dn, entry).await.map_err(|e| from_ldap(&context, e))?;
        // An entry that exists is the one an earlier try of this request added; the rest of the request is
        // carried out all the same, as that try may have stopped before it.
        if result.rc != ALREADY_EXISTS {
            check(&context, &result)?;
        }
        for group in &groups {
            self.add_membership(group, &dn).await?;
        }
        if let Some(password) = &request.password {
            self.set_password(&dn, password).await?;
        }
        self.success(dn).await
    }

    pub(super) async fn modify(&self, request: &AccountRequest) -> Result<Outcome, ConnectorError> {
        let dn = identity(request)?;
        let mut mods = Vec::new();
        let mut group_adds = Vec::new();
        let mut group_removes = Vec::new();
        let mut group_set = None;
        for attr in &request.attributes {
            let values = ldap_values(&attr.name, &attr.value)?;
            if attr.name.eq_ignore_ascii_case(MEMBER_OF) {
                match attr.operation {
                    AttributeOperation::Add => group_adds.extend(values),
                    AttributeOperation::Remove => group_removes.extend(values),
                    AttributeOperation::Set => group_set = Some(values),
                }
                continue;
            }
            let name = attr.name.clone();
            let values: HashSet<String> = values.into_iter().collect();
            match attr.operation {
                AttributeOperation::Set => mods.push(Mod::Replace(name, values)),
                AttributeOperation::Add if values.is_empty() => {}
                AttributeOperation::Add => mods.push(Mod::Add(name, values)),
                AttributeOperation::Remove => mods.push(Mod::Delete(name, values)),
            }
        }
        if mods.is_empty() {
            // Group changes alone still need an account to change.
            self.existing(dn).await?;
        } else {
            self.apply(dn, mods).await?;
        }
        if let Some(wanted) = group_set {
            let current = self.groups_of(dn).await?;
            let wanted_normal: HashSet<String> = wanted.iter().map(|g| dn::normalize(g)).collect();
            let current_normal: HashSet<String> = current.iter().map(|g| dn::normalize(g)).collect();
            group_adds.extend(wanted.into_iter().filter(|g| !current_normal.contains(&dn::normalize(g))));
            group_removes.extend(current.into_iter().filter(|g| !wanted_normal.contains(&dn::normalize(g))));
        }
        for group in &group_adds {
            self.add_membership(group, dn).await?;
        }
        for group in &group_removes {
            self.remove_membership(group, dn).await?;
        }
        if let Some(password) = &request.password {
            self.set_password(dn, password).await?;
        }
        self.success_existing(dn.to_owned()).await
    }

    pub(super) async fn set_enabled(&self, request: &AccountRequest, enable: bool) -> Result<Outcome, ConnectorError> {
        let dn = identity(request)?;
        match &self.config.disable {
            DisableMode::Attribute { name, disabled_value, enabled_value } => {
                let value = if enable { enabled_value.as_ref() } else { Some(disabled_value) };
                // Replacing with no values removes the attribute, and is no error when it is absent.
                self.apply(dn, vec![Mod::Replace(name.clone(), value.cloned().into_iter().collect())]).await?;
                self.success_existing(dn.to_owned()).await
            }
            DisableMode::MoveToOu { disabled_ou } => {
                let target = if enable { &self.config.base_dn } else { disabled_ou };
                let (rdn, parent) = dn::split_first(dn);
                if dn::normalize(parent) == dn::normalize(target) {
                    return self.success_existing(dn.to_owned()).await;
                }
                let new_dn = format!("{rdn},{target}");
                let mut ldap = self.ops.get(&self.config).await?.ldap;
                let context = format!("moving {dn} to {target}");
                let result = ldap
                    .with_timeout(self.config.timeout)
                    .modifydn(dn, rdn, true, Some(target))
                    .await
                    .map_err(|e| from_ldap(&context, e))?;
                // Gone from where it was: an earlier try moved it, if it is where it was going.
                let moved_before = result.rc == NO_SUCH_OBJECT && self.read_account(&new_dn).await?.is_some();
                if !moved_before {
                    check(&context, &result)?;
                }
                // Servers without referential integrity leave the groups naming the old DN.
                for group in self.groups_of(dn).await? {
                    self.add_membership(&group, &new_dn).await?;
                    self.remove_membership(&group, dn).await?;
                }
                self.success_existing(new_dn).await
            }
        }
    }

    pub(super) async fn change_password(&self, request: &AccountRequest) -> Result<Outcome, ConnectorError> {
        let dn = identity(request)?;
        let Some(password) = &request.password else {
            return Err(ConnectorError::permanent("a Password request needs a password"));
        };
        self.existing(dn).await?;
        self.set_password(dn, password).await?;
        self.success_existing(dn.to_owned()).await
    }

    pub(super) async fn delete(&self, request: &AccountRequest) -> Result<Outcome, ConnectorError> {
        let dn = identity(request)?;
        for group in self.groups_of(dn).await? {
            self.remove_membership(&group, dn).await?;
        }
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let context = format!("deleting {dn}");
        let result = ldap.with_timeout(self.config.timeout).delete(dn).await.map_err(|e| from_ldap(&context, e))?;
        if result.rc != NO_SUCH_OBJECT {
            check(&context, &result)?;
        }
        Ok(Outcome::Success { native_identity: dn.to_owned(), account: None })
    }

    /// The outcome for an account that must exist at `dn`.
    async fn success_existing(&self, dn: String) -> Result<Outcome, ConnectorError> {
        let outcome = self.success(dn).await?;
        match &outcome {
            Outcome::Success { native_identity, account: None } => Err(no_such_account(native_identity)),
            _ => Ok(outcome),
        }
    }

    async fn existing(&self, dn: &str) -> Result<(), ConnectorError> {
        match self.read_account(dn).await? {
            Some(_) => Ok(()),
            None => Err(no_such_account(dn)),
        }
    }

    /// Applies `mods` to `dn` in one modify. When that fails because a value to add is there already or a
    /// value to delete is not (a repeated request), applies them one value at a time, skipping those.
    async fn apply(&self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), ConnectorError> {
        let context = format!("modifying {dn}");
        let rc = self.modify_rc(dn, mods.clone(), &context).await?;
        if rc != VALUE_EXISTS && rc != NO_SUCH_ATTRIBUTE {
            return Ok(());
        }
        for one in mods {
            let (singles, tolerated) = match one {
                Mod::Add(name, values) => {
                    (values.into_iter().map(|v| Mod::Add(name.clone(), HashSet::from([v]))).collect(), VALUE_EXISTS)
                }
                Mod::Delete(name, values) if !values.is_empty() => (
                    values.into_iter().map(|v| Mod::Delete(name.clone(), HashSet::from([v]))).collect(),
                    NO_SUCH_ATTRIBUTE,
                ),
                Mod::Delete(name, values) => (vec![Mod::Delete(name, values)], NO_SUCH_ATTRIBUTE),
                other => (vec![other], 0),
            };
            for single in singles {
                let rc = self.modify_rc(dn, vec![single], &context).await?;
                if rc != 0 && rc != tolerated {
                    // `modify_rc` passed it back only because it is 16 or 20; it is no repeat here.
                    return Err(ConnectorError::permanent(format!("{context}: {} ({rc})", super::conn::code_name(rc))));
                }
            }
        }
        Ok(())
    }

    /// Runs one modify; `Ok` with the result code for success, 16 and 20, an error otherwise.
    async fn modify_rc(&self, dn: &str, mods: Vec<Mod<String>>, context: &str) -> Result<u32, ConnectorError> {
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let result =
            ldap.with_timeout(self.config.timeout).modify(dn, mods).await.map_err(|e| from_ldap(context, e))?;
        match result.rc {
            0 | NO_SUCH_ATTRIBUTE | VALUE_EXISTS => Ok(result.rc),
            _ => Err(from_result(context, &result)),
        }
    }

    async fn add_membership(&self, group: &str, member: &str) -> Result<(), ConnectorError> {
        let attribute = self.config.group_member_attribute.clone();
        let context = format!("adding {member} to group {group}");
        let rc = self.modify_rc(group, vec![Mod::Add(attribute, HashSet::from([member.to_owned()]))], &context).await?;
        if rc == NO_SUCH_ATTRIBUTE {
            return Err(ConnectorError::permanent(format!("{context}: noSuchAttribute ({rc})")));
        }
        Ok(())
    }

    /// Removes a membership; one that is not there (or a group that is gone) is removed already.
    async fn remove_membership(&self, group: &str, member: &str) -> Result<(), ConnectorError> {
        let attribute = self.config.group_member_attribute.clone();
        let context = format!("removing {member} from group {group}");
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let result = ldap
            .with_timeout(self.config.timeout)
            .modify(group, vec![Mod::Delete(attribute, HashSet::from([member.to_owned()]))])
            .await
            .map_err(|e| from_ldap(&context, e))?;
        match result.rc {
            0 | NO_SUCH_ATTRIBUTE | NO_SUCH_OBJECT => Ok(()),
            _ => Err(from_result(&context, &result)),
        }
    }

    async fn set_password(&self, dn: &str, password: &str) -> Result<(), ConnectorError> {
        let context = format!("setting the password of {dn}");
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let result = match self.config.password_mode {
            PasswordMode::Exop => {
                let exop = PasswordModify { user_id: Some(dn), old_pass: None, new_pass: Some(password) };
                ldap.with_timeout(self.config.timeout).extended(exop).await.map(|r| r.1)
            }
            PasswordMode::Replace => {
                let mods = vec![Mod::Replace("userPassword", HashSet::from([password]))];
                ldap.with_timeout(self.config.timeout).modify(dn, mods).await
            }
        };
        check(&context, &result.map_err(|e| from_ldap(&context, e))?)
    }
}

/// The request's native identity, which every operation but Create needs.
fn identity(request: &AccountRequest) -> Result<&str, ConnectorError> {
    match request.native_identity.as_deref().map(str::trim) {
        Some(dn) if !dn.is_empty() => Ok(dn),
        _ => Err(ConnectorError::permanent(format!(
            "a {} request needs the account's native identity (its DN)",
            request.operation.as_str()
        ))),
    }
}

fn no_such_account(dn: &str) -> ConnectorError {
    ConnectorError::permanent(format!("there is no account {dn}: noSuchObject (32)"))
}

/// An attribute request's value as LDAP values: null and empty strings are none, a string, number or
/// boolean is one, an array is its elements.
fn ldap_values(name: &str, value: &Value) -> Result<Vec<String>, ConnectorError> {
    fn one(name: &str, value: &Value, out: &mut Vec<String>) -> Result<(), ConnectorError> {
        match value {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(if *b { "TRUE" } else { "FALSE" }.to_owned()),
            Value::Array(_) | Value::Object(_) => {
                return Err(ConnectorError::permanent(format!(
                    "attribute `{name}`: a nested array or an object is not an LDAP value"
                )));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    match value {
        Value::Array(items) => {
            for item in items {
                one(name, item, &mut out)?;
            }
        }
        other => one(name, other, &mut out)?,
    }
    Ok(out)
}

fn get<'a>(attrs: &'a [(String, Vec<String>)], name: &str) -> Option<&'a [String]> {
    attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// Gives a person-family entry the `cn` and `sn` its object classes require, when the request lacks them:
/// `cn` from `displayName`, else `givenName` and `sn`, else the naming value; `sn` from the naming value.
fn fill_person_names(attrs: &mut Vec<(String, Vec<String>)>, naming_value: &str) {
    let is_person = get(attrs, "objectClass")
        .is_some_and(|classes| classes.iter().any(|c| PERSON_CLASSES.iter().any(|p| c.eq_ignore_ascii_case(p))));
    if !is_person {
        return;
    }
    let first = |attrs: &[(String, Vec<String>)], name: &str| get(attrs, name).and_then(|v| v.first()).cloned();
    if get(attrs, "cn").is_none() {
        let cn = first(attrs, "displayName")
            .or_else(|| Some(format!("{} {}", first(attrs, "givenName")?, first(attrs, "sn")?)))
            .unwrap_or_else(|| naming_value.to_owned());
        attrs.push(("cn".to_owned(), vec![cn]));
    }
    if get(attrs, "sn").is_none() {
        attrs.push(("sn".to_owned(), vec![naming_value.to_owned()]));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_values_become_ldap_values() {
        assert_eq!(ldap_values("a", &json!(null)).expect("ok"), Vec::<String>::new());
        assert_eq!(ldap_values("a", &json!("")).expect("ok"), Vec::<String>::new());
        assert_eq!(ldap_values("a", &json!(["x", 2, true, null])).expect("ok"), ["x", "2", "TRUE"]);
        let error = ldap_values("a", &json!({"x": 1})).expect_err("object");
        assert!(!error.retryable);
        assert_eq!(error.message, "attribute `a`: a nested array or an object is not an LDAP value");
    }

    #[test]
    fn person_names_are_derived() {
        let classes = ("objectClass".to_owned(), vec!["inetOrgPerson".to_owned()]);
        let mut attrs = vec![
            classes.clone(),
            ("givenName".to_owned(), vec!["Ada".to_owned()]),
            ("sn".to_owned(), vec!["Lovelace".to_owned()]),
        ];
        fill_person_names(&mut attrs, "ada");
        assert_eq!(get(&attrs, "cn"), Some(&["Ada Lovelace".to_owned()][..]));

        let mut attrs = vec![classes.clone(), ("displayName".to_owned(), vec!["Ada L.".to_owned()])];
        fill_person_names(&mut attrs, "ada");
        assert_eq!(get(&attrs, "cn"), Some(&["Ada L.".to_owned()][..]));
        assert_eq!(get(&attrs, "sn"), Some(&["ada".to_owned()][..]));

        let mut attrs = vec![("objectClass".to_owned(), vec!["device".to_owned()])];
        fill_person_names(&mut attrs, "d1");
        assert_eq!(get(&attrs, "cn"), None);
    }
}
