//! A request type's definition as types: its audience, questions and ordered steps, parsed from the
//! submitted JSON with every shape problem located by a JSON pointer, and written back in one
//! canonical form (what is stored, and copied into each request).

use serde_json::{Map, Value, json};
use tessera_flow::path::PathExpr;

use super::{Problem, escape};

/// Who may raise requests of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// Members of a governance group or of a team.
    Group(String),
}

/// What a question's answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    Text,
    Number,
    /// `YYYY-MM-DD` or an RFC 3339 time.
    Date,
    Boolean,
    /// One of a configuration list's values.
    Dropdown {
        list_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub key: String,
    pub prompt: String,
    pub kind: QuestionKind,
    pub required: bool,
}

/// Who decides an approval step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// The manager of the person the request is for (the requester, unless they asked for someone else).
    RequesterManager,
    User(String),
    /// Any member of a governance group.
    Group(String),
    /// Any member of a team.
    Team(String),
}

/// What happens when an approval's deadline passes undecided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnTimeout {
    Deny,
    Approve,
    /// Hand it to this identity too, for the same span again; denied if still undecided then.
    Escalate(String),
}

/// An approval's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDeadline {
    /// As written, e.g. `P3D`.
    pub after: String,
    pub after_ms: i64,
    pub reminder: Option<(String, i64)>,
    pub on_timeout: OnTimeout,
}

/// What a grant gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantItem {
    /// A role, access profile or entitlement, by id.
    Catalog { kind: tessera_model::AccessKind, id: String },
    /// The answer to a dropdown backed by an ENTITLEMENTS, ACCESS_PROFILES or ROLES list.
    Answer(String),
}

/// Where a delegated workflow's field takes its value from.
#[derive(Debug, Clone)]
pub enum FieldSource {
    /// A standard attribute of the request (see [`STANDARD_ATTRIBUTES`]).
    Attribute(String),
    /// A question's answer, or its dropdown label.
    Answer {
        key: String,
        label: bool,
    },
    /// A value in the output of an earlier workflow step.
    StepOutput {
        step: usize,
        path: PathExpr,
    },
    Literal(Value),
    /// An object built from other sources.
    Object(Vec<(String, FieldSource)>),
}

/// One step of the flow.
#[derive(Debug, Clone)]
pub enum StepKind {
    Approval {
        approver: Approver,
        deadline: Option<StepDeadline>,
    },
    /// A custom task for the request's assignee.
    Task {
        title: String,
        description: Option<String>,
        mark_done_automatically: bool,
    },
    Grant {
        items: Vec<GrantItem>,
    },
    /// A delegated workflow, waited for.
    Workflow {
        workflow_id: String,
        fields: Vec<(String, FieldSource)>,
        continue_on_error: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
}

impl Step {
    /// `APPROVAL`, `TASK` or `ACTION`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            StepKind::Approval { .. } => "APPROVAL",
            StepKind::Task { .. } => "TASK",
            StepKind::Grant { .. } | StepKind::Workflow { .. } => "ACTION",
        }
    }
}

/// A whole definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub description: Option<String>,
    pub audience: Audience,
    pub questions: Vec<Question>,
    pub steps: Vec<Step>,
    /// Lets actions run with no approval before them; only an administrator may say so.
    pub allow_unapproved_actions: bool,
}

/// The standard attributes a workflow field can take: Okta's three, and Tessera's additions.
pub const STANDARD_ATTRIBUTES: &[&str] = &[
    "requesterEmail",
    "requestSubject",
    "assigneeEmail",
    "requestId",
    "requestTypeId",
    "requestTypeName",
    "requester",
    "requestedFor",
    "requestedForEmail",
    "assignee",
];

/// Collects problems while walking a body.
#[derive(Debug, Default)]
struct Check {
    problems: Vec<Problem>,
}

impl Check {
    fn problem(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { pointer: pointer.into(), message: message.into() });
    }

    fn text(&mut self, map: &Map<String, Value>, key: &str, at: &str, required: bool) -> Option<String> {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            None | Some(Value::Null) if !required => None,
            Some(Value::String(_)) if !required => None,
            Some(Value::String(_)) => {
                self.problem(format!("{at}/{key}"), "must not be empty");
                None
            }
            None | Some(Value::Null) => {
                self.problem(format!("{at}/{key}"), "is required");
                None
            }
            Some(other) => {
                self.problem(
                    format!("{at}/{key}"),
                    format!("must be a string, not {}", tessera_model::json_kind(other)),
                );
                None
            }
        }
    }

    fn flag(&mut self, map: &Map<String, Value>, key: &str, at: &str) -> bool {
        match map.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(format!("{at}/{key}"), format!("must be true or false, not {other}"));
                false
            }
        }
    }
}

/// A question key becomes part of pointers (`/answers/<key>`), so it keeps to a plain name.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && key.len() <= 64
}

/// The longest deadline or reminder a step may have. Longer is surely a mistake, and bounding it keeps
/// `now + span` far from overflowing.
pub const MAX_DURATION_MS: i64 = 365 * 86_400_000;

/// Milliseconds in an ISO-8601 duration (`P3D`, `PT4H`, `P1DT12H`, `P2W`) or in ISC's form (`3d`,
/// `1h30m`), at most [`MAX_DURATION_MS`]. Years and months are refused: their length depends on the
/// calendar, and a deadline should mean the same span whenever it starts.
pub fn duration_ms(text: &str) -> Result<i64, String> {
    let ms = unbounded_ms(text)?;
    if ms > MAX_DURATION_MS {
        return Err(format!("`{text}` is longer than 365 days (`P365D`), the longest a step may wait"));
    }
    Ok(ms)
}

fn unbounded_ms(text: &str) -> Result<i64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix('P') else {
        return text
            .parse::<tessera_model::duration::Duration>()
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).saturating_mul(1000))
            .map_err(|e| format!("{e}; or write an ISO-8601 duration such as `P3D` or `PT4H`"));
    };
    let bad = |why: &str| format!("`{text}` is not an ISO-8601 duration: {why} (write e.g. `P3D`, `PT4H`, `P1DT12H`)");
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return Err(bad("nothing follows `T`")),
        Some((date, time)) => (date, time),
        None => (rest, ""),
    };
    let mut seconds: i64 = 0;
    let mut any = false;
    for (part, in_time) in [(date, false), (time, true)] {
        let mut digits = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad("a unit without a number"))?;
            let unit = match (ch, in_time) {
                ('W', false) => 604_800,
                ('D', false) => 86_400,
                ('H', true) => 3_600,
                ('M', true) => 60,
                ('S', true) => 1,
                ('Y' | 'M', false) => return Err(bad("years and months vary in length; use weeks or days")),
                _ => return Err(bad(&format!("unexpected `{ch}`"))),
            };
            seconds = seconds.saturating_add(n.saturating_mul(unit));
            digits.clear();
            any = true;
        }
        if !digits.is_empty() {
            return Err(bad("a number without a unit"));
        }
    }
    if !any || seconds == 0 {
        return Err(bad("it is empty or zero"));
    }
    Ok(seconds.saturating_mul(1000))
}

impl Definition {
    /// Parses a request type body's `description`, `audience`, `questions` and `steps`; every shape
    /// problem is reported with its pointer. References (teams, lists, workflows, people) are checked
    /// against the store separately.
    pub fn parse(body: &Map<String, Value>) -> Result<Definition, Vec<Problem>> {
        let mut check = Check::default();
        let description = check.text(body, "description", "", false);
        let audience = match body.get("audience") {
            None | Some(Value::Null) => Audience::Everyone,
            Some(Value::String(s)) if s == "EVERYONE" => Audience::Everyone,
            Some(Value::Object(map)) => match map.get("groupId") {
                Some(Value::String(id)) if !id.trim().is_empty() => Audience::Group(id.trim().to_owned()),
                _ => {
                    check.problem("/audience/groupId", "name a governance group or team id");
                    Audience::Everyone
                }
            },
            Some(other) => {
                check.problem("/audience", format!("must be \"EVERYONE\" or {{\"groupId\": \"…\"}}, not {other}"));
                Audience::Everyone
            }
        };
        let questions = parse_questions(&mut check, body.get("questions"));
        let steps = parse_steps(&mut check, body.get("steps"), &questions);
        let allow_unapproved_actions = check.flag(body, "allowUnapprovedActions", "");
        if check.problems.is_empty() {
            Ok(Definition { description, audience, questions, steps, allow_unapproved_actions })
        } else {
            Err(check.problems)
        }
    }

    /// The canonical JSON of the definition; [`Definition::parse`] reads it back unchanged.
    pub fn to_json(&self) -> Value {
        let audience = match &self.audience {
            Audience::Everyone => json!("EVERYONE"),
            Audience::Group(id) => json!({"groupId": id}),
        };
        let questions: Vec<Value> = self
            .questions
            .iter()
            .map(|q| {
                let mut out = json!({"key": q.key, "prompt": q.prompt, "required": q.required});
                let (kind, list) = match &q.kind {
                    QuestionKind::Text => ("TEXT", None),
                    QuestionKind::Number => ("NUMBER", None),
                    QuestionKind::Date => ("DATE", None),
                    QuestionKind::Boolean => ("BOOLEAN", None),
                    QuestionKind::Dropdown { list_id } => ("DROPDOWN", Some(list_id)),
                };
                out["type"] = json!(kind);
                if let Some(list) = list {
                    out["configurationListId"] = json!(list);
                }
                out
            })
            .collect();
        let steps: Vec<Value> = self.steps.iter().map(step_json).collect();
        json!({"description": self.description, "audience": audience, "questions": questions, "steps": steps,
               "allowUnapprovedActions": self.allow_unapproved_actions})
    }

    /// A problem at each action (grant or delegated workflow) that no approval comes before, unless
    /// the definition allows unapproved actions. An approval that approves itself when its deadline
    /// passes does not count: waiting it out would let the action run with nobody's word.
    pub fn unapproved_actions(&self) -> Vec<Problem> {
        if self.allow_unapproved_actions {
            return Vec::new();
        }
        let gate = self.steps.iter().position(|s| match &s.kind {
            StepKind::Approval { deadline, .. } => {
                !deadline.as_ref().is_some_and(|d| d.on_timeout == OnTimeout::Approve)
            }
            _ => false,
        });
        self.steps
            .iter()
            .enumerate()
            .take(gate.unwrap_or(self.steps.len()))
            .filter(|(_, s)| s.type_name() == "ACTION")
            .map(|(i, _)| {
                Problem::at(
                    format!("/steps/{i}"),
                    "an action must follow an approval: put an APPROVAL step (one that does not approve on \
                     timeout) before it",
                )
            })
            .collect()
    }

    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key == key)
    }
}

fn step_json(step: &Step) -> Value {
    let mut out = match &step.kind {
        StepKind::Approval { approver, deadline } => {
            let approver = match approver {
                Approver::RequesterManager => json!("REQUESTER_MANAGER"),
                Approver::User(id) => json!({"USER": id}),
                Approver::Group(id) => json!({"GROUP": id}),
                Approver::Team(id) => json!({"TEAM": id}),
            };
            let mut out = json!({"type": "APPROVAL", "approver": approver});
            if let Some(d) = deadline {
                out["deadline"] = json!(d.after);
                if let Some((text, _)) = &d.reminder {
                    out["reminder"] = json!(text);
                }
                out["onTimeout"] = match &d.on_timeout {
                    OnTimeout::Deny => json!("DENY"),
                    OnTimeout::Approve => json!("APPROVE"),
                    OnTimeout::Escalate(to) => json!({"ESCALATE": to}),
                };
            }
            out
        }
        StepKind::Task { title, description, mark_done_automatically } => json!({"type": "TASK", "title": title,
            "description": description, "markDoneAutomatically": mark_done_automatically}),
        StepKind::Grant { items } => {
            let items: Vec<Value> = items
                .iter()
                .map(|i| match i {
                    GrantItem::Catalog { kind, id } => json!({"type": kind, "id": id}),
                    GrantItem::Answer(key) => json!({"question": key}),
                })
                .collect();
            json!({"type": "ACTION", "action": "GRANT", "items": items})
        }
        StepKind::Workflow { workflow_id, fields, continue_on_error } => json!({"type": "ACTION", "action": "WORKFLOW",
            "workflowId": workflow_id, "fields": fields_json(fields), "continueOnError": continue_on_error}),
    };
    out["name"] = json!(step.name);
    out
}

fn fields_json(fields: &[(String, FieldSource)]) -> Value {
    Value::Object(fields.iter().map(|(name, source)| (name.clone(), source_json(source))).collect())
}

fn source_json(source: &FieldSource) -> Value {
    match source {
        FieldSource::Attribute(name) => json!({"attribute": name}),
        FieldSource::Answer { key, label: false } => json!({"question": key}),
        FieldSource::Answer { key, label: true } => json!({"question": key, "label": true}),
        FieldSource::StepOutput { step, path } => json!({"stepOutput": {"step": step, "path": path.as_str()}}),
        FieldSource::Literal(value @ Value::Object(_)) => json!({"value": value}),
        FieldSource::Literal(value) => value.clone(),
        FieldSource::Object(members) => json!({"object": fields_json(members)}),
    }
}

fn parse_questions(check: &mut Check, value: Option<&Value>) -> Vec<Question> {
    let list = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            check.problem("/questions", "must be a list of questions");
            return Vec::new();
        }
    };
    let mut questions = Vec::with_capacity(list.len());
    for (i, q) in list.iter().enumerate() {
        let at = format!("/questions/{i}");
        let Some(map) = q.as_object() else {
            check.problem(at, "must be an object with `key`, `prompt` and `type`");
            continue;
        };
        let key = check.text(map, "key", &at, true);
        if let Some(key) = &key {
            if !valid_key(key) {
                check.problem(
                    format!("{at}/key"),
                    "must start with a letter and hold only letters, digits, `_` and `-`",
                );
            } else if questions.iter().any(|q: &Question| q.key == *key) {
                check.problem(format!("{at}/key"), format!("the key `{key}` is used by an earlier question"));
            }
        }
        let prompt = check.text(map, "prompt", &at, true);
        let required = check.flag(map, "required", &at);
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("TEXT") => Some(QuestionKind::Text),
            Some("NUMBER") => Some(QuestionKind::Number),
            Some("DATE") => Some(QuestionKind::Date),
            Some("BOOLEAN") => Some(QuestionKind::Boolean),
            Some("DROPDOWN") => {
                check.text(map, "configurationListId", &at, true).map(|list_id| QuestionKind::Dropdown { list_id })
            }
            _ => {
                check.problem(format!("{at}/type"), "must be TEXT, NUMBER, DATE, BOOLEAN or DROPDOWN");
                None
            }
        };
        if let (Some(key), Some(prompt), Some(kind)) = (key, prompt, kind) {
            questions.push(Question { key, prompt, kind, required });
        }
    }
    questions
}

fn parse_steps(check: &mut Check, value: Option<&Value>, questions: &[Question]) -> Vec<Step> {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        check.problem("/steps", "must be a list of at least one step");
        return Vec::new();
    };
    let mut steps: Vec<Step> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let at = format!("/steps/{i}");
        let Some(map) = s.as_object() else {
            check.problem(at, "must be an object with a `type`");
            continue;
        };
        let name = check.text(map, "name", &at, false);
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("APPROVAL") => parse_approval(check, map, &at),
            Some("TASK") => check.text(map, "title", &at, true).map(|title| StepKind::Task {
                title,
                description: check.text(map, "description", &at, false),
                mark_done_automatically: check.flag(map, "markDoneAutomatically", &at),
            }),
            Some("ACTION") => match map.get("action").and_then(Value::as_str) {
                Some("GRANT") => parse_grant(check, map, &at, questions),
                Some("WORKFLOW") => parse_workflow(check, map, &at, i, questions, &steps),
                _ => {
                    check.problem(format!("{at}/action"), "must be GRANT or WORKFLOW");
                    None
                }
            },
            _ => {
                check.problem(format!("{at}/type"), "must be APPROVAL, TASK or ACTION");
                None
            }
        };
        let Some(kind) = kind else { continue };
        let name = name.unwrap_or_else(|| match &kind {
            StepKind::Approval { .. } => format!("Approval {}", i + 1),
            StepKind::Task { title, .. } => title.clone(),
            StepKind::Grant { .. } => "Grant access".into(),
            StepKind::Workflow { .. } => format!("Workflow {}", i + 1),
        });
        // Steps keep their index even when an earlier one failed to parse, so later pointers and
        // `stepOutput` indices stay right; the definition is refused anyway.
        while steps.len() < i {
            steps.push(Step { name: String::new(), kind: StepKind::Grant { items: Vec::new() } });
        }
        steps.push(Step { name, kind });
    }
    steps
}

fn parse_approval(check: &mut Check, map: &Map<String, Value>, at: &str) -> Option<StepKind> {
    let approver = match map.get("approver") {
        Some(Value::String(s)) if s == "REQUESTER_MANAGER" => Some(Approver::RequesterManager),
        Some(Value::Object(a)) if a.len() == 1 => {
            let (kind, id) = a.iter().next()?;
            match (kind.as_str(), id.as_str().map(str::trim).filter(|s| !s.is_empty())) {
                ("USER", Some(id)) => Some(Approver::User(id.to_owned())),
                ("GROUP", Some(id)) => Some(Approver::Group(id.to_owned())),
                ("TEAM", Some(id)) => Some(Approver::Team(id.to_owned())),
                ("USER" | "GROUP" | "TEAM", None) => {
                    check.problem(format!("{at}/approver/{kind}"), "must be an id");
                    None
                }
                _ => {
                    check.problem(format!("{at}/approver"), format!("`{kind}` is not USER, GROUP or TEAM"));
                    None
                }
            }
        }
        _ => {
            check.problem(
                format!("{at}/approver"),
                "must be \"REQUESTER_MANAGER\", {\"USER\": id}, {\"GROUP\": id} or {\"TEAM\": id}",
            );
            None
        }
    };
    let mut duration = |key: &str| match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match duration_ms(text) {
            Ok(ms) => Some((text.clone(), ms)),
            Err(message) => {
                check.problem(format!("{at}/{key}"), message);
                None
            }
        },
        Some(other) => {
            check.problem(format!("{at}/{key}"), format!("must be a duration such as \"P3D\", not {other}"));
            None
        }
    };
    let deadline = duration("deadline");
    let reminder = duration("reminder");
    let on_timeout = match map.get("onTimeout") {
        None | Some(Value::Null) => OnTimeout::Deny,
        Some(Value::String(s)) if s == "DENY" => OnTimeout::Deny,
        Some(Value::String(s)) if s == "APPROVE" => OnTimeout::Approve,
        Some(Value::Object(o)) if o.len() == 1 && o.contains_key("ESCALATE") => {
            match o.get("ESCALATE").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
                Some(to) => OnTimeout::Escalate(to.trim().to_owned()),
                None => {
                    check.problem(format!("{at}/onTimeout/ESCALATE"), "must be an identity id");
                    OnTimeout::Deny
                }
            }
        }
        Some(other) => {
            check.problem(
                format!("{at}/onTimeout"),
                format!("must be \"DENY\", \"APPROVE\" or {{\"ESCALATE\": identity id}}, not {other}"),
            );
            OnTimeout::Deny
        }
    };
    // A deadline given but unreadable has its own problem; what leans on it is not "without" one.
    if map.get("deadline").is_none_or(Value::is_null) {
        for key in ["reminder", "onTimeout"] {
            if map.get(key).is_some_and(|v| !v.is_null()) {
                check.problem(format!("{at}/{key}"), "needs a `deadline`");
            }
        }
    }
    if let (Some((_, due)), Some((_, every))) = (&deadline, &reminder)
        && every >= due
    {
        check.problem(format!("{at}/reminder"), "must be shorter than the deadline");
    }
    let deadline =
        deadline.map(|(after, after_ms)| StepDeadline { after, after_ms, reminder: reminder.clone(), on_timeout });
    approver.map(|approver| StepKind::Approval { approver, deadline })
}

fn parse_grant(check: &mut Check, map: &Map<String, Value>, at: &str, questions: &[Question]) -> Option<StepKind> {
    let Some(list) = map.get("items").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        check.problem(format!("{at}/items"), "must list at least one item: {\"type\", \"id\"} or {\"question\": key}");
        return None;
    };
    let mut items = Vec::with_capacity(list.len());
    for (j, item) in list.iter().enumerate() {
        let item_at = format!("{at}/items/{j}");
        let Some(item) = item.as_object() else {
            check.problem(item_at, "must be {\"type\", \"id\"} or {\"question\": key}");
            continue;
        };
        if let Some(key) = item.get("question") {
            match key.as_str() {
                Some(key) if questions.iter().any(|q| q.key == key) => items.push(GrantItem::Answer(key.to_owned())),
                _ => check.problem(format!("{item_at}/question"), format!("no question has the key {key}")),
            }
            continue;
        }
        let kind = match item.get("type").and_then(Value::as_str).map(str::parse::<tessera_model::AccessKind>) {
            Some(Ok(kind)) => Some(kind),
            _ => {
                check.problem(format!("{item_at}/type"), "must be ROLE, ACCESS_PROFILE or ENTITLEMENT");
                None
            }
        };
        let id = check.text(item, "id", &item_at, true);
        if let (Some(kind), Some(id)) = (kind, id) {
            items.push(GrantItem::Catalog { kind, id });
        }
    }
    Some(StepKind::Grant { items })
}

fn parse_workflow(
    check: &mut Check,
    map: &Map<String, Value>,
    at: &str,
    index: usize,
    questions: &[Question],
    earlier: &[Step],
) -> Option<StepKind> {
    let workflow_id = check.text(map, "workflowId", at, true);
    let continue_on_error = check.flag(map, "continueOnError", at);
    let fields = match map.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(fields)) => {
            let scope = Scope { questions, earlier, index };
            fields
                .iter()
                .map(|(name, v)| {
                    (name.clone(), parse_source(check, v, &format!("{at}/fields/{}", escape(name)), &scope))
                })
                .collect()
        }
        Some(_) => {
            check.problem(format!("{at}/fields"), "must be an object mapping each workflow field to its source");
            Vec::new()
        }
    };
    workflow_id.map(|workflow_id| StepKind::Workflow { workflow_id, fields, continue_on_error })
}

/// What a field mapping may refer to.
struct Scope<'a> {
    questions: &'a [Question],
    earlier: &'a [Step],
    index: usize,
}

fn parse_source(check: &mut Check, value: &Value, at: &str, scope: &Scope<'_>) -> FieldSource {
    let Value::Object(map) = value else { return FieldSource::Literal(value.clone()) };
    let form = if map.len() == 1 || (map.len() == 2 && map.contains_key("question") && map.contains_key("label")) {
        ["attribute", "question", "stepOutput", "value", "object"].into_iter().find(|k| map.contains_key(*k))
    } else {
        None
    };
    match form {
        Some("attribute") => match map.get("attribute").and_then(Value::as_str) {
            Some(name) if STANDARD_ATTRIBUTES.contains(&name) => FieldSource::Attribute(name.to_owned()),
            other => {
                check.problem(
                    format!("{at}/attribute"),
                    format!(
                        "{} is not a standard attribute (use one of {})",
                        other.map(|n| format!("`{n}`")).unwrap_or_else(|| "this".into()),
                        STANDARD_ATTRIBUTES.join(", ")
                    ),
                );
                FieldSource::Literal(Value::Null)
            }
        },
        Some("question") => {
            let label = check.flag(map, "label", at);
            match map.get("question").and_then(Value::as_str) {
                Some(key) => match scope.questions.iter().find(|q| q.key == key) {
                    Some(q) if label && !matches!(q.kind, QuestionKind::Dropdown { .. }) => {
                        check.problem(format!("{at}/label"), format!("question `{key}` is not a dropdown"));
                        FieldSource::Literal(Value::Null)
                    }
                    Some(_) => FieldSource::Answer { key: key.to_owned(), label },
                    None => {
                        check.problem(format!("{at}/question"), format!("no question has the key `{key}`"));
                        FieldSource::Literal(Value::Null)
                    }
                },
                None => {
                    check.problem(format!("{at}/question"), "must be a question key");
                    FieldSource::Literal(Value::Null)
                }
            }
        }
        Some("stepOutput") => parse_step_output(check, map.get("stepOutput"), &format!("{at}/stepOutput"), scope),
        Some("value") => FieldSource::Literal(map.get("value").cloned().unwrap_or(Value::Null)),
        Some("object") => match map.get("object") {
            Some(Value::Object(members)) => FieldSource::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), parse_source(check, v, &format!("{at}/object/{}", escape(k)), scope)))
                    .collect(),
            ),
            _ => {
                check.problem(format!("{at}/object"), "must be an object mapping each member to its source");
                FieldSource::Literal(Value::Null)
            }
        },
        _ => {
            check.problem(
                at,
                "an object here must be one of {\"attribute\"}, {\"question\"}, {\"stepOutput\"}, {\"object\"} or \
                 {\"value\"} (write a literal object as {\"value\": {…}})",
            );
            FieldSource::Literal(Value::Null)
        }
    }
}

fn parse_step_output(check: &mut Check, value: Option<&Value>, at: &str, scope: &Scope<'_>) -> FieldSource {
    let Some(map) = value.and_then(Value::as_object) else {
        check.problem(at, "must be {\"step\": index, \"path\": \"$.…\"}");
        return FieldSource::Literal(Value::Null);
    };
    let step = match map.get("step").and_then(Value::as_u64).map(|s| s as usize) {
        Some(step) if step < scope.index => match scope.earlier.get(step).map(|s| &s.kind) {
            Some(StepKind::Workflow { .. }) => Some(step),
            _ => {
                check.problem(format!("{at}/step"), format!("step {step} is not a workflow action"));
                None
            }
        },
        Some(step) => {
            check.problem(format!("{at}/step"), format!("step {step} does not come before step {}", scope.index));
            None
        }
        None => {
            check.problem(format!("{at}/step"), "must be the index of an earlier workflow step");
            None
        }
    };
    let path = match map.get("path") {
        None | Some(Value::Null) => PathExpr::parse("$").ok(),
        Some(Value::String(text)) => match PathExpr::parse(text) {
            Ok(path) => Some(path),
            Err(error) => {
                check.problem(format!("{at}/path"), error.to_string());
                None
            }
        },
        Some(other) => {
            check.problem(format!("{at}/path"), format!("must be a JSONPath such as \"$.x\", not {other}"));
            None
        }
    };
    match (step, path) {
        (Some(step), Some(path)) => FieldSource::StepOutput { step, path },
        _ => FieldSource::Literal(Value::Null),
    }
}
