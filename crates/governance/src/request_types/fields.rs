//! The input of a delegated workflow: each mapped field's value, taken from the request's standard
//! attributes (requester email, subject, assignee email, the request id, people as objects), its
//! answers, earlier workflow steps' outputs, or literals — objects included.

use serde_json::{Map, Value, json};
use tessera_store::{IdentityRecord, IdentityStore, RequestStepRecord, Tx, TypeRequestRecord};

use super::definition::FieldSource;
use super::email_of;
use crate::{Governance, Result};

/// What the fields of one request draw on.
pub(super) struct Context<'a> {
    request: &'a TypeRequestRecord,
    requester: Option<IdentityRecord>,
    requested_for: Option<IdentityRecord>,
    assignee: Option<IdentityRecord>,
    steps: &'a [RequestStepRecord],
    now: tessera_model::Timestamp,
}

/// A person as a workflow sees them.
pub(super) fn person(identity: Option<&IdentityRecord>) -> Value {
    match identity {
        Some(i) => json!({"type": "IDENTITY", "id": i.id, "name": i.name, "email": email_of(i),
                          "managerId": i.manager_id}),
        None => Value::Null,
    }
}

impl<'a> Context<'a> {
    pub(super) async fn load(
        tx: &mut Tx,
        request: &'a TypeRequestRecord,
        steps: &'a [RequestStepRecord],
        now: tessera_model::Timestamp,
    ) -> Result<Context<'a>> {
        let requester = tx.identity(&request.requester_id).await?;
        let requested_for = tx.identity(&request.requested_for_id).await?;
        let assignee = match &request.assignee_id {
            Some(id) => tx.identity(id).await?,
            None => None,
        };
        Ok(Context { request, requester, requested_for, assignee, steps, now })
    }

    fn attribute(&self, name: &str) -> Value {
        let r = self.request;
        match name {
            "requesterEmail" => json!(self.requester.as_ref().and_then(email_of)),
            "requestSubject" => json!(r.subject),
            "assigneeEmail" => json!(self.assignee.as_ref().and_then(email_of)),
            "requestId" => json!(r.id),
            "requestTypeId" => json!(r.request_type_id),
            "requestTypeName" => json!(r.request_type_name),
            "requester" => person(self.requester.as_ref()),
            "requestedFor" => person(self.requested_for.as_ref()),
            "requestedForEmail" => json!(self.requested_for.as_ref().and_then(email_of)),
            "assignee" => person(self.assignee.as_ref()),
            _ => Value::Null,
        }
    }

    /// The value of one source.
    pub(super) fn value(&self, source: &FieldSource) -> Value {
        match source {
            FieldSource::Attribute(name) => self.attribute(name),
            FieldSource::Answer { key, label: false } => self.request.answers.get(key).cloned().unwrap_or(Value::Null),
            FieldSource::Answer { key, label: true } => {
                self.request.answer_labels.get(key).cloned().unwrap_or(Value::Null)
            }
            FieldSource::StepOutput { step, path } => {
                let output = self.steps.get(*step).and_then(|s| s.output.clone()).unwrap_or(Value::Null);
                path.eval(&output, self.now)
            }
            FieldSource::Literal(value) => value.clone(),
            FieldSource::Object(members) => self.fields(members),
        }
    }

    /// An object of fields.
    pub(super) fn fields(&self, fields: &[(String, FieldSource)]) -> Value {
        Value::Object(fields.iter().map(|(name, source)| (name.clone(), self.value(source))).collect::<Map<_, _>>())
    }
}

impl Governance {
    /// The input of a request's delegated workflow step.
    pub(super) async fn workflow_input(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        steps: &[RequestStepRecord],
        fields: &[(String, FieldSource)],
    ) -> Result<Value> {
        let context = Context::load(tx, request, steps, self.now()).await?;
        Ok(context.fields(fields))
    }
}
