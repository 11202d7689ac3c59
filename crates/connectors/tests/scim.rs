//! The SCIM connector against a real service provider (scim2-server): provisioning, idempotent retries,
//! paging, OAuth 2.0 tokens and what failures mean.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use tessera_connectors::scim::{ScimConfig, ScimConnector};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_connectors::{
    Account, AccountRequest, AttributeOperation, AttributeRequest, Connector, ConnectorError, Feature, Operation,
    Outcome,
};

fn attribute(name: &str, operation: AttributeOperation, value: Value) -> AttributeRequest {
    AttributeRequest { name: name.to_owned(), operation, value }
}

fn set(name: &str, value: Value) -> AttributeRequest {
    attribute(name, AttributeOperation::Set, value)
}

fn request(operation: Operation, id: Option<&str>, attributes: Vec<AttributeRequest>) -> AccountRequest {
    AccountRequest { operation, native_identity: id.map(str::to_owned), attributes, password: None }
}

/// Creates a user named `name`; returns its id.
async fn create(connector: &ScimConnector, name: &str, key: &str) -> String {
    let request = request(Operation::Create, None, vec![set("userName", json!(name))]);
    native_identity(connector.provision(&request, key).await.unwrap())
}

fn native_identity(outcome: Outcome) -> String {
    match outcome {
        Outcome::Success { native_identity, .. } => native_identity,
        Outcome::Pending { .. } => panic!("a SCIM request is never pending"),
    }
}

fn account(outcome: Outcome) -> Account {
    match outcome {
        Outcome::Success { account: Some(account), .. } => account,
        other => panic!("no account in {other:?}"),
    }
}

/// Every account, page by page; also the size of each page.
async fn all_accounts(connector: &ScimConnector) -> (Vec<Account>, Vec<usize>) {
    let (mut accounts, mut sizes, mut cursor) = (Vec::new(), Vec::new(), None);
    loop {
        let page = connector.accounts(cursor.as_deref()).await.unwrap();
        sizes.push(page.items.len());
        accounts.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (accounts, sizes),
        }
    }
}

async fn read_account(connector: &ScimConnector, id: &str) -> Account {
    let (accounts, _) = all_accounts(connector).await;
    accounts.into_iter().find(|account| account.native_identity == id).expect("the account is listed")
}

fn assert_permanent(error: &ConnectorError, fragment: &str) {
    assert!(!error.retryable, "expected a permanent error: {error:?}");
    assert!(error.message.contains(fragment), "`{fragment}` is not in: {}", error.message);
}

#[tokio::test]
async fn create_with_groups_reads_back_and_a_retry_succeeds_once() {
    let server = ScimServer::start();
    let connector = server.connector(json!({}));
    assert!(!connector.features().contains(&Feature::Unlock));
    assert!(connector.features().contains(&Feature::Provisioning));
    let (admins, staff) = (server.create_group("admins").await, server.create_group("staff").await);

    let mut create = request(
        Operation::Create,
        None,
        vec![
            set("userName", json!("alice")),
            set("givenName", json!("Alice")),
            set("familyName", json!("Liddell")),
            set("displayName", json!("Alice Liddell")),
            set("email", json!("alice@example.org")),
            set("title", json!("Engineer")),
            set("department", json!("R&D")),
            set("active", json!("true")),
            attribute("groups", AttributeOperation::Add, json!([admins, staff])),
        ],
    );
    create.password = Some("Initial-pass1".to_owned());
    let created = account(connector.provision(&create, "request-1").await.unwrap());
    let id = created.native_identity.clone();
    assert_eq!(created.name, "alice");

    let listed = read_account(&connector, &id).await;
    assert_eq!(listed, created);
    assert!(!listed.disabled && !listed.locked);
    assert_eq!(
        Value::Object(listed.attributes),
        json!({
            "externalId": "request-1",
            "userName": "alice",
            "givenName": "Alice",
            "familyName": "Liddell",
            "displayName": "Alice Liddell",
            "title": "Engineer",
            "active": true,
            "email": "alice@example.org",
            "emails": ["alice@example.org"],
            "department": "R&D",
            "groups": if admins < staff { [&admins, &staff] } else { [&staff, &admins] },
        })
    );
    assert_eq!(server.members(&admins).await, [id.as_str()]);
    assert_eq!(server.members(&staff).await, [id.as_str()]);

    // The retry of the same request (its answer lost): the same user, no second membership.
    let retried = connector.provision(&create, "request-1").await.unwrap();
    assert_eq!(native_identity(retried), id);
    let (accounts, _) = all_accounts(&connector).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(server.members(&admins).await, [id.as_str()]);

    // Another request for the same userName is a conflict, not a success.
    let error = connector.provision(&create, "request-2").await.unwrap_err();
    assert_permanent(&error, "409");
    assert_permanent(&error, "was not created by this request");
    assert!(!error.message.contains("Initial-pass1"));

    // Requests a Create cannot carry.
    let nameless = request(Operation::Create, None, vec![set("displayName", json!("Nobody"))]);
    assert_permanent(&connector.provision(&nameless, "k").await.unwrap_err(), "needs a `userName`");
    let unlock = request(Operation::Unlock, Some(&id), vec![]);
    assert_permanent(&connector.provision(&unlock, "k").await.unwrap_err(), "cannot unlock");

    let page = connector.entitlements(None).await.unwrap();
    assert_eq!(page.next, None);
    let groups: BTreeSet<_> =
        page.items.iter().map(|g| (g.attribute.as_str(), g.value.clone(), g.name.as_str())).collect();
    assert_eq!(groups, BTreeSet::from([("groups", admins, "admins"), ("groups", staff, "staff")]));
    connector.test_connection().await.unwrap();
}

#[tokio::test]
async fn modify_sets_attributes_and_changes_memberships_repeatably() {
    let server = ScimServer::start();
    let connector = server.connector(json!({}));
    let group = server.create_group("admins").await;
    let id = create(&connector, "bob", "k1").await;

    let modify = request(
        Operation::Modify,
        Some(&id),
        vec![
            set("displayName", json!("Robert")),
            set("givenName", json!("Robert")),
            set("email", json!("bob@example.org")),
            set("department", json!("Sales")),
            attribute("emails", AttributeOperation::Add, json!("bob@home.example")),
        ],
    );
    connector.provision(&modify, "k2").await.unwrap();
    let bob = read_account(&connector, &id).await;
    assert_eq!(bob.attributes["displayName"], "Robert");
    assert_eq!(bob.attributes["givenName"], "Robert");
    assert_eq!(bob.attributes["department"], "Sales");
    assert_eq!(bob.attributes["email"], "bob@example.org");
    assert_eq!(bob.attributes["emails"], json!(["bob@example.org", "bob@home.example"]));

    // Removing a value twice: the second finds nothing to remove, which is no error. A null Set removes.
    let remove = request(
        Operation::Modify,
        Some(&id),
        vec![attribute("email", AttributeOperation::Remove, json!("bob@home.example")), set("title", Value::Null)],
    );
    for _ in 0..2 {
        connector.provision(&remove, "k3").await.unwrap();
    }
    assert_eq!(read_account(&connector, &id).await.attributes["emails"], json!(["bob@example.org"]));

    // Adding a membership twice, then removing it twice.
    let join = request(Operation::Modify, Some(&id), vec![attribute("groups", AttributeOperation::Add, json!(group))]);
    for _ in 0..2 {
        let joined = account(connector.provision(&join, "k4").await.unwrap());
        assert_eq!((joined.native_identity.as_str(), &joined.attributes["groups"]), (id.as_str(), &json!([group])));
        assert_eq!(server.members(&group).await, [id.as_str()]);
    }
    let leave =
        request(Operation::Modify, Some(&id), vec![attribute("groups", AttributeOperation::Remove, json!([group]))]);
    for _ in 0..2 {
        let left = account(connector.provision(&leave, "k5").await.unwrap());
        assert!(!left.attributes.contains_key("groups"));
        assert!(server.members(&group).await.is_empty());
    }
    let replace = request(Operation::Modify, Some(&id), vec![set("groups", json!([group]))]);
    assert_permanent(&connector.provision(&replace, "k6").await.unwrap_err(), "cannot be Set");

    connector.provision(&request(Operation::Disable, Some(&id), vec![]), "k7").await.unwrap();
    assert!(read_account(&connector, &id).await.disabled);
    connector.provision(&request(Operation::Enable, Some(&id), vec![]), "k8").await.unwrap();
    let bob = read_account(&connector, &id).await;
    assert!(!bob.disabled);
    assert_eq!(bob.attributes["active"], true);

    // Joining a group that does not exist.
    let missing =
        request(Operation::Modify, Some(&id), vec![attribute("groups", AttributeOperation::Add, json!("no-group"))]);
    assert_permanent(&connector.provision(&missing, "k9").await.unwrap_err(), "404");
}

#[tokio::test]
async fn password_delete_missing_users_and_a_stopped_server() {
    let mut server = ScimServer::start();
    let connector = server.connector(json!({ "timeoutSeconds": 5 }));
    let carol = create(&connector, "carol", "k1").await;
    let mut password = request(Operation::Password, Some(&carol), vec![]);
    password.password = Some("Changed-pass2".to_owned());
    connector.provision(&password, "k2").await.unwrap();
    let without = request(Operation::Password, Some(&carol), vec![]);
    assert_permanent(&connector.provision(&without, "k3").await.unwrap_err(), "needs a password");

    // Deleting twice: the second finds the user gone, which is what it wanted.
    let dave = create(&connector, "dave", "k4").await;
    let delete = request(Operation::Delete, Some(&dave), vec![]);
    for _ in 0..2 {
        assert_eq!(native_identity(connector.provision(&delete, "k5").await.unwrap()), dave);
    }
    let (accounts, _) = all_accounts(&connector).await;
    assert_eq!(accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["carol"]);

    // Changing a user that does not exist; the password stays out of the message.
    let modify = request(Operation::Modify, Some("no-such-user"), vec![set("title", json!("x"))]);
    assert_permanent(
        &connector.provision(&modify, "k6").await.unwrap_err(),
        "404 Not Found: User 'no-such-user' not found",
    );
    let mut lost = request(Operation::Password, Some("no-such-user"), vec![]);
    lost.password = Some("Leaky-secret9".to_owned());
    let error = connector.provision(&lost, "k7").await.unwrap_err();
    assert_permanent(&error, "SCIM PATCH /Users/no-such-user: HTTP 404");
    assert!(!error.message.contains("Leaky-secret9"));
    let join = request(
        Operation::Modify,
        Some("no-such-user"),
        vec![attribute("groups", AttributeOperation::Add, json!("g"))],
    );
    assert_permanent(&connector.provision(&join, "k8").await.unwrap_err(), "GET /Users/no-such-user: HTTP 404");
    let anonymous = request(Operation::Modify, None, vec![]);
    assert_permanent(&connector.provision(&anonymous, "k9").await.unwrap_err(), "needs the account's native identity");

    let resources = server.stop();
    let stored = resources.iter().find(|r| r["userName"] == "carol").expect("carol is stored");
    assert_eq!(stored["password"], "Changed-pass2");

    let error = connector.accounts(None).await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(error.message.contains("SCIM GET /Users: could not connect"), "{}", error.message);
    let error = connector.provision(&password, "k2").await.unwrap_err();
    assert!(error.retryable, "{error:?}");
}

#[tokio::test]
async fn accounts_and_entitlements_come_page_by_page() {
    let server = ScimServer::start();
    let connector = server.connector(json!({ "pageSize": 2 }));
    let mut names = BTreeSet::new();
    for n in 0..5 {
        let name = format!("user{n}");
        create(&connector, &name, &format!("key-{n}")).await;
        names.insert(name);
    }
    let (accounts, sizes) = all_accounts(&connector).await;
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(accounts.iter().map(|a| a.name.clone()).collect::<BTreeSet<_>>(), names);
    assert_eq!(connector.accounts(Some("3")).await.unwrap().next.as_deref(), Some("5"));
    assert_permanent(&connector.accounts(Some("0")).await.unwrap_err(), "not a SCIM page cursor");

    let mut groups = BTreeSet::new();
    for name in ["a", "b", "c"] {
        groups.insert(server.create_group(name).await);
    }
    let first = connector.entitlements(None).await.unwrap();
    let next = first.next.clone().expect("a second page");
    let second = connector.entitlements(Some(&next)).await.unwrap();
    assert_eq!((first.items.len(), second.items.len(), second.next), (2, 1, None));
    let read: BTreeSet<_> = first.items.into_iter().chain(second.items).map(|g| g.value).collect();
    assert_eq!(read, groups);

    // A token the server does not accept.
    let refused = server.connector(json!({ "token": "not-the-token" }));
    let error = refused.accounts(None).await.unwrap_err();
    assert_permanent(&error, "HTTP 401 Unauthorized: Authorization failure");
    assert!(!error.message.contains("not-the-token"));
    assert_permanent(&refused.test_connection().await.unwrap_err(), "401");
}

/// Each account's name and its `groups`, sorted by name.
fn memberships(accounts: &[Account]) -> Vec<(String, Value)> {
    let mut memberships: Vec<_> = accounts
        .iter()
        .map(|account| (account.name.clone(), account.attributes.get("groups").cloned().unwrap_or(Value::Null)))
        .collect();
    memberships.sort_by(|a, b| a.0.cmp(&b.0));
    memberships
}

#[tokio::test]
async fn memberships_come_from_the_groups_members_page_by_page() {
    let server = ScimServer::start();
    // Pages of two: three pages of users, and two of groups.
    let connector = server.connector(json!({ "pageSize": 2 }));
    let (a, b, c) = (server.create_group("a").await, server.create_group("b").await, server.create_group("c").await);
    let joined = [json!([b, a]), json!([c]), json!([]), json!([a, b, c]), json!([b])];
    let mut created = Vec::new();
    for (n, groups) in joined.iter().enumerate() {
        let create = request(
            Operation::Create,
            None,
            vec![
                set("userName", json!(format!("user{n}"))),
                attribute("groups", AttributeOperation::Add, groups.clone()),
            ],
        );
        created.push(account(connector.provision(&create, &format!("key-{n}")).await.unwrap()));
    }
    let ids: Vec<&str> = created.iter().map(|account| account.native_identity.as_str()).collect();

    // scim2-server leaves the users' `groups` out: the memberships come from the groups' members, as group ids
    // (the entitlements' values), sorted.
    let sorted = |ids: &[&String]| {
        let mut ids: Vec<&String> = ids.to_vec();
        ids.sort();
        json!(ids)
    };
    let expected = vec![
        ("user0".to_owned(), sorted(&[&a, &b])),
        ("user1".to_owned(), sorted(&[&c])),
        ("user2".to_owned(), Value::Null),
        ("user3".to_owned(), sorted(&[&a, &b, &c])),
        ("user4".to_owned(), sorted(&[&b])),
    ];
    let (accounts, sizes) = all_accounts(&connector).await;
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(memberships(&accounts), expected);
    // A created account, read back after its memberships were added, carries them too.
    assert_eq!(memberships(&created), expected);
    // The values are the entitlements' values.
    let first = connector.entitlements(None).await.unwrap();
    let second = connector.entitlements(first.next.as_deref()).await.unwrap();
    let values: BTreeSet<String> = first.items.into_iter().chain(second.items).map(|e| e.value).collect();
    assert_eq!(values, BTreeSet::from([a.clone(), b.clone(), c.clone()]));

    // The groups are read once, with the first page: a membership added after it shows in the next read, not in
    // the later pages of this one.
    let first = connector.accounts(None).await.unwrap();
    let cursor = first.next.clone().unwrap();
    let not_in_a = [ids[1], ids[2], ids[4]];
    let later = *not_in_a.iter().find(|id| first.items.iter().all(|account| account.native_identity != **id)).unwrap();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "add", "path": "members", "value": [{ "value": later }] }],
    });
    let (status, _) = server.request(reqwest::Method::PATCH, &format!("/Groups/{a}"), Some(patch)).await;
    assert!(matches!(status, 200 | 204), "{status}");
    let in_a = |accounts: &[Account]| {
        let account = accounts.iter().find(|account| account.native_identity == later).unwrap();
        account.attributes.get("groups").and_then(Value::as_array).is_some_and(|groups| groups.contains(&json!(a)))
    };
    assert!(!in_a(&rest_of_read(&connector, &cursor).await), "the read's map is from its first page");
    assert!(in_a(&all_accounts(&connector).await.0), "a new read reads the groups again");
    // A cursor whose read's map is not there (here: on another connector) reads the groups again.
    let other = server.connector(json!({ "pageSize": 2 }));
    assert!(in_a(&rest_of_read(&other, &cursor).await));
    assert_permanent(&connector.accounts(Some("3.x")).await.unwrap_err(), "not a SCIM page cursor");
}

/// The accounts of a read from `cursor` on.
async fn rest_of_read(connector: &ScimConnector, cursor: &str) -> Vec<Account> {
    let (mut accounts, mut next) = (Vec::new(), Some(cursor.to_owned()));
    while let Some(at) = next {
        let page = connector.accounts(Some(&at)).await.unwrap();
        accounts.extend(page.items);
        next = page.next;
    }
    accounts
}

/// A token endpoint on a loopback port: it checks the client's credentials and hands out `tokens` in turn
/// (the last one again when they run out), counting the requests.
async fn token_endpoint(tokens: Vec<String>) -> (String, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&asked);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            // The form body is short: the request is complete once it ends with the body.
            while !String::from_utf8_lossy(&request).contains("grant_type=client_credentials") {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the token request ended early");
                request.extend_from_slice(&buffer[..read]);
            }
            let request = String::from_utf8(request).unwrap().to_ascii_lowercase();
            // base64("tessera:s3cret-value")
            let (status, body) = if request.contains("authorization: basic dgvzc2vyytpzm2nyzxqtdmfsdwu=") {
                let mut asked = counter.lock().unwrap();
                let token = &tokens[(*asked as usize).min(tokens.len() - 1)];
                *asked += 1;
                assert!(request.contains("scope=scim"), "{request}");
                ("200 OK", json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }))
            } else {
                ("401 Unauthorized", json!({ "error": "invalid_client", "error_description": "bad credentials" }))
            };
            let body = body.to_string();
            let headers = format!("content-type: application/json\r\ncontent-length: {}\r\n", body.len());
            let answer = format!("HTTP/1.1 {status}\r\n{headers}connection: close\r\n\r\n{body}");
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    (url, asked)
}

#[tokio::test]
async fn oauth2_tokens_are_cached_and_renewed_when_refused() {
    let server = ScimServer::start();
    let (token_url, asked) = token_endpoint(vec!["revoked".to_owned(), server.token().to_owned()]).await;
    let oauth = |secret: &str| {
        let attributes = json!({
            "baseUrl": server.base_url(), "authType": "oauth2", "tokenUrl": token_url,
            "clientId": "tessera", "clientSecret": secret, "scope": "scim",
        });
        ScimConnector::new(ScimConfig::from_json(&attributes).unwrap()).unwrap()
    };
    let connector = oauth("s3cret-value");

    // The first token, fresh from the endpoint, is refused: that is the answer.
    assert_permanent(&connector.accounts(None).await.unwrap_err(), "401");
    assert_eq!(*asked.lock().unwrap(), 1);
    // The cached token refused again: it is replaced once, and the request goes through.
    create(&connector, "erin", "k1").await;
    assert_eq!(*asked.lock().unwrap(), 2);
    // The new token is cached.
    for _ in 0..3 {
        assert_eq!(connector.accounts(None).await.unwrap().items.len(), 1);
    }
    assert_eq!(*asked.lock().unwrap(), 2);

    let error = oauth("wrong-secret").accounts(None).await.unwrap_err();
    assert_permanent(&error, "HTTP 401 Unauthorized: invalid_client: bad credentials");
    assert!(!error.message.contains("wrong-secret"));
}

/// The engine runs requests on a multi-threaded runtime: the connector and its futures must be `Send`.
#[allow(dead_code)] // checked at compile time
fn futures_are_send(connector: &ScimConnector, request: &AccountRequest) {
    fn send<T: Send + Sync>(_: &T) {}
    fn send_future<T: Send>(_: T) {}
    send(connector);
    send_future(connector.provision(request, "k"));
    send_future(connector.accounts(None));
    send_future(connector.entitlements(None));
    send_future(connector.test_connection());
}
