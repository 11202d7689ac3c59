//! `/v3/workflow-library`: the actions, operators and triggers this server supports, from the
//! same catalogue the validator uses, in ISC's shapes.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tessera_flow::catalog::{self, Behaviour};

use crate::AppState;
use crate::error::ApiResult;

fn form_fields(action: &catalog::Action) -> Value {
    Value::Array(
        action
            .attributes
            .iter()
            .map(|a| json!({ "name": a.name, "required": a.required, "type": a.kind.describe(), "description": "" }))
            .collect(),
    )
}

fn is_operator(action: &catalog::Action) -> bool {
    matches!(
        action.behaviour,
        Behaviour::Choice | Behaviour::End | Behaviour::Loop | Behaviour::DefineVariable | Behaviour::UpdateVariable
    )
}

fn actions() -> Vec<Value> {
    catalog::ACTIONS
        .iter()
        .filter(|a| !is_operator(a))
        .map(|a| json!({ "id": a.id, "name": a.name, "type": "ACTION", "description": a.name, "formFields": form_fields(a), "deprecated": false, "versionNumber": 1, "isSimulationEnabled": true, "isDynamicSchema": false }))
        .collect()
}

fn operators() -> Vec<Value> {
    catalog::ACTIONS
        .iter()
        .filter(|a| is_operator(a))
        .map(|a| json!({ "id": a.id, "name": a.name, "type": "OPERATOR", "description": a.name, "formFields": form_fields(a), "deprecated": false, "isSimulationEnabled": true, "isDynamicSchema": false }))
        .collect()
}

fn triggers() -> Vec<Value> {
    catalog::TRIGGER_TYPES
        .iter()
        .map(|t| json!({ "id": t, "type": t, "name": t, "description": t, "deprecated": false, "isSimulationEnabled": true, "isDynamicSchema": false }))
        .collect()
}

pub(crate) async fn all(State(_): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(actions().into_iter().chain(operators()).chain(triggers()).collect())))
}

pub(crate) async fn list_actions(State(_): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(actions())))
}

pub(crate) async fn list_operators(State(_): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(operators())))
}

pub(crate) async fn list_triggers(State(_): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Array(triggers())))
}
