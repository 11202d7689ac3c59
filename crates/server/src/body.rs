//! The building blocks of the API's typed request bodies: values that check themselves as they are
//! read (a name that is not blank), and the documents Tessera keeps whole (a workflow definition, an
//! ISC object, a JSON Patch), each with the JSON Schema `/openapi.json` shows for it.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A string that is not empty once trimmed, kept trimmed: ids, names and types in bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NonBlank(String);

impl NonBlank {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for NonBlank {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for NonBlank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl JsonSchema for NonBlank {
    fn schema_name() -> Cow<'static, str> {
        "NonBlank".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "pattern": "\\S"})
    }
}

/// A JSON object whose members Tessera does not pick apart (a trigger's input, an event's payload).
pub(crate) type Object = Map<String, Value>;

/// A document Tessera keeps whole and checks itself, with the JSON pointer of each problem: a
/// workflow definition, or an ISC object (source, role, access profile…) read by its own rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Document(pub(crate) Value);

/// An absent document is an empty one: every member takes its default.
impl Default for Document {
    fn default() -> Self {
        Self(Value::Object(Map::new()))
    }
}

impl JsonSchema for Document {
    fn schema_name() -> Cow<'static, str> {
        "Document".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "A document kept whole (a workflow definition, or an ISC object such as a source, role \
                            or access profile) and checked by its own rules; a refusal lists each problem with its \
                            JSON pointer.",
            "additionalProperties": true,
        })
    }
}

/// A JSON Patch (RFC 6902), applied to the object as it stands while its row is held.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct JsonPatch(pub(crate) json_patch::Patch);

impl JsonSchema for JsonPatch {
    fn schema_name() -> Cow<'static, str> {
        "JsonPatch".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "description": "A JSON Patch (RFC 6902).",
            "items": {
                "type": "object",
                "required": ["op", "path"],
                "properties": {
                    "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
                    "path": {"type": "string"},
                    "from": {"type": "string"},
                    "value": {},
                },
            },
        })
    }
}

/// A reference to an object as ISC's bodies write one — `{"type", "id", "name"}` — or its id
/// alone; the type, when given, is kept for the reader to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) kind: Option<String>,
    pub(crate) id: String,
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let id = |value: Option<&Value>| match value {
            Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
            _ => Err(D::Error::custom("a reference needs an `id`, such as {\"id\": \"…\"}")),
        };
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Self { kind: None, id: id(Some(&Value::String(text)))? }),
            Value::Object(members) => {
                let kind = match members.get("type") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(kind)) => Some(kind.trim().to_owned()),
                    Some(_) => return Err(D::Error::custom("a reference's `type` is a string such as \"ROLE\"")),
                };
                Ok(Self { kind, id: id(members.get("id"))? })
            }
            other => Err(D::Error::custom(format!(
                "must be a reference such as {{\"id\": \"…\"}}, not {}",
                tessera_model::json_kind(&other)
            ))),
        }
    }
}

impl JsonSchema for Reference {
    fn schema_name() -> Cow<'static, str> {
        "Reference".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reference to an object: {\"type\", \"id\", \"name\"}, or its id alone.",
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "required": ["id"],
                    "properties": {
                        "type": {"type": "string"},
                        "id": {"type": "string", "minLength": 1},
                        "name": {"type": "string", "nullable": true},
                    },
                },
            ],
        })
    }
}

impl JsonPatch {
    /// The path each operation changes, in order.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        use json_patch::PatchOperation as Op;
        self.0.iter().map(|operation| match operation {
            Op::Add(op) => op.path.as_str(),
            Op::Remove(op) => op.path.as_str(),
            Op::Replace(op) => op.path.as_str(),
            Op::Move(op) => op.path.as_str(),
            Op::Copy(op) => op.path.as_str(),
            Op::Test(op) => op.path.as_str(),
        })
    }
}
