//! `/openapi.json`: the API described in OpenAPI 3.0, generated from the route table — every
//! operation with its path parameters, the scopes it needs as OAuth 2.0 security requirements (any
//! one of them will do), and the shapes of its refusals (Tessera's and ISC's error body, or SCIM's).
//! Request bodies, query parameters and typed answers come from the handlers' own signatures
//! ([`signature`]), as JSON Schemas of the serde types they use.

pub(crate) mod signature;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use tessera_model::permissions::{PERSON, levels_holding};

use crate::auth::ALL;
use crate::routes::{Access, Dialect, Operation};

/// The document, made once when the router is built.
#[derive(Debug)]
pub(crate) struct Document(String);

/// The document describing `operations`.
pub(crate) fn document(operations: &[Operation], types: Map<String, Value>) -> Document {
    let mut paths = Map::new();
    let mut scopes = BTreeSet::from([ALL]);
    for operation in operations {
        if let Access::AnyOf(any) = operation.access {
            scopes.extend(any.iter().copied());
        }
        let item = paths.entry(operation.path.clone()).or_insert_with(|| json!({}));
        item[operation.method.as_str().to_ascii_lowercase()] = describe(operation);
    }
    let scopes: Map<String, Value> = scopes
        .into_iter()
        .map(|scope| {
            let what = if scope == ALL { "every scope: an administrator's" } else { "see SECURITY.md" };
            (scope.to_owned(), json!(what))
        })
        .collect();
    let document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tessera",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Identity governance with a durable workflow engine: ISC's paths under /v3 and /beta, \
                            Tessera's under /tessera/v1, inbound SCIM 2.0 under /scim/v2. Every operation names the \
                            scopes that may call it; any one of them will do, and sp:scopes:all holds them all.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "A client's token from /oauth/token (client credentials).",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes}},
                },
            },
            "schemas": schemas(types, json!({
                "Error": {
                    "type": "object",
                    "description": "Tessera's and ISC's error body; `errors` lists each problem of a refused \
                                    document with its JSON pointer.",
                    "required": ["detailCode", "trackingId", "messages", "errorCode"],
                    "properties": {
                        "detailCode": {"type": "string"},
                        "trackingId": {"type": "string"},
                        "errorCode": {"type": "string", "description": "A stable code a program can act on."},
                        "messages": {"type": "array", "items": {"type": "object", "properties": {
                            "locale": {"type": "string"},
                            "localeOrigin": {"type": "string"},
                            "text": {"type": "string"},
                        }}},
                        "causes": {"type": "array", "items": {}},
                        "errors": {"type": "array", "items": {"type": "object", "properties": {
                            "code": {"type": "string"},
                            "pointer": {"type": "string"},
                            "message": {"type": "string"},
                        }}},
                    },
                },
                "ScimError": {
                    "type": "object",
                    "description": "SCIM's error body (RFC 7644 §3.12).",
                    "required": ["schemas", "status"],
                    "properties": {
                        "schemas": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "string"},
                        "scimType": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            })),
            "responses": {
                "Error": refusal("Refused", "application/json", "Error"),
                "ScimError": refusal("Refused", "application/scim+json", "ScimError"),
            },
        },
    });
    Document(document.to_string())
}

/// One operation: its id, summary, tag, path parameters, security and answers.
fn describe(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = operation
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(operation.signature.query.iter().cloned());
    let security: Vec<Value> = match operation.access {
        Access::Public => Vec::new(),
        Access::AnyOf(scopes) => scopes.iter().map(|scope| json!({"oauth2": [scope]})).collect(),
    };
    let error = match operation.dialect {
        Dialect::Api => json!({"$ref": "#/components/responses/Error"}),
        Dialect::Scim => json!({"$ref": "#/components/responses/ScimError"}),
    };
    let mut done = json!({"description": "Done"});
    if let Some(answer) = &operation.signature.answer {
        done["content"] = json!({"application/json": {"schema": answer}});
    }
    let mut responses = json!({"2XX": done, "4XX": error, "5XX": error});
    if operation.access != Access::Public {
        responses["401"] = error.clone();
        responses["403"] = error.clone();
    }
    // Who may call it when signed in: the user levels whose scopes include one of its scopes (and
    // every person, for what `PERSON` holds: their own things).
    let levels: Vec<String> = match operation.access {
        Access::Public => Vec::new(),
        Access::AnyOf(scopes) => {
            let mut levels: Vec<String> = levels_holding(scopes).iter().map(ToString::to_string).collect();
            if scopes.iter().any(|scope| PERSON.contains(scope)) {
                levels.insert(0, "PERSON".to_owned());
            }
            levels
        }
    };
    let mut described = json!({
        "operationId": operation_id(operation),
        "summary": operation.summary,
        "tags": [tag(&operation.path)],
        "parameters": parameters,
        "security": security,
        "x-tessera-user-levels": levels,
        "responses": responses,
    });
    if let Some((schema, required)) = &operation.signature.body {
        described["requestBody"] = json!({"required": required, "content": {"application/json": {"schema": schema}}});
    }
    described
}

/// The components' schemas: the API's own shapes, and the named types the handlers read and
/// answer.
fn schemas(types: Map<String, Value>, own: Value) -> Value {
    let mut schemas = types;
    if let Value::Object(own) = own {
        schemas.extend(own);
    }
    Value::Object(schemas)
}

fn refusal(description: &str, media_type: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {media_type: {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
    })
}

/// `get_v3_workflows_id` for `GET /v3/workflows/{id}`: unique, as method and path are.
fn operation_id(operation: &Operation) -> String {
    let path: String =
        operation.path.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let path: Vec<&str> = path.split('_').filter(|part| !part.is_empty()).collect();
    format!("{}_{}", operation.method.as_str().to_ascii_lowercase(), path.join("_"))
}

/// The group an operation is listed under: the first segment after its collection's prefix.
fn tag(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["v3" | "beta", rest @ ..] => rest,
        ["tessera", "v1", rest @ ..] | ["scim", "v2", rest @ ..] => rest,
        all => all,
    };
    let first = rest.first().copied().unwrap_or("api").trim_start_matches('.');
    match segments.first() {
        Some(&"scim") => format!("SCIM {first}"),
        _ => first.to_owned(),
    }
}

/// `GET /openapi.json`.
pub(crate) async fn serve(Extension(document): Extension<Arc<Document>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0.clone()).into_response()
}
