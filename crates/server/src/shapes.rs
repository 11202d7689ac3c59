//! The JSON shapes the API answers with, built from stored records the way ISC shapes them.

use serde_json::{Map, Value, json};
use tessera_model::Timestamp;
use tessera_store::{ExecutionRecord, WorkflowRecord};

/// An instant as ISC writes times (RFC 3339, UTC, milliseconds).
pub(crate) fn time(at: Timestamp) -> Value {
    Value::String(at.to_string())
}

/// A workflow as `/v3/workflows` returns it: the stored document with its id, state and counts.
pub(crate) fn workflow(record: &WorkflowRecord, counts: (i64, i64)) -> Value {
    let mut body = match &record.document {
        Value::Object(members) => members.clone(),
        _ => Map::new(),
    };
    body.insert("id".into(), json!(record.id));
    body.insert("name".into(), json!(record.name));
    body.insert("enabled".into(), json!(record.enabled));
    body.insert("executionCount".into(), json!(counts.0));
    body.insert("failureCount".into(), json!(counts.1));
    body.insert("created".into(), time(record.created_at));
    body.insert("modified".into(), time(record.modified_at));
    body.insert("creator".into(), json!({ "type": "IDENTITY", "id": record.creator, "name": record.creator }));
    // Tessera's additions: the version this is, and whether executions record inputs and outputs.
    body.insert("version".into(), json!(record.latest_version));
    body.insert("trace".into(), json!(record.trace));
    Value::Object(body)
}

/// The document to store from a create or update body: what the caller sent, less the fields the
/// server owns.
pub(crate) fn document(body: &Value) -> Value {
    let mut document = body.clone();
    if let Value::Object(members) = &mut document {
        for owned in [
            "id",
            "enabled",
            "executionCount",
            "failureCount",
            "created",
            "modified",
            "creator",
            "modifiedBy",
            "version",
            "trace",
        ] {
            members.remove(owned);
        }
    }
    document
}

/// An execution as `/v3/workflow-executions/{id}` returns it.
pub(crate) fn execution(record: &ExecutionRecord) -> Value {
    json!({
        "id": record.id,
        "workflowId": record.workflow_id,
        "requestId": record.id,
        "startTime": time(record.started_at),
        "closeTime": record.ended_at.map(time).unwrap_or(Value::Null),
        "status": record.status,
        "workflowVersion": record.version,
        "error": record.error,
    })
}

/// An audit actor (`client:<id>`, `identity:<id>`, `workflow:<execution>`, `access-request:<id>`,
/// `request:<id>`, `system…`) as a reference.
pub(crate) fn actor(actor: &str) -> Value {
    let (kind, id) = actor.split_once(':').unwrap_or((actor, ""));
    let kind = match kind {
        "client" => "API_CLIENT",
        "identity" => "IDENTITY",
        "workflow" => "WORKFLOW_EXECUTION",
        "access-request" => "ACCESS_REQUEST",
        "request" => "REQUEST",
        _ => return json!({"type": "SYSTEM", "id": actor}),
    };
    json!({"type": kind, "id": id})
}
