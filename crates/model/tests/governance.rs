//! Golden tests for `tessera_model::governance`: each file under `tests/governance/` holds cases with their outputs.
//!
//! A file is a header of `#` lines, then cases: `=== title`, the input JSON, `---`, the output. A case titled
//! `fixture` has no output and gives the accounts or identities the following cases run against. Run with
//! `UPDATE_EXPECT=1` to rewrite the outputs after a deliberate change, and review the diff.

use expect_test::expect_file;
use serde_json::{Map, Value, json};
use tessera_model::governance::{
    Account, AttributeMappings, Context, Error, LifecycleState, Membership, Subject, Transform,
};

/// Runs every case of `tests/governance/{name}` through `run(fixture, input)` and compares the rewritten file.
fn golden(name: &str, run: impl Fn(&Value, &Value) -> String) {
    let path = format!("{}/tests/governance/{name}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("the golden file is readable");
    let mut out = String::new();
    let mut fixture = Value::Null;
    let mut blocks = source.split("\n=== ");
    out.push_str(blocks.next().expect("split yields at least one piece"));
    for block in blocks {
        let (title, body) = block.split_once('\n').unwrap_or((block, ""));
        let input_text = match body.split_once("\n---\n") {
            Some((input, _)) => input,
            None => body.trim_end(),
        };
        let input: Value = serde_json::from_str(input_text).unwrap_or_else(|e| panic!("case `{title}`: {e}"));
        out.push_str(&format!("\n=== {title}\n{}\n", input_text.trim_end()));
        if title == "fixture" {
            fixture = input;
        } else {
            out.push_str(&format!("---\n{}\n", run(&fixture, &input).trim_end()));
        }
    }
    expect_file![path].assert_eq(&out);
}

fn error(error: &Error) -> String {
    format!("error {error}")
}

/// The fixture's `accounts`: `[{"sourceId", "sourceName", "attributes"}]`.
fn accounts(fixture: &Value) -> Vec<Account<'_>> {
    let Some(items) = fixture.get("accounts").and_then(Value::as_array) else { return Vec::new() };
    items
        .iter()
        .map(|account| Account {
            source_id: account["sourceId"].as_str().expect("fixture accounts have a sourceId"),
            source_name: account["sourceName"].as_str().expect("fixture accounts have a sourceName"),
            attributes: account["attributes"].as_object().expect("fixture accounts have attributes"),
        })
        .collect()
}

#[test]
fn transforms() {
    golden("transforms.txt", |fixture, definition| {
        let transform = match Transform::parse(definition) {
            Ok(transform) => transform,
            Err(e) => return error(&e),
        };
        let accounts = accounts(fixture);
        let ctx = Context {
            accounts: &accounts,
            identity: fixture["identity"].as_object().unwrap(),
            implicit_input: fixture["implicitInput"].as_str(),
        };
        transform.evaluate(&ctx).map_or_else(|| "null".to_owned(), |value| Value::String(value).to_string())
    });
}

#[test]
fn mappings() {
    golden("mappings.txt", |fixture, config| match AttributeMappings::parse(config) {
        Ok(mappings) => serde_json::to_string_pretty(&mappings.compute(&accounts(fixture))).unwrap(),
        Err(e) => error(&e),
    });
}

#[test]
fn criteria() {
    golden("criteria.txt", |fixture, membership| {
        let membership = match Membership::parse(membership) {
            Ok(membership) => membership,
            Err(e) => return error(&e),
        };
        let mut members = Vec::new();
        for subject in fixture["identities"].as_array().unwrap() {
            let accounts = accounts(subject);
            let entitlements: Vec<(&str, &str, &str)> = subject["entitlements"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|e| (e[0].as_str().unwrap(), e[1].as_str().unwrap(), e[2].as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let empty = Map::new();
            let id = subject["id"].as_str().unwrap();
            let subject = Subject {
                id,
                attributes: subject["attributes"].as_object().unwrap_or(&empty),
                accounts: &accounts,
                entitlements: &entitlements,
            };
            if membership.matches(&subject) {
                members.push(id);
            }
        }
        format!("members: [{}]", members.join(", "))
    });
}

#[test]
fn lifecycle_states() {
    golden("lifecycle.txt", |_, state| match LifecycleState::parse(state) {
        Ok(state) => {
            let mut out = format!(
                "technical name {}, name {:?}, enabled {}, identity state {:?}, removes all access {}\n",
                state.technical_name(),
                state.name(),
                state.is_enabled(),
                state.identity_state(),
                state.removes_all_access(),
            );
            out.push_str(&format!("access profiles {:?}\n", state.access_profile_ids()));
            for source in ["src-hr", "src-ad", "src-ldap"] {
                out.push_str(&format!("{source}: {:?}\n", state.account_action_for(source)));
            }
            out
        }
        Err(e) => error(&e),
    });
}

#[test]
fn a_transform_without_input_and_no_implicit_input_is_null() {
    let transform = Transform::parse(&json!({"type": "upper"})).unwrap();
    let ctx = Context { accounts: &[], identity: &Map::new(), implicit_input: None };
    assert_eq!(transform.evaluate(&ctx), None);
    let ctx = Context { implicit_input: Some("abc"), ..ctx };
    assert_eq!(transform.evaluate(&ctx).as_deref(), Some("ABC"));
}

#[test]
fn errors_display_pointer_then_message() {
    let e = Transform::parse(&json!({"type": "lower", "attributes": {"input": {"type": "nope"}}})).unwrap_err();
    assert_eq!(e.pointer, "/attributes/input/type");
    assert_eq!(e.to_string(), "/attributes/input/type: transform type `nope` is not supported");
}

#[test]
fn mappings_keep_their_order_and_enabled_flag() {
    let config = json!({"enabled": true, "attributeTransforms": [
        {"identityAttributeName": "b", "transformDefinition": {"type": "static", "attributes": {"value": "1"}}},
        {"identityAttributeName": "a", "transformDefinition": {"type": "static", "attributes": {"value": "2"}}},
    ]});
    let mappings = AttributeMappings::parse(&config).unwrap();
    assert!(mappings.is_enabled());
    assert_eq!(mappings.attribute_names().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(Value::Object(mappings.compute(&[])), json!({"b": "1", "a": "2"}));
}
