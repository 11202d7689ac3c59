//! The SCIM schemas Tessera serves (RFC 7643 §8.7.1: User, Group and the enterprise User
//! extension, in `schemas.json` as scim2-server ships them), the resource types built on them,
//! how an attribute path resolves against them, and the discovery endpoints
//! (`/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`).

use std::sync::LazyLock;

use scim_v2::filter::AttrPath;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Base, ScimError, ScimResult, list_response, scim_json};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The most resources one list answers, announced as `filter.maxResults`.
pub(crate) const MAX_RESULTS: usize = 1000;

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// One attribute definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attribute {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: Type,
    pub(crate) multi_valued: bool,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) case_exact: bool,
    pub(crate) mutability: Mutability,
    pub(crate) returned: Returned,
    #[serde(default)]
    pub(crate) sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// The sub-attribute called `name`, ignoring case (RFC 7643 §2.1).
    pub(crate) fn sub(&self, name: &str) -> Option<&Attribute> {
        find(&self.sub_attributes, name)
    }
}

/// One schema: its id (a URN) and attributes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Schema {
    pub(crate) id: String,
    pub(crate) attributes: Vec<Attribute>,
}

/// The attribute called `name` in `attributes`, ignoring case.
pub(crate) fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

const SCHEMAS_JSON: &str = include_str!("schemas.json");

/// The schemas as served, and parsed.
struct Catalogue {
    served: Vec<Value>,
    parsed: Vec<Schema>,
    /// `id`, `externalId` and `meta` (RFC 7643 §3.1), which every resource has but no schema lists.
    common: Vec<Attribute>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    // A constant compiled into the binary; the unit test below parses it.
    let served: Vec<Value> = serde_json::from_str(SCHEMAS_JSON).expect("schemas.json is valid JSON");
    let parsed = served.iter().map(|s| Schema::deserialize(s).expect("schemas.json holds schemas")).collect();
    let common = serde_json::from_value(json!([
        {"name": "id", "type": "string", "multiValued": false, "caseExact": true, "mutability": "readOnly",
         "returned": "always"},
        {"name": "externalId", "type": "string", "multiValued": false, "caseExact": true,
         "mutability": "readWrite", "returned": "default"},
        {"name": "meta", "type": "complex", "multiValued": false, "mutability": "readOnly", "returned": "default",
         "subAttributes": [
            {"name": "resourceType", "type": "string", "multiValued": false, "caseExact": true,
             "mutability": "readOnly", "returned": "default"},
            {"name": "created", "type": "dateTime", "multiValued": false, "mutability": "readOnly",
             "returned": "default"},
            {"name": "lastModified", "type": "dateTime", "multiValued": false, "mutability": "readOnly",
             "returned": "default"},
            {"name": "location", "type": "reference", "multiValued": false, "caseExact": true,
             "mutability": "readOnly", "returned": "default"},
            {"name": "version", "type": "string", "multiValued": false, "caseExact": true,
             "mutability": "readOnly", "returned": "default"}]},
    ]))
    .expect("the common attributes parse");
    Catalogue { served, parsed, common }
});

fn schema(id: &str) -> &'static Schema {
    CATALOGUE.parsed.iter().find(|s| s.id == id).expect("the schema is in schemas.json")
}

/// A resource type: Users or Groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Group,
}

/// Where an attribute path leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'s> {
    /// An attribute, inside the extension object `container` when it is an extension's, and
    /// possibly one of its sub-attributes.
    Attribute { container: Option<&'static str>, attribute: &'s Attribute, sub: Option<&'s Attribute> },
    /// A whole extension, named by its URN alone.
    Extension(&'static str),
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub(crate) fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    pub(crate) fn core(self) -> &'static Schema {
        match self {
            Kind::User => schema(USER_SCHEMA),
            Kind::Group => schema(GROUP_SCHEMA),
        }
    }

    pub(crate) fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[ENTERPRISE_SCHEMA],
            Kind::Group => &[],
        }
    }

    /// The extension whose URN is `urn`, ignoring case.
    pub(crate) fn extension(self, urn: &str) -> Option<&'static str> {
        self.extensions().iter().copied().find(|e| e.eq_ignore_ascii_case(urn))
    }

    /// The top-level attribute `name` of the core schema or the common attributes.
    pub(crate) fn attribute(self, name: &str) -> Option<&'static Attribute> {
        find(&CATALOGUE.common, name).or_else(|| find(&self.core().attributes, name))
    }

    pub(crate) fn extension_attributes(urn: &'static str) -> &'static [Attribute] {
        &schema(urn).attributes
    }

    /// Resolves an attribute path (RFC 7644 §3.10): a core attribute by name or URN-prefixed, an
    /// extension attribute by URN prefix (or by bare name when no core attribute has it, as many
    /// clients write it), or a whole extension by its URN.
    pub(crate) fn resolve(self, path: &AttrPath) -> ScimResult<Resolved<'static>> {
        let unknown =
            || ScimError::bad_request("invalidPath", format!("`{}` is not an attribute of a {}", path, self.name()));
        let (container, attribute) = match &path.uri {
            Some(uri) if uri.eq_ignore_ascii_case(self.core().id.as_str()) => {
                (None, self.attribute(&path.name).ok_or_else(unknown)?)
            }
            Some(uri) => {
                let whole = format!("{uri}:{}", path.name);
                if let Some(urn) = self.extension(&whole)
                    && path.sub_attr.is_none()
                {
                    return Ok(Resolved::Extension(urn));
                }
                let urn = self.extension(uri).ok_or_else(unknown)?;
                (Some(urn), find(Self::extension_attributes(urn), &path.name).ok_or_else(unknown)?)
            }
            None => match self.attribute(&path.name) {
                Some(attribute) => (None, attribute),
                None => self
                    .extensions()
                    .iter()
                    .find_map(|urn| find(Self::extension_attributes(urn), &path.name).map(|a| (Some(*urn), a)))
                    .ok_or_else(unknown)?,
            },
        };
        let sub = match &path.sub_attr {
            Some(name) => Some(attribute.sub(name).ok_or_else(unknown)?),
            None => None,
        };
        Ok(Resolved::Attribute { container, attribute, sub })
    }
}

fn meta(base: &str, resource_type: &str, path: &str) -> Value {
    json!({"resourceType": resource_type, "location": format!("{base}/{path}")})
}

fn served_schema(base: &str, schema: &Value) -> Value {
    let mut schema = schema.clone();
    let id = schema.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    schema["schemas"] = json!([SCHEMA_SCHEMA]);
    schema["meta"] = meta(base, "Schema", &format!("Schemas/{id}"));
    schema
}

fn resource_type(base: &str, kind: Kind) -> Value {
    let extensions: Vec<Value> = kind.extensions().iter().map(|e| json!({"schema": e, "required": false})).collect();
    let mut body = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "description": match kind { Kind::User => "User Account", Kind::Group => "Group" },
        "endpoint": format!("/{}", kind.endpoint()),
        "schema": kind.core().id,
        "meta": meta(base, "ResourceType", &format!("ResourceTypes/{}", kind.name())),
    });
    if !extensions.is_empty() {
        body["schemaExtensions"] = Value::Array(extensions);
    }
    body
}

/// `GET /ServiceProviderConfig`: what Tessera supports of RFC 7644.
pub(crate) async fn service_provider_config(Base(base): Base) -> ScimResult<axum::response::Response> {
    Ok(scim_json(
        axum::http::StatusCode::OK,
        &json!({
            "schemas": [CONFIG_SCHEMA],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A token from Tessera's /oauth/token (client credentials) with the idn:scim:read or \
                                idn:scim:manage scope",
                "primary": true,
            }],
            "meta": meta(&base, "ServiceProviderConfig", "ServiceProviderConfig"),
        }),
    ))
}

/// `GET /Schemas`.
pub(crate) async fn schemas(Base(base): Base) -> ScimResult<axum::response::Response> {
    let all: Vec<Value> = CATALOGUE.served.iter().map(|s| served_schema(&base, s)).collect();
    let total = all.len();
    Ok(list_response(all, total, 1))
}

/// `GET /Schemas/{id}`.
pub(crate) async fn schema_by_id(
    Base(base): Base,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<axum::response::Response> {
    let found = CATALOGUE.served.iter().find(|s| s.get("id").and_then(Value::as_str) == Some(id.as_str()));
    match found {
        Some(schema) => Ok(scim_json(axum::http::StatusCode::OK, &served_schema(&base, schema))),
        None => Err(ScimError::not_found(format!("no schema has the id `{id}`"))),
    }
}

/// `GET /ResourceTypes`.
pub(crate) async fn resource_types(Base(base): Base) -> ScimResult<axum::response::Response> {
    let all = vec![resource_type(&base, Kind::User), resource_type(&base, Kind::Group)];
    Ok(list_response(all, 2, 1))
}

/// `GET /ResourceTypes/{id}`.
pub(crate) async fn resource_type_by_id(
    Base(base): Base,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ScimResult<axum::response::Response> {
    match [Kind::User, Kind::Group].into_iter().find(|k| k.name() == id) {
        Some(kind) => Ok(scim_json(axum::http::StatusCode::OK, &resource_type(&base, kind))),
        None => Err(ScimError::not_found(format!("no resource type has the id `{id}`; there are User and Group"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_schemas_parse_and_resolve() {
        assert_eq!(CATALOGUE.parsed.len(), 3);
        let path: scim_v2::filter::Filter =
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#.parse().unwrap();
        let scim_v2::filter::Filter::Attr(scim_v2::filter::AttrExp::Comparison(path, _, _)) = path else { panic!() };
        let Resolved::Attribute { container, attribute, sub } = Kind::User.resolve(&path).unwrap() else { panic!() };
        assert_eq!(
            (container, attribute.name.as_str(), sub.map(|s| s.name.as_str())),
            (Some(ENTERPRISE_SCHEMA), "manager", Some("value"))
        );
        assert!(Kind::Group.resolve(&path).is_err());
        let meta = AttrPath::with_sub_attr("META", "lastmodified");
        assert!(matches!(Kind::Group.resolve(&meta), Ok(Resolved::Attribute { sub: Some(_), .. })));
    }
}
