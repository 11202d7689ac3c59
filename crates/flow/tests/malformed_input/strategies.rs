//! Generators for the malformed-input properties: JSON values, words, step names, garbage paths
//! and `.$` keys, trigger inputs, text soup, text edits, and chains of variable steps.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// Generators: values, names, paths, text

const WORDS: &[&str] = &[
    "",
    " ",
    "success",
    "failure",
    "choice",
    "action",
    "Mutation",
    "mutation",
    "SUCCESS",
    "loop",
    "sp:http",
    "sp:sleep",
    "sp:loop:iterator",
    "sp:define-variable",
    "sp:update-variable",
    "sp:send-email",
    "sp:interactive-message",
    "sp:interactive-form",
    "sp:forms",
    "sp:generic-approval",
    "sp:get-identity",
    "sp:compare-strings",
    "sp:operator-success",
    "sp:operator-failure",
    "tessera:call-workflow",
    "tessera:script",
    "EVENT",
    "SCHEDULED",
    "EXTERNAL",
    "REQUEST_RESPONSE",
    "INTERACTIVE",
    "idn:identity-created",
    "waitFor",
    "waitUntil",
    "10m",
    "0s",
    "-5d",
    "99999999999d",
    "P1D",
    "2026-02-30",
    "2026-01-01T00:00:00Z",
    "+262143-12-31T23:59:59Z",
    "9999-12-31",
    "12:30",
    "* * * * *",
    "*",
    "StringEquals",
    "StringMatches",
    "NumericGreaterThan",
    "TimestampLessThan",
    "BooleanEquals",
    "IsPresent",
    "IsNull",
    "(",
    "[",
    "$.trigger",
    "$.trigger.identity.id",
    "$.loop.loopInput",
    "$.now()",
    "{{$.trigger}}",
    "{{ $.now() }}",
    "${name}",
    "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "'%",
    "epoch",
    "days",
    "months",
    "replace",
    "substring",
    "addTime",
    "formatDate",
    "getIndex",
];

pub(crate) fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ -~]{0,12}",
    ]
}

const STEP_NAMES: &[&str] = &[
    "",
    " ",
    "trigger",
    "Trigger",
    "loop",
    "Loop",
    "a/b",
    "~0",
    "~1",
    "a~b/c",
    "~01",
    "End Step — Success",
    "end step — success",
    "End Step - Success",
    "HTTP Request",
    "http request",
    "Define Variable",
    "defineVariable",
    "💥",
    "\u{0}",
    "-",
    "1",
    "$.trigger",
    ".$",
    "{{$.trigger}}",
];

pub(crate) fn step_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(STEP_NAMES).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[A-Za-z /~.$-]{1,12}",
    ]
}

const GARBAGE_PATHS: &[&str] = &[
    "",
    " ",
    "$",
    "$.",
    "$..",
    "$[",
    "$]",
    "$['",
    "$[?(@.a == )]",
    "$.now",
    "$.now()",
    "$now",
    "$.a.now()",
    "now()",
    "$.a.length().JSON().RFC3339().count()",
    "$.a.count().count()",
    "length(",
    "length()",
    "length($.a",
    "count($..*)",
    "JSON(length($))",
    "$..*",
    "$[-1]",
    "$[9223372036854775807]",
    "$[-9223372036854775808]",
    "$[18446744073709551616]",
    "$[::0]",
    "$[0:1:-1]",
    "$[::-9223372036854775808]",
    "$.a[?(@ =~ /x/)]",
    "{{",
    "{{}}",
    "{{$}}",
    "{{$.a}}{{",
    "}}{{",
    "$.{{$.a}}",
    "{{$.a}}",
    "{{ {{$.a}} }}",
    "$[?(@.k == \"{{$.x}}\")]",
    "$.trigger.*",
    "$.a.b.c.d.e.f.g.h",
    "$['\\u0000']",
    "$['\\ud800']",
    "$.😀",
    "$.\u{0}",
    "$[?match(@, '[')]",
    "$[?search(@.a, '(')]",
    "$[?match(@, 'a{99999}')]",
    "$[?length(@) > 1]",
    "$[?count(@.*) == 1]",
    "$[?value(@..x) == 1]",
    "$[?@ == 1e400]",
    "$.trigger.identity.id.length().length()",
];

pub(crate) fn garbage_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(GARBAGE_PATHS).prop_map(str::to_owned),
        2 => "\\$[.\\[\\]'\"?@()*a-z0-9=<>!&|{}, :~-]{0,24}",
        1 => "(length|size|count|json|JSON|RFC3339)\\([$.a-z\\[\\]()]{0,12}\\)?",
        1 => "\\{\\{[$.a-z\\[\\] {}()]{0,16}\\}?\\}?",
        1 => any::<String>(),
    ]
}

const PATH_KEYS: &[&str] = &[
    "variableA.$",
    "variableB.$",
    "input.$",
    "context.$",
    "filter.$",
    "date.$",
    "duration.$",
    "time.$",
    "url.$",
    "identity.$",
    "jsonRequestBody.$",
    "value.$",
    ".$",
    "$",
    "a.$.$",
];

pub(crate) fn path_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(PATH_KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z]{0,8}\\.\\$",
    ]
}

/// Any JSON value, small.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![0i64, 1, -1, i64::MIN, i64::MAX]).prop_map(Value::from),
        word().prop_map(Value::String),
        garbage_path().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![word(), path_key(), step_name()], inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// The trigger input a dry run starts with.
pub(crate) fn run_input() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(json!({})),
        1 => Just(json!({
            "identity": {"id": "2c9180835d2e5168015d32f890ca1581", "name": "Ada Lovelace"},
            "attributes": {"department": "Finance", "email": "ada@example.com"},
            "changes": [{"attribute": "department", "oldValue": "IT", "newValue": "Finance"}]
        })),
        2 => json_value(),
    ]
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "'",
    "\\",
    "\\u",
    "\\ud800",
    "\n",
    " ",
    "\t",
    "- ",
    "? ",
    ": ",
    "#",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!binary ",
    "!!float ",
    "!!map ",
    "!tag ",
    "|",
    ">-",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "null",
    "~",
    "true",
    "yes",
    "0x1F",
    "0o17",
    "1e400",
    "-0",
    "0.0000001",
    "18446744073709551616",
    "-9223372036854775809",
    ".nan",
    ".inf",
    "\"definition\"",
    "\"steps\"",
    "\"start\"",
    "\"type\"",
    "\"success\"",
    "\"nextStep\"",
    "definition:",
    "steps:",
    "start:",
    "type: success",
    "{{$.",
    "}}",
    "$..",
    "\u{feff}",
    "\u{0}",
];

/// Text that is mostly not a workflow: any string, any bytes, and JSON/YAML token soup.
pub(crate) fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(TOKENS).prop_map(str::to_owned),
                1 => word(),
            ],
            0..64
        )
        .prop_map(|tokens| tokens.concat()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Text edits

#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Delete { at: Index, chars: usize },
    Insert { at: Index, text: String },
    Replace { at: Index, text: String },
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        3 => prop::sample::select(TOKENS).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => word(),
    ];
    prop_oneof![
        (any::<Index>(), 1..16usize).prop_map(|(at, chars)| Edit::Delete { at, chars }),
        (any::<Index>(), fragment.clone()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<Index>(), fragment).prop_map(|(at, text)| Edit::Replace { at, text }),
    ]
}

pub(crate) fn apply_edit(text: &mut String, edit: &Edit) {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let last = bounds.len() - 1;
    match edit {
        Edit::Delete { at, chars } => {
            let from = at.index(bounds.len());
            let to = (from + chars).min(last);
            text.replace_range(bounds[from]..bounds[to], "");
        }
        Edit::Insert { at, text: fragment } => text.insert_str(*at.get(&bounds), fragment),
        Edit::Replace { at, text: fragment } => {
            let from = at.index(bounds.len());
            let to = (from + 1).min(last);
            text.replace_range(bounds[from]..bounds[to], fragment);
        }
    }
}

/// `text` cut at a character boundary at or before `at`.
pub(crate) fn truncated(text: &str, at: &Index) -> String {
    let mut cut = at.index(text.len() + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Chains of variable steps

/// A chain of Define and Update Variable steps under odd names, ending in success. The corpus has
/// no Update Variable, and a step's name decides where in the data document its output lands.
pub(crate) fn variable_chain() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        json_value().prop_map(|v| ("variableA", v)),
        prop::sample::select(&["$.trigger", "$.trigger[0]", "$.trigger.x", "$.x", "$.trigger.x.length()"][..])
            .prop_map(|p| ("variableA.$", Value::from(p))),
    ];
    let step = (step_name(), any::<bool>(), prop::sample::select(&["x", "y"][..]), value);
    prop::collection::vec(step, 1..=5).prop_map(|steps| {
        let mut names: Vec<String> = Vec::new();
        for (name, ..) in &steps {
            let mut name = name.clone();
            while names.contains(&name) || name == "End" {
                name.push('\'');
            }
            names.push(name);
        }
        let mut chain = Map::new();
        for (i, ((_, update, variable, (key, value)), name)) in steps.iter().zip(&names).enumerate() {
            let id = if *update { "sp:update-variable" } else { "sp:define-variable" };
            let next = names.get(i + 1).map_or("End", String::as_str);
            let mut entry = Map::new();
            entry.insert("name".to_owned(), Value::from(*variable));
            entry.insert((*key).to_owned(), value.clone());
            chain.insert(
                name.clone(),
                json!({ "type": "Mutation", "attributes": { "id": id, "variables": [entry] }, "nextStep": next }),
            );
        }
        chain.insert("End".to_owned(), json!({ "type": "success" }));
        json!({ "name": "Variables", "definition": { "start": names[0], "steps": chain } })
    })
}
