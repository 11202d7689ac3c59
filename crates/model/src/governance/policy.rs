//! A source's create policy (ISC's provisioning policy with `usageType: CREATE`): the attributes a new
//! account gets, each computed from the identity by a transform, as `provisioningPolicies` in the source.
//!
//! A field is `{"name": "userName", "transform": {...}, "isRequired": true}`; a field without a transform
//! takes the identity attribute of its own name. A required field that computes to nothing stops the
//! create with a message naming it; an optional one is left out.

use serde_json::{Map, Value};

use super::transform::Transform;
use super::{Account, Context, Error, expect_object, json_kind, pointer, pointer_index, required_str};

/// The create policy of a source.
#[derive(Debug, Clone, Default)]
pub struct CreatePolicy {
    fields: Vec<Field>,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    transform: Transform,
    required: bool,
}

impl CreatePolicy {
    /// Reads the `CREATE` policy of a source document's `provisioningPolicies`; a source without one has
    /// an empty policy. Errors point into the source document.
    pub fn parse(source: &Value) -> Result<Self, Error> {
        let policies = match source.get("provisioningPolicies") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(policies)) => policies,
            Some(other) => {
                let message = format!("expected an array, found {}", json_kind(other));
                return Err(Error::new("/provisioningPolicies", message));
            }
        };
        let mut fields: Vec<Field> = Vec::new();
        for (index, policy) in policies.iter().enumerate() {
            let at = pointer_index("/provisioningPolicies", index);
            let policy = expect_object(policy, &at)?;
            let usage = required_str(policy, "usageType", &at)?;
            if !matches!(usage, "CREATE" | "UPDATE" | "ENABLE" | "DISABLE" | "DELETE" | "ASSIGN" | "UNASSIGN") {
                return Err(Error::new(&pointer(&at, "usageType"), format!("`{usage}` is not a usage type")));
            }
            let list = match policy.get("fields") {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(list)) => list.as_slice(),
                Some(other) => {
                    let message = format!("expected an array, found {}", json_kind(other));
                    return Err(Error::new(&pointer(&at, "fields"), message));
                }
            };
            let mut parsed = Vec::with_capacity(list.len());
            for (n, field) in list.iter().enumerate() {
                parsed.push(parse_field(field, &pointer_index(&pointer(&at, "fields"), n))?);
            }
            // Only CREATE shapes new accounts; the other usages are checked and kept for later use.
            if usage == "CREATE" {
                if !fields.is_empty() {
                    return Err(Error::new(&pointer(&at, "usageType"), "a source has one CREATE policy"));
                }
                fields = parsed;
            }
        }
        Ok(Self { fields })
    }

    /// Whether the policy has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The new account's attributes for an identity with `attributes` and `accounts`, in field order;
    /// or the names of the required fields that computed to nothing.
    pub fn compute(
        &self,
        attributes: &Map<String, Value>,
        accounts: &[Account<'_>],
    ) -> Result<Vec<(String, String)>, Vec<String>> {
        let mut values = Vec::with_capacity(self.fields.len());
        let mut missing = Vec::new();
        for field in &self.fields {
            let ctx = Context { accounts, identity: attributes, implicit_input: None };
            match field.transform.evaluate(&ctx).filter(|v| !v.is_empty()) {
                Some(value) => values.push((field.name.clone(), value)),
                None if field.required => missing.push(field.name.clone()),
                None => {}
            }
        }
        if missing.is_empty() { Ok(values) } else { Err(missing) }
    }
}

fn parse_field(field: &Value, at: &str) -> Result<Field, Error> {
    let object = expect_object(field, at)?;
    let name = required_str(object, "name", at)?.to_owned();
    let transform = match object.get("transform") {
        None | Some(Value::Null) => Transform::parse(&serde_json::json!({
            "type": "identityAttribute", "attributes": {"name": name}
        }))?,
        Some(definition) => Transform::parse(definition).map_err(|e| {
            let inner = if e.pointer.is_empty() { String::new() } else { e.pointer.clone() };
            Error::new(&format!("{}{inner}", pointer(at, "transform")), e.message)
        })?,
    };
    let required = match object.get("isRequired") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(required)) => *required,
        Some(other) => {
            let message = format!("expected a boolean, found {}", json_kind(other));
            return Err(Error::new(&pointer(at, "isRequired"), message));
        }
    };
    Ok(Field { name, transform, required })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_compute_from_the_identity_and_required_ones_are_named_when_missing() {
        let source = json!({"provisioningPolicies": [{"usageType": "CREATE", "fields": [
            {"name": "userName", "transform": {"type": "lower", "attributes": {"input":
                {"type": "identityAttribute", "attributes": {"name": "uid"}}}}, "isRequired": true},
            {"name": "email", "isRequired": true},
            {"name": "title"},
        ]}]});
        let policy = CreatePolicy::parse(&source).expect("parses");
        let attributes = json!({"uid": "ADA", "email": "ada@example.org"});
        let values = policy.compute(attributes.as_object().expect("object"), &[]).expect("computes");
        assert_eq!(values, vec![("userName".into(), "ada".into()), ("email".into(), "ada@example.org".into())]);
        let attributes = json!({"uid": "ADA"});
        assert_eq!(policy.compute(attributes.as_object().expect("object"), &[]), Err(vec!["email".to_owned()]));
    }

    #[test]
    fn bad_policies_are_refused_with_a_pointer_into_the_source() {
        for (source, at) in [
            (json!({"provisioningPolicies": {}}), "/provisioningPolicies"),
            (json!({"provisioningPolicies": [{"usageType": "MAKE"}]}), "/provisioningPolicies/0/usageType"),
            (
                json!({"provisioningPolicies": [{"usageType": "CREATE", "fields": [{}]}]}),
                "/provisioningPolicies/0/fields/0/name",
            ),
            (
                json!({"provisioningPolicies": [{"usageType": "CREATE", "fields": [{"name": "x", "transform": {"type": "teleport"}}]}]}),
                "/provisioningPolicies/0/fields/0/transform/type",
            ),
            (
                json!({"provisioningPolicies": [{"usageType": "CREATE", "fields": [{"name": "x", "isRequired": "yes"}]}]}),
                "/provisioningPolicies/0/fields/0/isRequired",
            ),
        ] {
            let error = CreatePolicy::parse(&source).expect_err("refused");
            assert_eq!(error.pointer, at, "{error}");
        }
    }
}
