//! A request type's references checked against the store: its team, audience, lists, approvers,
//! catalogue items and delegated workflows (which must exist, be enabled, have a `DELEGATED`
//! trigger, and declare the fields mapped to them when they declare any). Every problem keeps the
//! pointer of the place that names the missing or unfit thing.

use serde_json::Value;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, IdentityStore, RequestTypeStore, Tx, WorkflowRecord, WorkflowStore,
};

use super::definition::{Approver, Audience, Definition, GrantItem, OnTimeout, QuestionKind, StepKind};
use super::lists::grantable;
use super::{Problem, Result, escape};

/// A reference the request type keeps: `("TEAM" | "LIST", id)`.
pub(super) type Refs = Vec<(&'static str, String)>;

/// The problems of a definition owned by `team_id`, and what it refers to.
pub(super) async fn references(tx: &mut Tx, team_id: &str, definition: &Definition) -> Result<(Vec<Problem>, Refs)> {
    let mut problems = Vec::new();
    let mut refs: Refs = vec![("TEAM", team_id.to_owned())];
    if tx.team(team_id).await?.is_none() {
        problems.push(Problem::at("/teamId", format!("no team has the id `{team_id}`")));
    }
    if let Audience::Group(group) = &definition.audience {
        if tx.team(group).await?.is_some() {
            refs.push(("TEAM", group.clone()));
        } else if tx.object(CatalogKind::Workgroup, group).await?.is_none() {
            problems
                .push(Problem::at("/audience/groupId", format!("no governance group or team has the id `{group}`")));
        }
    }
    for (i, q) in definition.questions.iter().enumerate() {
        let QuestionKind::Dropdown { list_id } = &q.kind else { continue };
        let at = format!("/questions/{i}/configurationListId");
        match tx.config_list(list_id).await? {
            None => problems.push(Problem::at(at, format!("no configuration list has the id `{list_id}`"))),
            Some(list) if list.team_id != team_id => problems.push(Problem::at(
                at,
                format!(
                    "the list `{}` belongs to another team; a request type may use only its own team's lists",
                    list.name
                ),
            )),
            Some(_) => refs.push(("LIST", list_id.clone())),
        }
    }
    for (i, step) in definition.steps.iter().enumerate() {
        let at = format!("/steps/{i}");
        match &step.kind {
            StepKind::Approval { approver, deadline } => {
                match approver {
                    Approver::RequesterManager => {}
                    Approver::User(id) => {
                        if tx.identity(id).await?.is_none() {
                            problems.push(Problem::at(
                                format!("{at}/approver/USER"),
                                format!("no identity has the id `{id}`"),
                            ));
                        }
                    }
                    Approver::Group(id) => match tx.object(CatalogKind::Workgroup, id).await? {
                        None => problems.push(Problem::at(
                            format!("{at}/approver/GROUP"),
                            format!("no governance group has the id `{id}`"),
                        )),
                        Some(_) if tx.members(id).await?.is_empty() => problems.push(Problem::at(
                            format!("{at}/approver/GROUP"),
                            format!("governance group `{id}` has no members"),
                        )),
                        Some(_) => {}
                    },
                    Approver::Team(id) => match tx.team(id).await? {
                        None => problems
                            .push(Problem::at(format!("{at}/approver/TEAM"), format!("no team has the id `{id}`"))),
                        Some(team) if team.members.is_empty() => problems.push(Problem::at(
                            format!("{at}/approver/TEAM"),
                            format!("team `{}` has no members", team.name),
                        )),
                        Some(_) => refs.push(("TEAM", id.clone())),
                    },
                }
                if let Some(OnTimeout::Escalate(to)) = deadline.as_ref().map(|d| &d.on_timeout)
                    && tx.identity(to).await?.is_none()
                {
                    problems.push(Problem::at(
                        format!("{at}/onTimeout/ESCALATE"),
                        format!("no identity has the id `{to}`"),
                    ));
                }
            }
            StepKind::Task { .. } => {}
            StepKind::Grant { items } => {
                for (j, item) in items.iter().enumerate() {
                    let item_at = format!("{at}/items/{j}");
                    match item {
                        GrantItem::Catalog { kind, id } => {
                            if tx.object(CatalogKind::from(*kind), id).await?.is_none() {
                                problems
                                    .push(Problem::at(format!("{item_at}/id"), format!("no {kind} has the id `{id}`")));
                            }
                        }
                        GrantItem::Answer(key) => {
                            let list = match definition.question(key).map(|q| &q.kind) {
                                Some(QuestionKind::Dropdown { list_id }) => tx.config_list(list_id).await?,
                                _ => None,
                            };
                            if list.as_ref().is_none_or(|l| grantable(&l.list_type).is_none()) {
                                problems.push(Problem::at(
                                    format!("{item_at}/question"),
                                    format!(
                                        "question `{key}` is not a dropdown of an ENTITLEMENTS, ACCESS_PROFILES or \
                                         ROLES list"
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            StepKind::Workflow { workflow_id, fields, .. } => {
                let workflow = tx.workflow(workflow_id).await?;
                match delegated(workflow.as_ref(), workflow_id) {
                    Err(message) => problems.push(Problem::at(format!("{at}/workflowId"), message)),
                    Ok(workflow) => {
                        let mapped: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
                        problems.extend(check_fields(workflow, &mapped, &at));
                    }
                }
            }
        }
    }
    refs.sort();
    refs.dedup();
    Ok((problems, refs))
}

/// The workflow, if it can be called from a request type.
pub(super) fn delegated<'a>(
    workflow: Option<&'a WorkflowRecord>,
    id: &str,
) -> std::result::Result<&'a WorkflowRecord, String> {
    let workflow = workflow.ok_or_else(|| format!("no workflow has the id `{id}`"))?;
    let trigger = workflow.document["trigger"]["type"].as_str().unwrap_or("none");
    if trigger != "DELEGATED" {
        return Err(format!(
            "workflow `{}` has a {trigger} trigger; a request type can call only a workflow whose trigger is DELEGATED",
            workflow.name
        ));
    }
    if !workflow.enabled {
        return Err(format!("workflow `{}` is disabled; enable it before a request type calls it", workflow.name));
    }
    Ok(workflow)
}

/// The fields a delegated workflow declares in `trigger.attributes.fields`: names, or
/// `{"name", "required"}`; `None` when it declares none (then any field may be passed).
fn declared_fields(workflow: &WorkflowRecord) -> Option<Vec<(String, bool)>> {
    let fields = workflow.document["trigger"]["attributes"]["fields"].as_array()?;
    Some(
        fields
            .iter()
            .filter_map(|f| match f {
                Value::String(name) => Some((name.clone(), false)),
                Value::Object(map) => map
                    .get("name")
                    .and_then(Value::as_str)
                    .map(|n| (n.to_owned(), map.get("required").and_then(Value::as_bool).unwrap_or(false))),
                _ => None,
            })
            .collect(),
    )
}

fn check_fields(workflow: &WorkflowRecord, mapped: &[&str], at: &str) -> Vec<Problem> {
    let Some(declared) = declared_fields(workflow) else { return Vec::new() };
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = Vec::new();
    for name in mapped {
        if !names.contains(name) {
            problems.push(Problem::at(
                format!("{at}/fields/{}", escape(name)),
                format!("workflow `{}` declares no field `{name}` (it declares {})", workflow.name, names.join(", ")),
            ));
        }
    }
    for (name, required) in &declared {
        if *required && !mapped.contains(&name.as_str()) {
            problems.push(Problem::at(
                format!("{at}/fields"),
                format!("workflow `{}` requires the field `{name}`; map it", workflow.name),
            ));
        }
    }
    problems
}
