//! The action catalogue: every operator and action id Tessera knows, with its attributes and types.
//!
//! The validator checks definitions against this table; the workflow library API publishes it. An
//! action whose runtime is not built yet is still known here, so it validates and can be mocked.

use serde_json::Value;

/// The type an attribute's literal value must have (a `.$` key always holds a path instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Number,
    Object,
    Array,
    /// A string or an object (ISC exports some bodies either way).
    StringOrObject,
    /// A string or an array of strings.
    StringOrArray,
    /// One of these strings, compared case-insensitively.
    OneOf(&'static [&'static str]),
    /// An ISC duration such as `10m` or `7d`.
    Duration,
    Any,
}

impl Kind {
    /// Whether `value` has this type; `null` is accepted for attributes that are not required.
    pub fn accepts(self, value: &Value) -> bool {
        match (self, value) {
            (Kind::Any, _) => true,
            (Kind::String, Value::String(_)) => true,
            (Kind::Boolean, Value::Bool(_)) => true,
            (Kind::Number, Value::Number(_)) => true,
            (Kind::Number, Value::String(s)) => s.trim().parse::<f64>().is_ok(),
            (Kind::Object, Value::Object(_)) => true,
            (Kind::Array, Value::Array(_)) => true,
            (Kind::StringOrObject, Value::String(_) | Value::Object(_)) => true,
            (Kind::StringOrArray, Value::String(_)) => true,
            (Kind::StringOrArray, Value::Array(items)) => items.iter().all(Value::is_string),
            (Kind::OneOf(options), Value::String(s)) => {
                s.contains("{{") || options.iter().any(|o| o.eq_ignore_ascii_case(s))
            }
            (Kind::Duration, Value::String(s)) => s.is_empty() || s.parse::<tessera_model::Duration>().is_ok(),
            _ => false,
        }
    }

    /// How the type reads in an error message.
    pub fn describe(self) -> String {
        match self {
            Kind::String => "a string".into(),
            Kind::Boolean => "a boolean".into(),
            Kind::Number => "a number".into(),
            Kind::Object => "an object".into(),
            Kind::Array => "an array".into(),
            Kind::StringOrObject => "a string or an object".into(),
            Kind::StringOrArray => "a string or an array of strings".into(),
            Kind::OneOf(options) => format!("one of {}", options.join(", ")),
            Kind::Duration => "a duration such as 10m, 2h or 7d".into(),
            Kind::Any => "any value".into(),
        }
    }
}

/// One attribute of an action.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Attr {
    Attr { name, kind, required: false }
}

const fn req(name: &'static str, kind: Kind) -> Attr {
    Attr { name, kind, required: true }
}

/// What running an action means to the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Performed outside the interpreter (HTTP, email, identity data, provisioning…).
    External,
    /// Waits for time: `sp:sleep`.
    Sleep,
    /// Waits for a person to submit a form or decide an approval.
    Person,
    /// Shows a message to the person running an interactive process; completes at once.
    Message,
    /// Runs a body of steps per item: `sp:loop:iterator`.
    Loop,
    /// Define Variable.
    DefineVariable,
    /// Update Variable.
    UpdateVariable,
    /// A choice operator's id (`sp:compare-strings`…); the step's `choiceList` does the work.
    Choice,
    /// An end step's id.
    End,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    pub id: &'static str,
    pub name: &'static str,
    pub behaviour: Behaviour,
    pub attributes: &'static [Attr],
    /// Attribute name prefixes that take any value (`inputForForm_…`).
    pub open_prefixes: &'static [&'static str],
}

const METHODS: Kind = Kind::OneOf(&["get", "post", "put", "patch", "delete", "head", "options"]);
const HTTP_AUTH: Kind = Kind::OneOf(&["OAuth", "basic", "bearer", "bearerToken", "header", "none", "noAuth"]);
const CONTENT: Kind = Kind::OneOf(&["json", "form", "json-patch+json", "text", "xml"]);
const FORM_ATTRS: &[Attr] = &[
    req("formDefinitionId", Kind::String),
    opt("recipient", Kind::Any),
    opt("deadline", Kind::Duration),
    opt("reminder", Kind::Duration),
    opt("notificationSubject", Kind::String),
    opt("notificationBody", Kind::String),
    opt("reminderBody", Kind::String),
    opt("title", Kind::String),
    opt("interactiveProcessId", Kind::String),
    opt("ownerId", Kind::String),
];

/// Every action and operator, `sp:*` first, then Tessera's own.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "sp:http",
        name: "HTTP Request",
        behaviour: Behaviour::External,
        attributes: &[
            req("url", Kind::String),
            req("method", METHODS),
            opt("requestHeaders", Kind::Object),
            opt("urlParams", Kind::Object),
            opt("requestContentType", CONTENT),
            opt("jsonRequestBody", Kind::Any),
            opt("formRequestBody", Kind::StringOrObject),
            opt("jsonPatchRequestBody", Kind::Array),
            opt("textRequestBody", Kind::String),
            opt("authenticationType", HTTP_AUTH),
            opt("oAuthClientId", Kind::String),
            opt("oAuthClientSecret", Kind::String),
            opt("oAuthTokenUrl", Kind::String),
            opt("oAuthScope", Kind::String),
            opt("oAuthCredentialLocation", Kind::OneOf(&["oAuthInHeader", "oAuthInBody"])),
            opt("basicAuthUserName", Kind::String),
            opt("basicAuthPassword", Kind::String),
            opt("bearerToken", Kind::String),
            opt("headerAuthName", Kind::String),
            opt("headerAuthValue", Kind::String),
            opt("timeout", Kind::Duration),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:send-email",
        name: "Send Email",
        behaviour: Behaviour::External,
        attributes: &[
            req("recipientEmailList", Kind::StringOrArray),
            opt("subject", Kind::String),
            opt("body", Kind::String),
            opt("context", Kind::Object),
            opt("from", Kind::String),
            opt("replyTo", Kind::String),
            opt("cc", Kind::StringOrArray),
            opt("bcc", Kind::StringOrArray),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:get-identity",
        name: "Get Identity",
        behaviour: Behaviour::External,
        attributes: &[req("id", Kind::String)],
        open_prefixes: &[],
    },
    Action {
        id: "sp:get-identities",
        name: "Get List of Identities",
        behaviour: Behaviour::External,
        attributes: &[
            opt("searchBy", Kind::OneOf(&["searchQuery", "attribute"])),
            opt("inputQuery", Kind::String),
            opt("attribute", Kind::String),
            opt("value", Kind::String),
            opt("limit", Kind::Number),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:get-accounts",
        name: "Get Accounts",
        behaviour: Behaviour::External,
        attributes: &[
            opt("getAccountsBy", Kind::OneOf(&["specificIdentity", "filters"])),
            opt("identity", Kind::String),
            opt("filterCriteria", Kind::String),
            opt("operator", Kind::String),
            opt("value", Kind::String),
            opt("sourceId", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:access:get",
        name: "Get Access",
        behaviour: Behaviour::External,
        attributes: &[
            opt("getAccessBy", Kind::OneOf(&["specificIdentity", "searchQuery"])),
            opt("identityToReturn", Kind::String),
            opt("query", Kind::String),
            opt("roles", Kind::Boolean),
            opt("accessprofiles", Kind::Boolean),
            opt("entitlements", Kind::Boolean),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:access:manage",
        name: "Manage Access",
        behaviour: Behaviour::External,
        attributes: &[
            req("requestType", Kind::OneOf(&["GRANT_ACCESS", "REVOKE_ACCESS"])),
            opt("requestedItems", Kind::Array),
            opt("addIdentities", Kind::Any),
            opt("removeIdentity", Kind::Any),
            opt("removeDuration", Kind::Duration),
            opt("startDate", Kind::String),
            opt("comments", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:manage-account",
        name: "Manage Accounts",
        behaviour: Behaviour::External,
        attributes: &[
            req("operation", Kind::OneOf(&["enable", "disable", "unlock", "delete"])),
            opt("accountIds", Kind::Any),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:sleep",
        name: "Wait",
        behaviour: Behaviour::Sleep,
        attributes: &[
            req("type", Kind::OneOf(&["waitFor", "waitUntil"])),
            opt("duration", Kind::Duration),
            opt("date", Kind::String),
            opt("time", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:forms",
        name: "Form",
        behaviour: Behaviour::Person,
        attributes: FORM_ATTRS,
        open_prefixes: &["inputForForm_"],
    },
    Action {
        id: "sp:interactive-form",
        name: "Interactive Form",
        behaviour: Behaviour::Person,
        attributes: FORM_ATTRS,
        open_prefixes: &["inputForForm_"],
    },
    Action {
        id: "sp:interactive-message",
        name: "Interactive Message",
        behaviour: Behaviour::Message,
        attributes: &[
            opt("title", Kind::String),
            opt("message", Kind::String),
            opt("category", Kind::String),
            opt("interactiveProcessId", Kind::String),
            opt("ownerId", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:generic-approval",
        name: "Approval",
        behaviour: Behaviour::Person,
        attributes: &[
            req("approvers", Kind::Any),
            opt("subject", Kind::String),
            opt("description", Kind::String),
            opt("deadline", Kind::Duration),
            opt("reminder", Kind::Duration),
            opt("minimumApprovals", Kind::Number),
            // Tessera's: what the deadline does to an undecided approval (EXPIRE, the default, is not
            // approved; ESCALATE adds `escalateTo` and gives the item the same span again).
            opt("timeoutAction", Kind::OneOf(&["APPROVE", "DENY", "EXPIRE", "ESCALATE"])),
            opt("escalateTo", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:access-request-approval",
        name: "Access Request Approval",
        behaviour: Behaviour::Person,
        attributes: &[
            opt("approvers", Kind::Any),
            opt("approvalScheme", Kind::Any),
            opt("comment", Kind::String),
            opt("deadline", Kind::Duration),
            opt("reminder", Kind::Duration),
            opt("timeoutAction", Kind::OneOf(&["APPROVE", "DENY", "EXPIRE", "ESCALATE"])),
            opt("escalateTo", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:create-campaign",
        name: "Create Certification Campaign",
        behaviour: Behaviour::External,
        attributes: &[
            req("name", Kind::String),
            opt("description", Kind::String),
            opt("type", Kind::OneOf(&["MANAGER", "SOURCE_OWNER", "SEARCH", "ROLE_COMPOSITION", "MACHINE_ACCOUNT"])),
            opt("reviewers", Kind::Any),
            opt("identities", Kind::Any),
            opt("query", Kind::String),
            opt("deadline", Kind::Duration),
            opt("activate", Kind::Boolean),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:snow",
        name: "ServiceNow",
        behaviour: Behaviour::External,
        attributes: &[
            req("action", Kind::OneOf(&["create", "get", "update"])),
            opt("url", Kind::String),
            opt("authenticationType", HTTP_AUTH),
            opt("basicAuthUserName", Kind::String),
            opt("basicAuthPassword", Kind::String),
            opt("ticket", Kind::String),
            opt("caller", Kind::String),
            opt("shortDescription", Kind::String),
            opt("description", Kind::String),
            opt("subCategory", Kind::String),
            opt("urgency", Kind::String),
            opt("watchlist", Kind::String),
            opt("customFields", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:loop:iterator",
        name: "Loop",
        behaviour: Behaviour::Loop,
        attributes: &[
            req("input", Kind::Array),
            opt("context", Kind::Any),
            req("start", Kind::String),
            req("steps", Kind::Object),
            opt("parallelism", Kind::Number),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "sp:define-variable",
        name: "Define Variable",
        behaviour: Behaviour::DefineVariable,
        attributes: &[req("variables", Kind::Array)],
        open_prefixes: &[],
    },
    Action {
        id: "sp:update-variable",
        name: "Update Variable",
        behaviour: Behaviour::UpdateVariable,
        attributes: &[req("variables", Kind::Array)],
        open_prefixes: &[],
    },
    Action {
        id: "sp:compare-strings",
        name: "Compare Strings",
        behaviour: Behaviour::Choice,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:compare-numbers",
        name: "Compare Numbers",
        behaviour: Behaviour::Choice,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:compare-timestamps",
        name: "Compare Timestamps",
        behaviour: Behaviour::Choice,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:compare-booleans",
        name: "Compare Booleans",
        behaviour: Behaviour::Choice,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:verify-data-type",
        name: "Verify Data Type",
        behaviour: Behaviour::Choice,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:operator-success",
        name: "End Step - Success",
        behaviour: Behaviour::End,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "sp:operator-failure",
        name: "End Step - Failure",
        behaviour: Behaviour::End,
        attributes: &[],
        open_prefixes: &[],
    },
    Action {
        id: "tessera:call-workflow",
        name: "Call Workflow",
        behaviour: Behaviour::External,
        attributes: &[
            req("workflowId", Kind::String),
            opt("input", Kind::Any),
            opt("waitForCompletion", Kind::Boolean),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "tessera:script",
        name: "Run Script",
        behaviour: Behaviour::External,
        attributes: &[req("script", Kind::String), opt("input", Kind::Any), opt("timeout", Kind::Duration)],
        open_prefixes: &[],
    },
    Action {
        id: "tessera:provision",
        name: "Provision",
        behaviour: Behaviour::External,
        attributes: &[
            req("identityId", Kind::String),
            req("accountRequests", Kind::Array),
            opt("comments", Kind::String),
        ],
        open_prefixes: &[],
    },
    Action {
        id: "tessera:task",
        name: "Assign Task",
        behaviour: Behaviour::Person,
        attributes: &[
            req("assignee", Kind::Any),
            req("title", Kind::String),
            opt("description", Kind::String),
            opt("deadline", Kind::Duration),
        ],
        open_prefixes: &[],
    },
];

/// The catalogue entry for `id` (case-insensitive).
pub fn action(id: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.id.eq_ignore_ascii_case(id))
}

impl Action {
    /// The declared attribute `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&'static Attr> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether `name` is accepted: declared, or under an open prefix.
    pub fn accepts_name(&self, name: &str) -> bool {
        self.attribute(name).is_some() || self.open_prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// The trigger types a definition may declare.
pub const TRIGGER_TYPES: &[&str] =
    &["EVENT", "SCHEDULED", "EXTERNAL", "REQUEST_RESPONSE", "AccessRequestTrigger", "INTERACTIVE", "DELEGATED"];
