//! Lifecycle states (ISC `LifecycleState`): what happens to an identity's accounts and access when it enters one.

use serde_json::{Map, Value};

use super::{Error, expect_object, json_kind, optional_str, pointer, pointer_index, required_str};

/// A parsed, checked lifecycle state. `identityCount` and `emailNotificationOption` are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleState {
    name: Option<String>,
    technical_name: String,
    description: Option<String>,
    enabled: bool,
    account_actions: Vec<AccountActionRule>,
    access_profile_ids: Vec<String>,
    identity_state: Option<IdentityState>,
    remove_all_access: bool,
}

/// What entering the state does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountAction {
    Enable,
    Disable,
    Delete,
}

/// The identity state a lifecycle state stands for (`identityState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityState {
    Active,
    InactiveShortTerm,
    InactiveLongTerm,
}

/// One entry of `accountActions`: an action and the sources it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AccountActionRule {
    action: AccountAction,
    sources: Sources,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sources {
    /// `sourceIds`.
    Listed(Vec<String>),
    /// `allSources: true`, less `excludeSourceIds`.
    AllExcept(Vec<String>),
}

impl LifecycleState {
    /// Reads a `LifecycleState` object; errors point into it, e.g. `/accountActions/1/action`.
    pub fn parse(state: &Value) -> Result<Self, Error> {
        let object = expect_object(state, "")?;
        let technical_name = required_str(object, "technicalName", "")?;
        if !technical_name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-".contains(&byte))
        {
            let message = "may hold only lower-case letters, digits, `_` and `-`";
            return Err(Error::new("/technicalName", message));
        }
        let identity_state = match optional_str(object, "identityState", "")? {
            None => None,
            Some("ACTIVE") => Some(IdentityState::Active),
            Some("INACTIVE_SHORT_TERM") => Some(IdentityState::InactiveShortTerm),
            Some("INACTIVE_LONG_TERM") => Some(IdentityState::InactiveLongTerm),
            Some(other) => {
                let message = format!(
                    "unknown identity state `{other}` (expected ACTIVE, INACTIVE_SHORT_TERM or INACTIVE_LONG_TERM)"
                );
                return Err(Error::new("/identityState", message));
            }
        };
        let remove_all_access = match object.get("accessActionConfiguration") {
            None | Some(Value::Null) => false,
            Some(config) => {
                let config = expect_object(config, "/accessActionConfiguration")?;
                boolean(config, "removeAllAccessEnabled", "/accessActionConfiguration")?
            }
        };
        Ok(Self {
            name: optional_str(object, "name", "")?.map(str::to_owned),
            technical_name: technical_name.to_owned(),
            description: optional_str(object, "description", "")?.map(str::to_owned),
            enabled: boolean(object, "enabled", "")?,
            account_actions: account_actions(object)?,
            access_profile_ids: string_list(object, "accessProfileIds", "")?,
            identity_state,
            remove_all_access,
        })
    }

    /// The display name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The technical name: lower-case letters, digits, `_` and `-`; what `cloudLifecycleState` holds.
    pub fn technical_name(&self) -> &str {
        &self.technical_name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The access profiles an identity entering the state is given.
    pub fn access_profile_ids(&self) -> &[String] {
        &self.access_profile_ids
    }

    pub fn identity_state(&self) -> Option<IdentityState> {
        self.identity_state
    }

    /// Whether entering the state removes all the identity's access (`removeAllAccessEnabled`).
    pub fn removes_all_access(&self) -> bool {
        self.remove_all_access
    }

    /// What entering the state does to the identity's accounts on `source_id`: an action naming the source wins
    /// over one for all sources, which does not apply to the sources it excludes.
    pub fn account_action_for(&self, source_id: &str) -> Option<AccountAction> {
        let listed = self.account_actions.iter().find(|rule| match &rule.sources {
            Sources::Listed(ids) => ids.iter().any(|id| id == source_id),
            Sources::AllExcept(_) => false,
        });
        let all = || {
            self.account_actions.iter().find(|rule| match &rule.sources {
                Sources::AllExcept(excluded) => !excluded.iter().any(|id| id == source_id),
                Sources::Listed(_) => false,
            })
        };
        listed.or_else(all).map(|rule| rule.action)
    }
}

fn account_actions(object: &Map<String, Value>) -> Result<Vec<AccountActionRule>, Error> {
    let items = match object.get("accountActions") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(Error::new("/accountActions", format!("expected an array, found {}", json_kind(other))));
        }
    };
    let mut rules: Vec<AccountActionRule> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = pointer_index("/accountActions", index);
        let item = expect_object(item, &at)?;
        let action = match required_str(item, "action", &at)? {
            "ENABLE" => AccountAction::Enable,
            "DISABLE" => AccountAction::Disable,
            "DELETE" => AccountAction::Delete,
            other => {
                let message = format!("unknown account action `{other}` (expected ENABLE, DISABLE or DELETE)");
                return Err(Error::new(&pointer(&at, "action"), message));
            }
        };
        let listed = string_list(item, "sourceIds", &at)?;
        let excluded = string_list(item, "excludeSourceIds", &at)?;
        let sources = if boolean(item, "allSources", &at)? {
            if !listed.is_empty() {
                return Err(Error::new(&pointer(&at, "sourceIds"), "must be left out when allSources is true"));
            }
            if let Some(earlier) = rules.iter().position(|rule| matches!(rule.sources, Sources::AllExcept(_))) {
                let message = format!("/accountActions/{earlier} already applies to all sources");
                return Err(Error::new(&pointer(&at, "allSources"), message));
            }
            Sources::AllExcept(excluded)
        } else {
            if !excluded.is_empty() {
                return Err(Error::new(&pointer(&at, "excludeSourceIds"), "applies only when allSources is true"));
            }
            if listed.is_empty() {
                return Err(Error::new(&pointer(&at, "sourceIds"), "is required unless allSources is true"));
            }
            for (position, id) in listed.iter().enumerate() {
                let earlier = rules.iter().position(|rule| match &rule.sources {
                    Sources::Listed(ids) => ids.contains(id),
                    Sources::AllExcept(_) => false,
                });
                if let Some(earlier) = earlier {
                    let message = format!("source `{id}` already has an action in /accountActions/{earlier}");
                    return Err(Error::new(&pointer_index(&pointer(&at, "sourceIds"), position), message));
                }
            }
            Sources::Listed(listed)
        };
        rules.push(AccountActionRule { action, sources });
    }
    Ok(rules)
}

fn boolean(object: &Map<String, Value>, key: &str, at: &str) -> Result<bool, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(Error::new(&pointer(at, key), format!("expected a boolean, found {}", json_kind(other)))),
    }
}

/// An array of distinct non-empty strings; absent and null read as empty.
fn string_list(object: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>, Error> {
    let at = pointer(at, key);
    let items = match object.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(Error::new(&at, format!("expected an array, found {}", json_kind(other)))),
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_at = pointer_index(&at, index);
        let id = match item {
            Value::String(id) if !id.is_empty() => id,
            Value::String(_) => return Err(Error::new(&item_at, "must not be empty")),
            other => return Err(Error::new(&item_at, format!("expected a string, found {}", json_kind(other)))),
        };
        if out.contains(id) {
            return Err(Error::new(&item_at, format!("`{id}` is listed twice")));
        }
        out.push(id.clone());
    }
    Ok(out)
}
