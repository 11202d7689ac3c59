//! The LDAP connector against a real OpenLDAP `slapd` (one per test, see `slapd/mod.rs`): provisioning
//! and its repeats, the two disable modes, passwords, paged reads and how failures are classified.

use expect_test::expect;
use serde_json::{Value, json};
use tessera_connectors::ldap::{LdapConfig, LdapConnector};
use tessera_connectors::testing::slapd::{ADMIN_DN, ADMINS, AUDITORS, DISABLED, GROUPS, PEOPLE, STAFF, Slapd};
use tessera_connectors::{
    Account, AccountRequest, AttributeOperation, AttributeRequest, Connector, ConnectorError, Entitlement, Operation,
    Outcome,
};

const ADA: &str = "uid=ada,ou=people,dc=example,dc=org";

fn config_json(slapd: &Slapd) -> Value {
    json!({
        "url": slapd.url,
        "bindDn": ADMIN_DN,
        "bindPassword": tessera_connectors::testing::slapd::ADMIN_PASSWORD,
        "baseDn": PEOPLE,
        "groupBaseDn": GROUPS,
        "timeoutSeconds": 5,
    })
}

fn connector_with(slapd: &Slapd, extra: Value) -> LdapConnector {
    let mut config = config_json(slapd);
    let object = config.as_object_mut().expect("object");
    object.extend(extra.as_object().expect("object").clone());
    LdapConnector::new(LdapConfig::from_json(&config).expect("valid config")).expect("valid connector")
}

fn connector(slapd: &Slapd) -> LdapConnector {
    connector_with(slapd, json!({}))
}

fn attr(name: &str, operation: AttributeOperation, value: Value) -> AttributeRequest {
    AttributeRequest { name: name.into(), operation, value }
}

fn set(name: &str, value: Value) -> AttributeRequest {
    attr(name, AttributeOperation::Set, value)
}

fn request(operation: Operation, dn: Option<&str>, attributes: Vec<AttributeRequest>) -> AccountRequest {
    AccountRequest { operation, native_identity: dn.map(Into::into), attributes, password: None }
}

fn create_ada(groups: Value) -> AccountRequest {
    request(
        Operation::Create,
        None,
        vec![
            set("uid", json!("ada")),
            set("givenName", json!("Ada")),
            set("familyName", json!("Lovelace")),
            set("mail", json!(["ada@example.org", "countess@example.org"])),
            attr("memberOf", AttributeOperation::Add, groups),
        ],
    )
}

async fn run(connector: &LdapConnector, request: &AccountRequest) -> Result<Outcome, ConnectorError> {
    connector.provision(request, "key-1").await
}

/// The outcome's native identity and account; panics on anything but a success with an account.
async fn success(connector: &LdapConnector, request: &AccountRequest) -> (String, Account) {
    match run(connector, request).await {
        Ok(Outcome::Success { native_identity, account: Some(account) }) => (native_identity, account),
        other => panic!("{:?} gave {other:?}", request.operation),
    }
}

/// Every account, page after page.
async fn all_accounts(connector: &LdapConnector) -> Vec<Account> {
    let mut accounts = Vec::new();
    let mut cursor = None;
    loop {
        let page = connector.accounts(cursor.as_deref()).await.expect("a page of accounts");
        accounts.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return accounts,
        }
    }
}

fn render(account: &Account) -> String {
    let mut text = format!(
        "{} name={} disabled={} locked={}\n",
        account.native_identity, account.name, account.disabled, account.locked
    );
    // LDAP values are sets; a server keeps them in the order they came in, which a Create does not fix.
    let mut attributes = account.attributes.clone();
    for value in attributes.values_mut() {
        if let Value::Array(items) = value {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    text.push_str(&serde_json::to_string_pretty(&attributes).expect("json"));
    text
}

fn member_of(account: &Account) -> Vec<&str> {
    account.attributes["memberOf"].as_array().expect("array").iter().map(|v| v.as_str().expect("string")).collect()
}

#[tokio::test]
async fn create_with_groups_and_read_it_back() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    connector.test_connection().await.expect("the server answers");

    let (dn, account) = success(&connector, &create_ada(json!([STAFF, ADMINS]))).await;
    assert_eq!(dn, ADA);
    let expected = expect![[r#"
        uid=ada,ou=people,dc=example,dc=org name=ada disabled=false locked=false
        {
          "cn": "Ada Lovelace",
          "givenName": "Ada",
          "mail": [
            "ada@example.org",
            "countess@example.org"
          ],
          "objectClass": [
            "inetOrgPerson"
          ],
          "sn": "Lovelace",
          "uid": "ada",
          "memberOf": [
            "cn=admins,ou=groups,dc=example,dc=org",
            "cn=staff,ou=groups,dc=example,dc=org"
          ]
        }"#]];
    expected.assert_eq(&render(&account));
    let accounts = all_accounts(&connector).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0], account, "a read shows what the create returned");
    assert_eq!(slapd.values(STAFF, "member").await, Some(vec![ADMIN_DN.to_owned(), ADA.to_owned()]));
}

#[tokio::test]
async fn a_repeated_create_succeeds_and_completes_what_the_first_left_undone() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    // A first try that added the entry and stopped before the group.
    slapd.add(ADA, &[("objectClass", &["inetOrgPerson"]), ("uid", &["ada"]), ("cn", &["Ada"]), ("sn", &["L"])]).await;
    let (dn, account) = success(&connector, &create_ada(json!(STAFF))).await;
    assert_eq!(dn, ADA);
    assert_eq!(member_of(&account), [STAFF]);
    assert_eq!(account.attributes["cn"], "Ada", "an existing entry keeps its attributes");
    let (dn, account) = success(&connector, &create_ada(json!(STAFF))).await;
    assert_eq!((dn.as_str(), member_of(&account)), (ADA, vec![STAFF]));
}

#[tokio::test]
async fn create_refuses_a_request_without_the_naming_attribute_or_against_the_schema() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    let error = run(&connector, &request(Operation::Create, None, vec![set("cn", json!("Ada"))])).await;
    let error = error.expect_err("no uid");
    assert!(!error.retryable);
    assert_eq!(error.message, "a Create needs the attribute `uid`, which names the entry");

    let bad = request(Operation::Create, None, vec![set("uid", json!("ada")), set("shoeSize", json!(42))]);
    let error = run(&connector, &bad).await.expect_err("no such attribute type");
    assert!(!error.retryable);
    assert!(
        error.message.starts_with("adding uid=ada,ou=people,dc=example,dc=org: undefinedAttributeType (17)"),
        "{error}"
    );
}

#[tokio::test]
async fn modify_sets_adds_and_removes_values_repeatably() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    success(&connector, &create_ada(json!(null))).await;

    let set_title =
        request(Operation::Modify, Some(ADA), vec![set("title", json!("Countess")), set("mail", json!(null))]);
    let (_, account) = success(&connector, &set_title).await;
    assert_eq!(account.attributes["title"], "Countess");
    assert!(!account.attributes.contains_key("mail"), "Set to null removes the attribute");

    let add = request(
        Operation::Modify,
        Some(ADA),
        vec![attr("telephoneNumber", AttributeOperation::Add, json!(["+44 1", "+44 2"]))],
    );
    success(&connector, &add).await;
    let (_, account) = success(&connector, &add).await;
    assert_eq!(render(&account).matches("+44 ").count(), 2);
    assert_eq!(slapd.values(ADA, "telephoneNumber").await, Some(vec!["+44 1".to_owned(), "+44 2".to_owned()]));

    let remove = request(
        Operation::Modify,
        Some(ADA),
        vec![attr("telephoneNumber", AttributeOperation::Remove, json!(["+44 1", "+44 9"]))],
    );
    success(&connector, &remove).await;
    let (_, account) = success(&connector, &remove).await;
    assert_eq!(account.attributes["telephoneNumber"], "+44 2");

    let missing =
        request(Operation::Modify, Some("uid=nobody,ou=people,dc=example,dc=org"), vec![set("title", json!("x"))]);
    let error = run(&connector, &missing).await.expect_err("no such entry");
    assert!(!error.retryable);
    assert!(error.message.contains("noSuchObject (32)"), "{error}");
}

#[tokio::test]
async fn group_memberships_are_added_removed_and_set_repeatably() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    success(&connector, &create_ada(json!(STAFF))).await;

    let add = request(Operation::Modify, Some(ADA), vec![attr("memberOf", AttributeOperation::Add, json!(ADMINS))]);
    success(&connector, &add).await;
    let (_, account) = success(&connector, &add).await;
    assert_eq!(member_of(&account), [ADMINS, STAFF]);

    let remove =
        request(Operation::Modify, Some(ADA), vec![attr("memberOf", AttributeOperation::Remove, json!(STAFF))]);
    success(&connector, &remove).await;
    let (_, account) = success(&connector, &remove).await;
    assert_eq!(member_of(&account), [ADMINS]);
    assert_eq!(slapd.values(STAFF, "member").await, Some(vec![ADMIN_DN.to_owned()]));

    // Set makes the memberships exactly these, whatever the spelling of the DNs.
    let exact = request(
        Operation::Modify,
        Some(ADA),
        vec![set("memberOf", json!(["CN=Auditors, OU=Groups, DC=example, DC=org", STAFF]))],
    );
    let (_, account) = success(&connector, &exact).await;
    assert_eq!(member_of(&account), [AUDITORS, STAFF]);

    let missing_group = request(
        Operation::Modify,
        Some(ADA),
        vec![attr("memberOf", AttributeOperation::Add, json!("cn=ghosts,ou=groups,dc=example,dc=org"))],
    );
    let error = run(&connector, &missing_group).await.expect_err("no such group");
    assert!(!error.retryable);
    assert!(error.message.starts_with("adding uid=ada,ou=people,dc=example,dc=org to group cn=ghosts"), "{error}");
}

#[tokio::test]
async fn disable_and_enable_with_an_attribute() {
    let slapd = Slapd::start().await;
    let connector = connector_with(&slapd, json!({"enabledValue": "active"}));
    success(&connector, &create_ada(json!(null))).await;

    let disable = request(Operation::Disable, Some(ADA), vec![]);
    success(&connector, &disable).await;
    let (dn, account) = success(&connector, &disable).await;
    assert_eq!(dn, ADA);
    assert!(account.disabled);
    assert_eq!(slapd.values(ADA, "employeeType").await, Some(vec!["disabled".to_owned()]));
    assert!(all_accounts(&connector).await[0].disabled);

    let enable = request(Operation::Enable, Some(ADA), vec![]);
    success(&connector, &enable).await;
    let (_, account) = success(&connector, &enable).await;
    assert!(!account.disabled);
    assert_eq!(account.attributes["employeeType"], "active");
}

#[tokio::test]
async fn disable_moves_the_entry_to_its_ou_and_enable_moves_it_back() {
    let slapd = Slapd::start().await;
    let connector = connector_with(&slapd, json!({"disableMode": "ou", "disabledOu": DISABLED, "pageSize": 1}));
    success(&connector, &create_ada(json!(STAFF))).await;
    let moved = "uid=ada,ou=disabled,dc=example,dc=org";

    let disable = request(Operation::Disable, Some(ADA), vec![]);
    let (dn, account) = success(&connector, &disable).await;
    assert_eq!(dn, moved);
    assert!(account.disabled);
    assert_eq!(member_of(&account), [STAFF], "the membership follows the entry");
    assert_eq!(slapd.values(STAFF, "member").await, Some(vec![ADMIN_DN.to_owned(), moved.to_owned()]));
    assert_eq!(slapd.values(ADA, "uid").await, None);

    // A retry that still names the old DN finds the entry moved already.
    let (dn, _) = success(&connector, &disable).await;
    assert_eq!(dn, moved);

    // The disabled OU is outside the accounts' base: the read goes on there after the base.
    success(&connector, &request(Operation::Create, None, vec![set("uid", json!("bob"))])).await;
    let accounts = all_accounts(&connector).await;
    let flags: Vec<_> = accounts.iter().map(|a| (a.name.as_str(), a.disabled)).collect();
    assert_eq!(flags, [("bob", false), ("ada", true)]);

    let (dn, account) = success(&connector, &request(Operation::Enable, Some(moved), vec![])).await;
    assert_eq!(dn, ADA);
    assert!(!account.disabled);
    assert_eq!(member_of(&account), [STAFF]);
    assert_eq!(slapd.values(STAFF, "member").await, Some(vec![ADMIN_DN.to_owned(), ADA.to_owned()]));
}

#[tokio::test]
async fn a_password_set_lets_the_account_bind() {
    let slapd = Slapd::start().await;
    for mode in ["exop", "replace"] {
        let connector = connector_with(&slapd, json!({"passwordMode": mode}));
        let mut create = create_ada(json!(null));
        create.password = Some("first pass".into());
        success(&connector, &create).await;
        assert!(slapd.bind(ADA, "first pass").await.is_ok(), "{mode}: the created password binds");

        let mut change = request(Operation::Password, Some(ADA), vec![]);
        change.password = Some("second pass".into());
        success(&connector, &change).await;
        assert!(slapd.bind(ADA, "second pass").await.is_ok(), "{mode}: the new password binds");
        assert_eq!(slapd.bind(ADA, "first pass").await.err(), Some(49), "{mode}: the old one does not");
        let stored = slapd.values(ADA, "userPassword").await.expect("entry");
        assert_eq!(stored[0].starts_with("{SSHA}"), mode == "exop", "{mode}: the server hashes an exop's password");
        assert!(!render(&success(&connector, &change).await.1).contains("userPassword"), "never read back");

        run(&connector, &request(Operation::Delete, Some(ADA), vec![])).await.expect("deleted");
    }
}

#[tokio::test]
async fn delete_leaves_the_groups_and_a_second_delete_succeeds() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    success(&connector, &create_ada(json!([STAFF, AUDITORS]))).await;
    let delete = request(Operation::Delete, Some(ADA), vec![]);
    for _ in 0..2 {
        let outcome = run(&connector, &delete).await.expect("deleted");
        assert_eq!(outcome, Outcome::Success { native_identity: ADA.into(), account: None });
    }
    assert_eq!(slapd.values(ADA, "uid").await, None);
    assert_eq!(slapd.values(STAFF, "member").await, Some(vec![ADMIN_DN.to_owned()]));
    assert_eq!(slapd.values(AUDITORS, "member").await, Some(vec![ADMIN_DN.to_owned()]));
    assert!(all_accounts(&connector).await.is_empty());
}

#[tokio::test]
async fn accounts_come_in_pages_of_the_configured_size() {
    let slapd = Slapd::start().await;
    let connector = connector_with(&slapd, json!({"pageSize": 2}));
    for n in 1..=5 {
        // Three groups for some: the membership search for a page then takes two pages of groups too.
        let groups = if n % 2 == 0 { json!([STAFF, ADMINS, AUDITORS]) } else { json!(STAFF) };
        let create =
            request(Operation::Create, None, vec![set("uid", json!(format!("user{n}"))), set("memberOf", groups)]);
        success(&connector, &create).await;
    }
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = connector.accounts(cursor.as_deref()).await.expect("page");
        sizes.push(page.items.len());
        seen.extend(page.items.iter().map(|a| format!("{} {}", a.name, member_of(a).len())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    seen.sort();
    assert_eq!(seen, ["user1 1", "user2 3", "user3 1", "user4 3", "user5 1"]);

    // A cursor is tied to the connection it was issued on: another connector's is refused.
    let first = connector.accounts(None).await.expect("page");
    let other = connector_with(&slapd, json!({"pageSize": 2}));
    let error = other.accounts(first.next.as_deref()).await.expect_err("foreign cursor");
    assert!(!error.retryable);
    assert!(error.message.contains("start the read again"), "{error}");
}

/// A group DN's `cn`.
fn dn_cn(dn: &str) -> &str {
    dn.split(',').next().and_then(|rdn| rdn.strip_prefix("cn=")).expect("a cn=… DN")
}

/// Every account with its memberships, read page by page with `page_size` entries (and groups) a page.
async fn read_with_page_size(slapd: &Slapd, page_size: u32) -> Vec<(String, Vec<String>)> {
    let connector = connector_with(slapd, json!({ "pageSize": page_size }));
    let mut accounts: Vec<(String, Vec<String>)> = all_accounts(&connector)
        .await
        .iter()
        .map(|account| (account.name.clone(), member_of(account).into_iter().map(str::to_owned).collect()))
        .collect();
    accounts.sort();
    accounts
}

#[tokio::test]
async fn memberships_are_the_same_whatever_the_page_size() {
    let slapd = Slapd::start().await;
    let connector = connector(&slapd);
    let memberships = [
        json!([STAFF, ADMINS, AUDITORS]),
        json!([AUDITORS]),
        json!(null),
        json!([STAFF, AUDITORS]),
        json!([ADMINS, STAFF]),
        json!([STAFF]),
        json!([ADMINS, AUDITORS]),
    ];
    let mut created = Vec::new();
    for (n, groups) in memberships.iter().enumerate() {
        let create = request(
            Operation::Create,
            None,
            vec![set("uid", json!(format!("user{n}"))), attr("memberOf", AttributeOperation::Add, groups.clone())],
        );
        let (_, account) = success(&connector, &create).await;
        created.push((account.name.clone(), member_of(&account).into_iter().map(str::to_owned).collect::<Vec<_>>()));
    }
    // A member value spelled otherwise than the entry's DN still counts.
    slapd.add_values(ADMINS, "member", &["UID=user2, OU=People, DC=example, DC=org"]).await;
    created[2].1.push(ADMINS.to_owned());
    created.sort();

    // Each account read alone, whose memberships come from a search of the groups for that one entry.
    let mut one_by_one = Vec::new();
    for (name, _) in &created {
        let dn = format!("uid={name},{PEOPLE}");
        let (_, account) = success(&connector, &request(Operation::Modify, Some(&dn), vec![])).await;
        one_by_one.push((account.name.clone(), member_of(&account).into_iter().map(str::to_owned).collect::<Vec<_>>()));
    }
    assert_eq!(one_by_one, created);
    let rendered: Vec<String> = one_by_one
        .iter()
        .map(|(name, groups)| format!("{name}: {}", groups.iter().map(|g| dn_cn(g)).collect::<Vec<_>>().join(" ")))
        .collect();
    expect![[r#"
        [
            "user0: admins auditors staff",
            "user1: auditors",
            "user2: admins",
            "user3: auditors staff",
            "user4: admins staff",
            "user5: staff",
            "user6: admins auditors",
        ]
    "#]]
    .assert_debug_eq(&rendered);

    // Pages of one entry (every page after the first takes its memberships from the groups read with the
    // first, three pages of them), of a few, and all in one page: the same memberships, sorted alike.
    for page_size in [1, 2, 3, 1000] {
        assert_eq!(read_with_page_size(&slapd, page_size).await, one_by_one, "page size {page_size}");
    }
}

#[tokio::test]
async fn entitlements_are_the_groups() {
    let slapd = Slapd::start().await;
    let connector = connector_with(&slapd, json!({"pageSize": 2}));
    let mut groups: Vec<Entitlement> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = connector.entitlements(cursor.as_deref()).await.expect("page");
        pages += 1;
        groups.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    groups.sort_by(|a, b| a.value.cmp(&b.value));
    let rendered: Vec<String> = groups
        .iter()
        .map(|g| format!("{} {} {} {}", g.attribute, g.value, g.name, g.attributes["description"]))
        .collect();
    expect![[r#"
        [
            "memberOf cn=admins,ou=groups,dc=example,dc=org admins \"Administrators\"",
            "memberOf cn=auditors,ou=groups,dc=example,dc=org auditors \"Auditors\"",
            "memberOf cn=staff,ou=groups,dc=example,dc=org staff \"Everyone\"",
        ]
    "#]]
    .assert_debug_eq(&rendered);
    assert!(groups.iter().all(|g| !g.attributes.contains_key("member")), "member lists are left out");
}

#[tokio::test]
async fn a_stopped_server_is_a_retryable_failure() {
    let mut slapd = Slapd::start().await;
    let connector = connector(&slapd);
    success(&connector, &create_ada(json!(null))).await;
    slapd.stop();

    let error = connector.accounts(None).await.expect_err("server stopped");
    assert!(error.retryable, "{error}");
    let error = run(&connector, &request(Operation::Disable, Some(ADA), vec![])).await.expect_err("server stopped");
    assert!(error.retryable, "{error}");
    let error = connector.test_connection().await.expect_err("server stopped");
    assert!(error.retryable, "{error}");
    assert!(error.message.starts_with("connecting to ldap://127.0.0.1:"), "{error}");
}

#[tokio::test]
async fn a_wrong_bind_password_is_a_permanent_failure() {
    let slapd = Slapd::start().await;
    let connector = connector_with(&slapd, json!({"bindPassword": "not-the-password"}));
    let error = connector.test_connection().await.expect_err("wrong password");
    assert!(!error.retryable);
    assert_eq!(error.message, "binding as cn=admin,dc=example,dc=org: invalidCredentials (49)");
    let error = connector.accounts(None).await.expect_err("wrong password");
    assert!(!error.retryable);
    assert!(!error.message.contains("not-the-password"));

    let missing_base = connector_with(&slapd, json!({"baseDn": "ou=nowhere,dc=example,dc=org"}));
    let error = missing_base.test_connection().await.expect_err("no base");
    assert!(!error.retryable);
    assert!(error.message.starts_with("reading baseDn ou=nowhere,dc=example,dc=org: noSuchObject (32)"), "{error}");
}
