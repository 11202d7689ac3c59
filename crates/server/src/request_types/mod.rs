//! Okta-style request types over HTTP, under `/tessera/v1`: teams, configuration lists, request
//! types, and the requests raised from them with their timeline. Bodies are read here (every problem
//! with its JSON pointer); `engine::request_types` checks references, decides who may act and does
//! the work.
//!
//! Scopes: `tessera:request-types:read|manage` for teams, lists and types; `tessera:requests:read|manage`
//! for requests. A token bound to an identity acts as that person: it edits only what its teams let it,
//! raises requests as itself and sees only the requests it is part of. A token bound to no identity
//! with a managing scope acts for the service: it edits anything, names the requester, and sees all.
//! Creating and deleting teams, changing their members, admins and editors, and a request type's
//! `allowUnapprovedActions` take an administrator: a token bound to no identity, or with `sp:scopes:all`.

mod admin;
mod requests;
mod types;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tessera_governance::request_types::{Actor, Error, Problem};

use tessera_model::Timestamp;
use tessera_store::{IdentityStore, Tx};

use crate::auth::{Principal, REQUEST_TYPES_MANAGE, REQUEST_TYPES_READ, REQUESTS_MANAGE, REQUESTS_READ};
use crate::error::ApiError;
use crate::routes::{Routes, any};

/// The routes.
pub(crate) fn routes(r: &mut Routes) {
    let read = any(&[REQUEST_TYPES_READ, REQUEST_TYPES_MANAGE]);
    let change = any(&[REQUEST_TYPES_MANAGE]);
    r.get("/tessera/v1/teams", read, "List teams", admin::list_teams);
    r.post("/tessera/v1/teams", change, "Create a team", admin::create_team);
    r.get("/tessera/v1/teams/{id}", read, "Get a team", admin::read_team);
    r.put("/tessera/v1/teams/{id}", change, "Replace a team", admin::replace_team);
    r.delete("/tessera/v1/teams/{id}", change, "Delete a team", admin::delete_team);
    r.get("/tessera/v1/configuration-lists", read, "List configuration lists", admin::list_lists);
    r.post("/tessera/v1/configuration-lists", change, "Create a configuration list", admin::create_list);
    r.get("/tessera/v1/configuration-lists/{id}", read, "Get a configuration list", admin::read_list);
    r.put("/tessera/v1/configuration-lists/{id}", change, "Replace a configuration list", admin::replace_list);
    r.delete("/tessera/v1/configuration-lists/{id}", change, "Delete a configuration list", admin::delete_list);
    r.get(
        "/tessera/v1/configuration-lists/{id}/items",
        any(&[REQUEST_TYPES_READ, REQUEST_TYPES_MANAGE, REQUESTS_MANAGE]),
        "A configuration list's items",
        admin::list_items,
    );
    let types = any(&[REQUEST_TYPES_READ, REQUEST_TYPES_MANAGE, REQUESTS_READ, REQUESTS_MANAGE]);
    r.get("/tessera/v1/request-types", types, "List request types", types::list);
    r.post("/tessera/v1/request-types", change, "Create a request type", types::create);
    r.get("/tessera/v1/request-types/{id}", types, "Get a request type", types::read);
    r.put("/tessera/v1/request-types/{id}", change, "Replace a request type", types::replace);
    r.delete("/tessera/v1/request-types/{id}", change, "Delete a request type", types::delete);
    r.post("/tessera/v1/request-types/{id}/publish", change, "Publish a request type", types::publish);
    r.post("/tessera/v1/request-types/{id}/unpublish", change, "Withdraw a request type", types::unpublish);
    let requests_read = any(&[REQUESTS_READ, REQUESTS_MANAGE]);
    let requesting = any(&[REQUESTS_MANAGE]);
    r.get("/tessera/v1/requests", requests_read, "List requests", requests::list);
    r.post("/tessera/v1/requests", requesting, "Raise a request", requests::submit);
    r.get("/tessera/v1/requests/{id}", requests_read, "Get a request", requests::read);
    r.get("/tessera/v1/requests/{id}/timeline", requests_read, "A request's timeline", requests::timeline);
    r.post("/tessera/v1/requests/{id}/cancel", requesting, "Cancel a request", requests::cancel);
    r.post("/tessera/v1/requests/{id}/comments", requesting, "Comment on a request", requests::comment);
}

/// The engine's refusals as API errors: every problem of an invalid body with its pointer, 403 for
/// what the actor may not do, 409 `in-use` for a team or list still named.
pub(crate) fn api(error: Error) -> ApiError {
    match error {
        Error::Invalid(problems) => ApiError::problems(problems),
        Error::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
        Error::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
        Error::InUse(message) => ApiError::new(StatusCode::CONFLICT, "in-use", message),
        Error::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
        Error::Engine(error) => error.into(),
    }
}

/// The engine's actor for this token.
fn actor<'a>(principal: &'a Principal, audit: &'a str) -> Actor<'a> {
    Actor { identity: principal.identity(), all_scopes: principal.require(crate::auth::ALL).is_ok(), audit }
}

/// The body's top-level object, or a located problem.
fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::invalid("", "the body must be a JSON object"))
}

/// Reads a body's members, collecting every problem.
#[derive(Debug, Default)]
struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    fn problem(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::at(pointer, message));
    }

    /// A string member; `None` (with a problem when required) when absent, null or blank.
    fn text(&mut self, map: &Map<String, Value>, key: &str, required: bool) -> Option<String> {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            None | Some(Value::Null) if !required => None,
            Some(Value::String(_)) if !required => None,
            None | Some(Value::Null) | Some(Value::String(_)) => {
                self.problem(format!("/{key}"), "is required");
                None
            }
            Some(other) => {
                self.problem(format!("/{key}"), format!("must be a string, not {other}"));
                None
            }
        }
    }

    /// A list of identity ids, as strings or `{"id": …}` references.
    fn ids(&mut self, map: &Map<String, Value>, key: &str) -> Vec<String> {
        let list = match map.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.problem(format!("/{key}"), "must be a list of identity ids");
                return Vec::new();
            }
        };
        let mut ids = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            match v.as_str().or_else(|| v.get("id").and_then(Value::as_str)).map(str::trim) {
                Some(id) if !id.is_empty() => ids.push(id.to_owned()),
                _ => self.problem(format!("/{key}/{i}"), "must be an identity id or {\"id\": …}"),
            }
        }
        ids
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.problems.is_empty() { Ok(value) } else { Err(ApiError::problems(self.problems)) }
    }
}

/// An instant as RFC 3339 text.
fn stamp(at: Timestamp) -> Value {
    tessera_governance::shapes::time(at)
}

/// `{"type": "IDENTITY", "id", "name"}`, or null.
async fn person(tx: &mut Tx, id: Option<&str>) -> Result<Value, ApiError> {
    let Some(id) = id else { return Ok(Value::Null) };
    let name = tx.identity(id).await?.map(|i| i.name);
    Ok(json!({"type": "IDENTITY", "id": id, "name": name}))
}
