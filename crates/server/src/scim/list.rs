//! Lists and searches (RFC 7644 §3.4.2 and §3.4.3): `filter`, `sortBy` / `sortOrder`,
//! `startIndex` / `count` and the attributes asked for, over the resources of one type or, for
//! `POST /.search`, of both.

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::Response;
use scim_v2::filter::{AttrPath, Filter, PatchPath};
use serde_json::{Map, Value};

use super::filter::{matches, parse, sort, validate};
use super::resource::Projection;
use super::schema::{Kind, MAX_RESULTS};
use super::{Base, ScimError, ScimResult, groups, inbound_source, json_body, list_response, users};
use crate::AppState;

/// A list request, checked.
#[derive(Debug)]
pub(crate) struct ListQuery {
    pub(crate) filter: Option<Filter>,
    sort_by: Option<AttrPath>,
    descending: bool,
    /// 1-based.
    start: usize,
    count: usize,
    pub(crate) projection: Projection,
}

/// The raw parameters, from a query string or a `SearchRequest`.
#[derive(Debug, Default)]
struct Raw {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

fn number(name: &str, text: &str) -> ScimResult<i64> {
    text.trim()
        .parse()
        .map_err(|_| ScimError::bad_request("invalidValue", format!("`{name}` must be a whole number, not `{text}`")))
}

impl ListQuery {
    /// From a query string (parameter names ignore case).
    pub(crate) fn from_params(
        params: Result<Query<Vec<(String, String)>>, QueryRejection>,
        kinds: &[Kind],
    ) -> ScimResult<Self> {
        let Query(params) = params
            .map_err(|e| ScimError::bad_request("invalidValue", format!("the query string is unreadable: {e}")))?;
        let mut raw = Raw::default();
        for (name, value) in params {
            match name.to_ascii_lowercase().as_str() {
                "filter" => raw.filter = Some(value),
                "sortby" => raw.sort_by = Some(value),
                "sortorder" => raw.sort_order = Some(value),
                "startindex" => raw.start_index = Some(number("startIndex", &value)?),
                "count" => raw.count = Some(number("count", &value)?),
                "attributes" => raw.attributes.push(value),
                "excludedattributes" => raw.excluded.push(value),
                _ => {}
            }
        }
        Self::build(raw, kinds)
    }

    /// From a `SearchRequest` body (RFC 7644 §3.4.3).
    pub(crate) fn from_search(body: &Bytes, kinds: &[Kind]) -> ScimResult<Self> {
        let body = json_body(body)?;
        let Value::Object(members) = body else {
            return Err(ScimError::bad_request("invalidSyntax", "a search body is a SearchRequest object"));
        };
        let mut raw = Raw::default();
        let text = |value: &Value, name: &str| -> ScimResult<String> {
            match value {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(ScimError::bad_request("invalidValue", format!("`{name}` must be a string, not {other}"))),
            }
        };
        let list = |value: &Value, name: &str| -> ScimResult<Vec<String>> {
            match value {
                Value::Array(items) => items.iter().map(|i| text(i, name)).collect(),
                other => Ok(vec![text(other, name)?]),
            }
        };
        for (name, value) in &members {
            if value.is_null() {
                continue;
            }
            match name.to_ascii_lowercase().as_str() {
                "filter" => raw.filter = Some(text(value, name)?),
                "sortby" => raw.sort_by = Some(text(value, name)?),
                "sortorder" => raw.sort_order = Some(text(value, name)?),
                "startindex" => raw.start_index = Some(number(name, &text(value, name)?)?),
                "count" => raw.count = Some(number(name, &text(value, name)?)?),
                "attributes" => raw.attributes = list(value, name)?,
                "excludedattributes" => raw.excluded = list(value, name)?,
                _ => {}
            }
        }
        Self::build(raw, kinds)
    }

    fn build(raw: Raw, kinds: &[Kind]) -> ScimResult<Self> {
        let filter = match raw.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => {
                let filter = parse(text)?;
                // Valid for one of the kinds listed; the others simply do not match.
                let refusals = kinds.iter().map(|k| validate(*k, &filter).err());
                if let Some(Some(error)) = refusals.reduce(|a, b| a.and(b)) {
                    return Err(error);
                }
                Some(filter)
            }
            None => None,
        };
        let sort_by = match raw.sort_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => match text.parse::<PatchPath>() {
                Ok(PatchPath::Attr(path)) if kinds.iter().any(|k| k.resolve(&path).is_ok()) => Some(path),
                _ => {
                    return Err(ScimError::bad_request(
                        "invalidValue",
                        format!("`sortBy` `{text}` is not an attribute of what is listed"),
                    ));
                }
            },
            None => None,
        };
        let descending = match raw.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("`sortOrder` is ascending or descending, not `{other}`"),
                ));
            }
        };
        // RFC 7644 §3.4.2.4: a start below 1 means 1, a negative count means 0.
        let start = usize::try_from(raw.start_index.unwrap_or(1).max(1)).unwrap_or(1);
        let count = usize::try_from(raw.count.unwrap_or(MAX_RESULTS as i64).max(0)).unwrap_or(0).min(MAX_RESULTS);
        let projection = Projection::parse(&raw.attributes, &raw.excluded, kinds)?;
        Ok(Self { filter, sort_by, descending, start, count, projection })
    }

    /// Filters, sorts and pages rendered resources into a `ListResponse`.
    pub(crate) fn respond(&self, mut resources: Vec<(Kind, Map<String, Value>)>) -> Response {
        if let Some(filter) = &self.filter {
            resources.retain(|(kind, resource)| matches(*kind, resource, filter));
        }
        if let Some(path) = &self.sort_by {
            sort(&mut resources, path, self.descending);
        }
        let total = resources.len();
        let page: Vec<Value> = resources
            .into_iter()
            .skip(self.start - 1)
            .take(self.count)
            .map(|(kind, resource)| Value::Object(self.projection.apply(kind, resource)))
            .collect();
        list_response(page, total, self.start)
    }
}

/// `POST /.search`: Users and Groups at once.
pub(crate) async fn search_all(
    axum::extract::State(state): axum::extract::State<AppState>,
    Base(base): Base,
    body: Bytes,
) -> ScimResult<Response> {
    let query = ListQuery::from_search(&body, &[Kind::User, Kind::Group])?;
    let mut tx = state.begin().await?;
    let source = inbound_source(&mut tx).await?;
    let mut resources: Vec<(Kind, Map<String, Value>)> = Vec::new();
    resources
        .extend(users::all(&mut tx, &base, &source, query.filter.as_ref()).await?.into_iter().map(|u| (Kind::User, u)));
    resources.extend(groups::all(&mut tx, &base, &source).await?.into_iter().map(|g| (Kind::Group, g)));
    Ok(query.respond(resources))
}
