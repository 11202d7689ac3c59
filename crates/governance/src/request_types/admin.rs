//! Creating, changing and deleting teams, configuration lists and request types, each in one
//! transaction with its audit entry. Only an administrator (a client bound to no identity, or a
//! token with `sp:scopes:all`) creates and deletes teams and changes who is in them; a team's admins
//! rename and describe it; its admins (or every member, when the team says so) edit what it owns.
//! A team or list still named by something is not deleted (`InUse`).
//!
//! A request type whose actions (grants, delegated workflows) could run before anyone approved is
//! refused unless an administrator says `allowUnapprovedActions`: otherwise whoever edits a team's
//! types could grant themselves anything.

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{
    CatalogKind, CatalogStore, ConfigListRecord, IdentityStore, RequestTypeRecord, RequestTypeStore, SecurityStore,
    TeamMember, TeamRecord, Tx, TypeRequestStore,
};

use super::definition::Definition;
use super::lists::catalog_kind_of;
use super::{Actor, Error, Problem, Result, administrators_only, check, new_id};
use crate::Governance;

/// A team as submitted.
#[derive(Debug, Clone)]
pub struct TeamDraft {
    pub name: String,
    pub description: Option<String>,
    /// Identity ids, in order.
    pub members: Vec<String>,
    /// Members who edit the team (and, with `editors` ADMINS, what it owns).
    pub admins: Vec<String>,
    /// `ADMINS` or `MEMBERS`.
    pub editors: String,
}

/// A configuration list as submitted.
#[derive(Debug, Clone)]
pub struct ListDraft {
    pub name: String,
    pub description: Option<String>,
    pub team_id: String,
    pub list_type: String,
    /// `{"sourceId", "requestable"}` for a catalogue list.
    pub filter: Value,
    /// `(id, value, label)` of a CUSTOM list's items; ids are made for items without one.
    pub items: Vec<(Option<String>, String, Option<String>)>,
}

/// A request type as submitted.
#[derive(Debug, Clone)]
pub struct RequestTypeDraft {
    pub name: String,
    pub team_id: String,
    /// `DRAFT` or `PUBLISHED`.
    pub status: String,
    pub definition: Definition,
}

/// Whether `identity` may edit what `team` owns.
pub(super) fn may_edit_owned(team: &TeamRecord, identity: &str) -> bool {
    team.members.iter().any(|m| m.identity_id == identity && (m.admin || team.editors == "MEMBERS"))
}

async fn editable_team(tx: &mut Tx, team_id: &str, actor: Actor<'_>, pointer: &str) -> Result<TeamRecord> {
    let team =
        tx.team(team_id).await?.ok_or_else(|| Error::invalid(pointer, format!("no team has the id `{team_id}`")))?;
    if let Some(identity) = actor.identity
        && !may_edit_owned(&team, identity)
    {
        return Err(Error::Forbidden(format!(
            "identity {identity} may not edit what team `{}` owns: that takes one of its {}",
            team.name,
            if team.editors == "MEMBERS" { "members" } else { "admins" }
        )));
    }
    Ok(team)
}

/// Whether two versions of a team have the same members, admins and editors (in any order).
fn same_people(old: &TeamRecord, new: &TeamRecord) -> bool {
    let people = |team: &TeamRecord| {
        let mut people: Vec<(String, bool)> = team.members.iter().map(|m| (m.identity_id.clone(), m.admin)).collect();
        people.sort();
        people
    };
    old.editors == new.editors && people(old) == people(new)
}

fn in_use(what: &str, name: &str, users: &[(String, String)]) -> Error {
    let listed: Vec<String> = users.iter().map(|(kind, n)| format!("{kind} `{n}`")).collect();
    Error::InUse(format!("{what} `{name}` is still used by {}", listed.join(", ")))
}

impl Governance {
    /// The team a draft makes; `created_at` is the stored team's, or `None` for a new one.
    async fn team_record(
        &self,
        tx: &mut Tx,
        id: String,
        draft: &TeamDraft,
        created_at: Option<Timestamp>,
    ) -> Result<TeamRecord> {
        let mut problems = Vec::new();
        if !matches!(draft.editors.as_str(), "ADMINS" | "MEMBERS") {
            problems.push(Problem::at("/editors", "must be ADMINS or MEMBERS"));
        }
        for (i, member) in draft.members.iter().enumerate() {
            if tx.identity(member).await?.is_none() {
                problems.push(Problem::at(format!("/members/{i}"), format!("no identity has the id `{member}`")));
            } else if draft.members[..i].contains(member) {
                problems.push(Problem::at(format!("/members/{i}"), "is listed twice"));
            }
        }
        for (i, admin) in draft.admins.iter().enumerate() {
            if !draft.members.contains(admin) {
                problems.push(Problem::at(format!("/admins/{i}"), format!("`{admin}` is not one of the members")));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let now = self.now();
        Ok(TeamRecord {
            id,
            name: draft.name.clone(),
            description: draft.description.clone(),
            editors: draft.editors.clone(),
            members: draft
                .members
                .iter()
                .map(|m| TeamMember { identity_id: m.clone(), admin: draft.admins.contains(m) })
                .collect(),
            created_at: created_at.unwrap_or(now),
            modified_at: now,
        })
    }

    /// Creates a team; only an administrator may.
    pub async fn create_team(&self, draft: &TeamDraft, actor: Actor<'_>) -> Result<TeamRecord> {
        if !actor.administers() {
            return Err(administrators_only("creating a team"));
        }
        let mut tx = self.store.begin().await?;
        let team = self.team_record(&mut tx, new_id(), draft, None).await?;
        tx.insert_team(&team).await?;
        let detail =
            json!({"name": team.name, "members": draft.members, "admins": draft.admins, "editors": team.editors});
        tx.audit(actor.audit, "team.create", "team", &team.id, &detail, team.modified_at).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Replaces a team. Its admins may rename and describe it; changing its members, admins or
    /// editors takes an administrator.
    pub async fn update_team(&self, id: &str, draft: &TeamDraft, actor: Actor<'_>) -> Result<TeamRecord> {
        let mut tx = self.store.begin().await?;
        let old = tx.team(id).await?.ok_or_else(|| Error::NotFound(format!("team {id}")))?;
        self.require_team_admin(&old, actor)?;
        let team = self.team_record(&mut tx, id.to_owned(), draft, Some(old.created_at)).await?;
        if !actor.administers() && !same_people(&old, &team) {
            return Err(administrators_only("changing a team's members, admins or editors"));
        }
        tx.update_team(&team).await?;
        let detail =
            json!({"name": team.name, "members": draft.members, "admins": draft.admins, "editors": team.editors});
        tx.audit(actor.audit, "team.update", "team", id, &detail, team.modified_at).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Deletes a team no list or request type names; only an administrator may.
    pub async fn delete_team(&self, id: &str, actor: Actor<'_>) -> Result<()> {
        if !actor.administers() {
            return Err(administrators_only("deleting a team"));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let team = tx.team(id).await?.ok_or_else(|| Error::NotFound(format!("team {id}")))?;
        let users = tx.team_users(id).await?;
        if !users.is_empty() {
            return Err(in_use("team", &team.name, &users));
        }
        tx.delete_team(id).await?;
        tx.audit(actor.audit, "team.delete", "team", id, &json!({"name": team.name}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    fn require_team_admin(&self, team: &TeamRecord, actor: Actor<'_>) -> Result<()> {
        match actor.identity {
            Some(_) if actor.administers() => Ok(()),
            Some(identity) if !team.members.iter().any(|m| m.identity_id == identity && m.admin) => {
                Err(Error::Forbidden(format!("identity {identity} is not an admin of team `{}`", team.name)))
            }
            _ => Ok(()),
        }
    }

    async fn list_record(
        &self,
        tx: &mut Tx,
        id: String,
        draft: &ListDraft,
        created_at: Option<Timestamp>,
    ) -> Result<ConfigListRecord> {
        let mut problems = Vec::new();
        let kind = catalog_kind_of(&draft.list_type);
        let mut items = Vec::new();
        match (draft.list_type.as_str(), kind) {
            ("CUSTOM", _) => {
                if draft.items.is_empty() {
                    problems.push(Problem::at("/items", "a CUSTOM list needs at least one item"));
                }
                for (j, (item_id, value, label)) in draft.items.iter().enumerate() {
                    if value.trim().is_empty() {
                        problems.push(Problem::at(format!("/items/{j}/value"), "must not be empty"));
                    } else if draft.items[..j].iter().any(|(_, v, _)| v == value) {
                        problems.push(Problem::at(format!("/items/{j}/value"), format!("`{value}` is listed twice")));
                    }
                    if let Some(item_id) = item_id
                        && draft.items[..j].iter().any(|(other, _, _)| other.as_ref() == Some(item_id))
                    {
                        problems.push(Problem::at(format!("/items/{j}/id"), format!("`{item_id}` is used twice")));
                    }
                    items.push(json!({"id": item_id.clone().unwrap_or_else(new_id), "value": value,
                                      "label": label.clone().unwrap_or_else(|| value.clone())}));
                }
            }
            (list_type, Some(kind)) => {
                if !draft.items.is_empty() {
                    problems
                        .push(Problem::at("/items", format!("a {list_type} list reads its items from the catalogue")));
                }
                if let Some(source) = draft.filter.get("sourceId") {
                    let known = match source.as_str() {
                        Some(source) => tx.object(CatalogKind::Source, source).await?.is_some(),
                        None => false,
                    };
                    if !known {
                        problems.push(Problem::at("/filter/sourceId", format!("no source has the id {source}")));
                    } else if !matches!(kind, CatalogKind::Entitlement | CatalogKind::AccessProfile) {
                        problems
                            .push(Problem::at("/filter/sourceId", format!("a {list_type} list has no source filter")));
                    }
                }
                if draft.filter.get("requestable").is_some_and(|r| !r.is_boolean()) {
                    problems.push(Problem::at("/filter/requestable", "must be true or false"));
                }
            }
            _ => problems.push(Problem::at("/type", "must be CUSTOM, SOURCES, ENTITLEMENTS, ACCESS_PROFILES or ROLES")),
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let now = self.now();
        Ok(ConfigListRecord {
            id,
            name: draft.name.clone(),
            description: draft.description.clone(),
            team_id: draft.team_id.clone(),
            list_type: draft.list_type.clone(),
            filter: if kind.is_some() && draft.filter.is_object() { draft.filter.clone() } else { Value::Null },
            items: Value::Array(items),
            created_at: created_at.unwrap_or(now),
            modified_at: now,
        })
    }

    /// Creates a configuration list owned by a team the actor may edit for.
    pub async fn create_config_list(&self, draft: &ListDraft, actor: Actor<'_>) -> Result<ConfigListRecord> {
        let mut tx = self.store.begin().await?;
        editable_team(&mut tx, &draft.team_id, actor, "/teamId").await?;
        let list = self.list_record(&mut tx, new_id(), draft, None).await?;
        tx.insert_config_list(&list).await?;
        let detail = json!({"name": list.name, "teamId": list.team_id, "type": list.list_type});
        tx.audit(actor.audit, "configuration-list.create", "configuration-list", &list.id, &detail, list.modified_at)
            .await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Replaces a list. Its type cannot change while request types use it: their questions and grants
    /// were checked against it.
    pub async fn update_config_list(&self, id: &str, draft: &ListDraft, actor: Actor<'_>) -> Result<ConfigListRecord> {
        let mut tx = self.store.begin().await?;
        let old = tx.config_list(id).await?.ok_or_else(|| Error::NotFound(format!("configuration list {id}")))?;
        editable_team(&mut tx, &old.team_id, actor, "/teamId").await?;
        editable_team(&mut tx, &draft.team_id, actor, "/teamId").await?;
        let users = tx.config_list_users(id).await?;
        if !users.is_empty() && (old.list_type != draft.list_type || old.team_id != draft.team_id) {
            let named: Vec<(String, String)> = users.into_iter().map(|n| ("request type".into(), n)).collect();
            return Err(in_use("configuration list", &old.name, &named));
        }
        let list = self.list_record(&mut tx, id.to_owned(), draft, Some(old.created_at)).await?;
        tx.update_config_list(&list).await?;
        let detail = json!({"name": list.name, "teamId": list.team_id, "type": list.list_type});
        tx.audit(actor.audit, "configuration-list.update", "configuration-list", id, &detail, list.modified_at).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Deletes a list no request type uses.
    pub async fn delete_config_list(&self, id: &str, actor: Actor<'_>) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let list = tx.config_list(id).await?.ok_or_else(|| Error::NotFound(format!("configuration list {id}")))?;
        editable_team(&mut tx, &list.team_id, actor, "/teamId").await?;
        let users = tx.config_list_users(id).await?;
        if !users.is_empty() {
            let named: Vec<(String, String)> = users.into_iter().map(|n| ("request type".into(), n)).collect();
            return Err(in_use("configuration list", &list.name, &named));
        }
        tx.delete_config_list(id).await?;
        tx.audit(actor.audit, "configuration-list.delete", "configuration-list", id, &json!({"name": list.name}), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A list's items as they stand now.
    pub async fn config_list_items(&self, tx: &mut Tx, list: &ConfigListRecord) -> Result<Vec<super::ListItem>> {
        super::lists::items(tx, list).await
    }

    /// The draft's problems, or what it refers to. `actor` is who submitted the definition, who must
    /// be an administrator to allow unapproved actions; `None` when the definition is the stored one
    /// (only an administrator could have stored it so).
    async fn checked_type(
        &self,
        tx: &mut Tx,
        draft: &RequestTypeDraft,
        actor: Option<Actor<'_>>,
    ) -> Result<check::Refs> {
        if draft.definition.allow_unapproved_actions && actor.is_some_and(|a| !a.administers()) {
            return Err(administrators_only("a request type with `allowUnapprovedActions`"));
        }
        let mut problems = Vec::new();
        if !matches!(draft.status.as_str(), "DRAFT" | "PUBLISHED") {
            problems.push(Problem::at("/status", "must be DRAFT or PUBLISHED"));
        }
        problems.extend(draft.definition.unapproved_actions());
        let (found, refs) = check::references(tx, &draft.team_id, &draft.definition).await?;
        problems.extend(found);
        if problems.is_empty() { Ok(refs) } else { Err(Error::Invalid(problems)) }
    }

    /// Creates a request type owned by a team the actor may edit for.
    pub async fn create_request_type(&self, draft: &RequestTypeDraft, actor: Actor<'_>) -> Result<RequestTypeRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let refs = self.checked_type(&mut tx, draft, Some(actor)).await?;
        editable_team(&mut tx, &draft.team_id, actor, "/teamId").await?;
        let record = RequestTypeRecord {
            id: new_id(),
            name: draft.name.clone(),
            team_id: draft.team_id.clone(),
            status: draft.status.clone(),
            definition: draft.definition.to_json(),
            created_at: now,
            modified_at: now,
        };
        tx.insert_request_type(&record, &refs).await?;
        let detail = json!({"name": record.name, "teamId": record.team_id, "status": record.status});
        tx.audit(actor.audit, "request-type.create", "request-type", &record.id, &detail, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Replaces a request type; requests already raised keep the definition they were raised with.
    pub async fn update_request_type(
        &self,
        id: &str,
        draft: &RequestTypeDraft,
        actor: Actor<'_>,
    ) -> Result<RequestTypeRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let old = tx.request_type(id).await?.ok_or_else(|| Error::NotFound(format!("request type {id}")))?;
        editable_team(&mut tx, &old.team_id, actor, "/teamId").await?;
        let refs = self.checked_type(&mut tx, draft, Some(actor)).await?;
        editable_team(&mut tx, &draft.team_id, actor, "/teamId").await?;
        let record = RequestTypeRecord {
            id: id.to_owned(),
            name: draft.name.clone(),
            team_id: draft.team_id.clone(),
            status: draft.status.clone(),
            definition: draft.definition.to_json(),
            created_at: old.created_at,
            modified_at: now,
        };
        tx.update_request_type(&record, &refs).await?;
        let detail = json!({"name": record.name, "teamId": record.team_id, "status": record.status});
        tx.audit(actor.audit, "request-type.update", "request-type", id, &detail, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Publishes (`PUBLISHED`) or withdraws (`DRAFT`) a request type; publishing checks its
    /// references again, as a workflow or group it names may have changed since it was saved.
    pub async fn set_request_type_status(&self, id: &str, status: &str, actor: Actor<'_>) -> Result<RequestTypeRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut record = tx.request_type(id).await?.ok_or_else(|| Error::NotFound(format!("request type {id}")))?;
        editable_team(&mut tx, &record.team_id, actor, "/teamId").await?;
        let definition = stored_definition(&record.definition)?;
        let draft = RequestTypeDraft {
            name: record.name.clone(),
            team_id: record.team_id.clone(),
            status: status.into(),
            definition,
        };
        // Withdrawing is always allowed, even when something the type names has since gone.
        let refs = if status == "PUBLISHED" {
            self.checked_type(&mut tx, &draft, None).await?
        } else {
            check::references(&mut tx, &draft.team_id, &draft.definition).await?.1
        };
        record.status = status.to_owned();
        record.modified_at = now;
        tx.update_request_type(&record, &refs).await?;
        let action = if status == "PUBLISHED" { "request-type.publish" } else { "request-type.unpublish" };
        tx.audit(actor.audit, action, "request-type", id, &json!({"name": record.name}), now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes a request type with no open requests (their history stays).
    pub async fn delete_request_type(&self, id: &str, actor: Actor<'_>) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let record = tx.request_type(id).await?.ok_or_else(|| Error::NotFound(format!("request type {id}")))?;
        editable_team(&mut tx, &record.team_id, actor, "/teamId").await?;
        let open = tx.open_type_requests(id).await?;
        if open > 0 {
            return Err(Error::InUse(format!(
                "request type `{}` has {open} open request{}; cancel them or let them finish first",
                record.name,
                if open == 1 { "" } else { "s" }
            )));
        }
        tx.delete_request_type(id).await?;
        tx.audit(actor.audit, "request-type.delete", "request-type", id, &json!({"name": record.name}), now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A stored definition read back; one that no longer parses (a hand-edited database) is an error
/// naming what is wrong, not a panic.
pub(super) fn stored_definition(document: &Value) -> Result<Definition> {
    let map = document.as_object().cloned().unwrap_or_default();
    Definition::parse(&map).map_err(|problems| {
        Error::Engine(crate::Error::invalid(format!(
            "the stored definition does not parse: {}",
            super::describe(&problems)
        )))
    })
}
