//! The delimited-file reader on small files written out in each test, checked against snapshots of what it yields.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions: a failed unwrap is a failed test

use std::fmt::Write as _;
use std::io::{self, Read};

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use tessera_connectors::{DelimitedConfig, DelimitedReader, Error};

/// Reads `input` with the configuration `attrs` and renders the header and every row or row error, one a line.
fn read(attrs: Value, input: &[u8]) -> String {
    let config = DelimitedConfig::from_json(&attrs).expect("the test's configuration is valid");
    let reader = match DelimitedReader::new(input, &config) {
        Ok(reader) => reader,
        Err(e) => return format!("error: {e}\n"),
    };
    let mut out = format!("columns: {}\n", reader.columns().join(" | "));
    for item in reader {
        match item {
            Ok(row) => {
                let attributes = Value::Object(row.attributes);
                writeln!(out, "line {}: {} ({}) {attributes}", row.line, row.native_identity, row.name).unwrap();
            }
            Err(e) => writeln!(out, "{e}").unwrap(),
        }
    }
    out
}

fn check(attrs: Value, input: &[u8], expected: Expect) {
    expected.assert_eq(&read(attrs, input));
}

fn id(column: &str) -> Value {
    json!({ "identityAttribute": column })
}

#[test]
fn header_and_rows() {
    check(
        json!({ "identityAttribute": "id", "nameAttribute": "name" }),
        b"id,name,email\nu1,Ada Lovelace,ada@example.com\nu2,,alan@example.com\n",
        expect![[r#"
            columns: id | name | email
            line 2: u1 (Ada Lovelace) {"id":"u1","name":"Ada Lovelace","email":"ada@example.com"}
            line 3: u2 (u2) {"id":"u2","email":"alan@example.com"}
        "#]],
    );
}

#[test]
fn header_names_are_trimmed_and_the_last_line_needs_no_break() {
    check(
        id("id"),
        b" id ,\tdepartment \nu1,Sales",
        expect![[r#"
            columns: id | department
            line 2: u1 (u1) {"id":"u1","department":"Sales"}
        "#]],
    );
}

#[test]
fn quoted_fields_hold_delimiters_quotes_and_line_breaks() {
    check(
        id("id"),
        b"id,title,note\nu1,\"VP, Sales\",\"says \"\"hi\"\"\"\nu2,\"two\nlines\",\"and\r\nthree\nlines\"\nu3,,\"\"\n",
        expect![[r#"
            columns: id | title | note
            line 2: u1 (u1) {"id":"u1","title":"VP, Sales","note":"says \"hi\""}
            line 3: u2 (u2) {"id":"u2","title":"two\nlines","note":"and\r\nthree\nlines"}
            line 7: u3 (u3) {"id":"u3"}
        "#]],
    );
}

#[test]
fn semicolon_delimiter_and_another_quote() {
    check(
        json!({ "identityAttribute": "id", "delimiter": ";", "quote": "'" }),
        b"id;city\nu1;'Paris; France'\nu2;Lyon,France\n",
        expect![[r#"
            columns: id | city
            line 2: u1 (u1) {"id":"u1","city":"Paris; France"}
            line 3: u2 (u2) {"id":"u2","city":"Lyon,France"}
        "#]],
    );
}

#[test]
fn tab_delimiter() {
    check(
        json!({ "identityAttribute": "id", "delimiter": "\t" }),
        b"id\tname\nu1\tAda, Countess\n",
        expect![[r#"
            columns: id | name
            line 2: u1 (u1) {"id":"u1","name":"Ada, Countess"}
        "#]],
    );
}

#[test]
fn windows_1252_is_decoded() {
    let attrs = json!({ "identityAttribute": "id", "nameAttribute": "name", "encoding": "windows-1252" });
    check(
        attrs.clone(),
        b"id,name,last\nu1,Zo\xEB,M\xFCller\nu2,\x80uro \x93quoted\x94,\n",
        expect![[r#"
            columns: id | name | last
            line 2: u1 (Zoë) {"id":"u1","name":"Zoë","last":"Müller"}
            line 3: u2 (€uro “quoted”) {"id":"u2","name":"€uro “quoted”"}
        "#]],
    );
    // ISO-8859-1 is windows-1252 to WHATWG, as browsers decode it.
    check(
        json!({ "identityAttribute": "id", "encoding": "ISO-8859-1" }),
        b"id,last\nu1,M\xFCller\n",
        expect![[r#"
            columns: id | last
            line 2: u1 (u1) {"id":"u1","last":"Müller"}
        "#]],
    );
}

#[test]
fn utf16_with_its_bom_is_decoded() {
    let text = "id,name\r\nu1,Zoë Müller\r\n";
    let mut input = vec![0xFF, 0xFE];
    input.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    check(
        json!({ "identityAttribute": "id", "encoding": "utf-16le" }),
        &input,
        expect![[r#"
            columns: id | name
            line 2: u1 (u1) {"id":"u1","name":"Zoë Müller"}
        "#]],
    );
}

#[test]
fn utf8_bom_crlf_and_blank_lines() {
    check(
        id("id"),
        b"\xEF\xBB\xBFid,name\r\n\r\nu1,Zo\xC3\xAB\r\n\n   \n,\nu2,Bo\r\n\r\n",
        expect![[r#"
            columns: id | name
            line 3: u1 (u1) {"id":"u1","name":"Zoë"}
            line 7: u2 (u2) {"id":"u2","name":"Bo"}
        "#]],
    );
}

#[test]
fn a_lone_cr_ends_a_line_too() {
    check(
        id("id"),
        b"id,note\ru1,\"a\rb\"\ru2,c\r",
        expect![[r#"
            columns: id | note
            line 2: u1 (u1) {"id":"u1","note":"a\rb"}
            line 4: u2 (u2) {"id":"u2","note":"c"}
        "#]],
    );
}

#[test]
fn short_and_long_rows_are_reported_and_reading_goes_on() {
    check(
        id("id"),
        b"id,a,b\nu1,1,2\nu2,1\nu3,\"x\ny\",2,3\nu4,1,2\n",
        expect![[r#"
            columns: id | a | b
            line 2: u1 (u1) {"id":"u1","a":"1","b":"2"}
            line 3: expected 3 fields, got 2
            line 4: expected 3 fields, got 4
            line 6: u4 (u4) {"id":"u4","a":"1","b":"2"}
        "#]],
    );
}

#[test]
fn empty_identity() {
    check(
        json!({ "identityAttribute": "id" }),
        b"name,id\nAda,\nAlan,  \nGrace,u3\n",
        expect![[r#"
            columns: name | id
            line 2: the identity column `id` is empty
            line 3: the identity column `id` is empty
            line 4: u3 (u3) {"name":"Grace","id":"u3"}
        "#]],
    );
}

#[test]
fn bad_quoting() {
    check(
        id("id"),
        b"id,note\nu1,ab\"c\nu2,\"ab\"c\nu3,ok\nu4,\"never closed\nu5,swallowed\n",
        expect![[r#"
            columns: id | note
            line 2: invalid quoting: a quote inside a field that does not start with one
            line 3: invalid quoting: characters after the closing quote of a field
            line 4: u3 (u3) {"id":"u3","note":"ok"}
            line 5: invalid quoting: a quoted field is not closed before the end of the file
        "#]],
    );
}

#[test]
fn undecodable_bytes() {
    // A bad byte, then a character split between two fields, then a good row.
    check(
        id("id"),
        b"id,a,b\nu1,x\xFFy,z\nu2,\xC3,\xA9\nu3,\xC3\xA9,\n",
        expect![[r#"
            columns: id | a | b
            line 2: column `a` holds bytes that are not valid UTF-8
            line 3: column `a` holds bytes that are not valid UTF-8
            line 4: u3 (u3) {"id":"u3","a":"é"}
        "#]],
    );
    // An unpaired surrogate in UTF-16.
    let mut input: Vec<u8> = "id,a\nu1,".encode_utf16().flat_map(u16::to_le_bytes).collect();
    input.extend([0x00, 0xD8]);
    input.extend("\nu2,b\n".encode_utf16().flat_map(u16::to_le_bytes));
    check(
        json!({ "identityAttribute": "id", "encoding": "utf-16le" }),
        &input,
        expect![[r#"
            columns: id | a
            line 2: column `a` holds bytes that are not valid UTF-16LE
            line 3: u2 (u2) {"id":"u2","a":"b"}
        "#]],
    );
}

#[test]
fn multi_valued_columns() {
    check(
        json!({ "identityAttribute": "id", "multiValuedAttributes": ["groups", "roles"], "multiValueDelimiter": ";" }),
        b"id,groups,roles\nu1,a;b; c ;;,admin\nu2,,\nu3, ; ,x\n",
        expect![[r#"
            columns: id | groups | roles
            line 2: u1 (u1) {"id":"u1","groups":["a","b","c"],"roles":["admin"]}
            line 3: u2 (u2) {"id":"u2"}
            line 4: u3 (u3) {"id":"u3","roles":["x"]}
        "#]],
    );
}

#[test]
fn header_problems() {
    let cases: [(&[u8], Expect); 8] = [
        (b"", expect!["error: the file is empty: a header row naming the columns is required"]),
        (b"\n\r\n  \n", expect!["error: the file is empty: a header row naming the columns is required"]),
        (b"\xEF\xBB\xBF", expect!["error: the file is empty: a header row naming the columns is required"]),
        (
            b"name,email\n",
            expect![
                "error: connector attribute `identityAttribute` names column `id`, which the header row does not have"
            ],
        ),
        (b"\nid,a, id\n", expect!["error: header row (line 2): column `id` appears twice"]),
        (b"id,,a\n", expect!["error: header row (line 1): column 2 has no name"]),
        (
            b"id,\"a\"b\n",
            expect!["error: header row (line 1): invalid quoting: characters after the closing quote of a field"],
        ),
        (b"id,\xFF\n", expect!["error: header row (line 1): column 2 holds bytes that are not valid UTF-8"]),
    ];
    for (input, expected) in cases {
        expected.assert_eq(read(id("id"), input).trim_end());
    }
    expect!["error: connector attribute `nameAttribute` names column `name`, which the header row does not have"]
        .assert_eq(read(json!({ "identityAttribute": "id", "nameAttribute": "name" }), b"id\n").trim_end());
    expect![
        "error: connector attribute `multiValuedAttributes` names column `roles`, which the header row does not have"
    ]
    .assert_eq(read(json!({ "identityAttribute": "id", "multiValuedAttributes": ["roles"] }), b"id\n").trim_end());
}

#[test]
fn configuration_from_json() {
    let config = DelimitedConfig::from_json(&json!({
        "identityAttribute": " employeeNumber ",
        "nameAttribute": "displayName",
        "delimiter": ";",
        "quote": "'",
        "encoding": "windows-1252",
        "multiValuedAttributes": ["groups"],
        "multiValueDelimiter": ",",
        "file": "ignored.csv",
    }))
    .unwrap();
    assert_eq!(
        config,
        DelimitedConfig {
            delimiter: b';',
            quote: b'\'',
            encoding: "windows-1252".to_owned(),
            identity_attribute: "employeeNumber".to_owned(),
            name_attribute: Some("displayName".to_owned()),
            multi_valued: vec!["groups".to_owned()],
            multi_value_delimiter: b',',
        }
    );
    let defaults =
        DelimitedConfig::from_json(&json!({ "identityAttribute": "id", "nameAttribute": "", "quote": null }));
    assert_eq!(defaults.unwrap(), DelimitedConfig::new("id"));
}

#[test]
fn configuration_errors_name_the_key() {
    let cases = [
        (json!([]), expect!["connector attribute `connectorAttributes`: must be a JSON object"]),
        (
            json!({}),
            expect!["connector attribute `identityAttribute`: is required: the column holding each account's identity"],
        ),
        (json!({ "identityAttribute": " " }), expect!["connector attribute `identityAttribute`: must name a column"]),
        (
            json!({ "identityAttribute": 7 }),
            expect!["connector attribute `identityAttribute`: must be a string, not 7"],
        ),
        (
            json!({ "identityAttribute": "id", "delimiter": ";;" }),
            expect![[r#"connector attribute `delimiter`: must be exactly one ASCII character, not ";;""#]],
        ),
        (
            json!({ "identityAttribute": "id", "delimiter": "" }),
            expect![[r#"connector attribute `delimiter`: must be exactly one ASCII character, not """#]],
        ),
        (
            json!({ "identityAttribute": "id", "delimiter": "§" }),
            expect![[r#"connector attribute `delimiter`: must be exactly one ASCII character, not "§""#]],
        ),
        (
            json!({ "identityAttribute": "id", "delimiter": "\n" }),
            expect![[
                r#"connector attribute `delimiter`: '\n' cannot be used: it must be one ASCII character, not a line break"#
            ]],
        ),
        (
            json!({ "identityAttribute": "id", "quote": "," }),
            expect!["connector attribute `quote`: must differ from the delimiter"],
        ),
        (
            json!({ "identityAttribute": "id", "multiValueDelimiter": "," }),
            expect!["connector attribute `multiValueDelimiter`: must differ from the delimiter"],
        ),
        (
            json!({ "identityAttribute": "id", "encoding": "klingon" }),
            expect!["connector attribute `encoding`: `klingon` is not an encoding label Tessera knows"],
        ),
        (
            json!({ "identityAttribute": "id", "encoding": "iso-2022-kr" }),
            expect!["connector attribute `encoding`: `iso-2022-kr` is not an encoding label Tessera knows"],
        ),
        (
            json!({ "identityAttribute": "id", "multiValuedAttributes": "groups" }),
            expect![[r#"connector attribute `multiValuedAttributes`: must be an array of column names, not "groups""#]],
        ),
        (
            json!({ "identityAttribute": "id", "multiValuedAttributes": ["a", ""] }),
            expect![[r#"connector attribute `multiValuedAttributes`: item 1 must be a column name, not """#]],
        ),
    ];
    for (attrs, expected) in cases {
        let error = DelimitedConfig::from_json(&attrs).expect_err("the configuration is invalid");
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
        expected.assert_eq(&error.to_string());
    }
    // A configuration built in code is checked when a reader starts.
    let config = DelimitedConfig { delimiter: b'|', ..DelimitedConfig::new("id") };
    let error = DelimitedReader::new(&b"id\n"[..], &config).unwrap_err();
    expect!["connector attribute `multiValueDelimiter`: must differ from the delimiter"].assert_eq(&error.to_string());
}

/// Hands out its input a few bytes at a time, so records, CRLFs, BOMs and characters straddle reads.
struct Trickle<'a> {
    input: &'a [u8],
    sizes: std::iter::Cycle<std::slice::Iter<'a, usize>>,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (*self.sizes.next().unwrap()).min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

#[test]
fn reads_of_any_size_give_the_same_rows() {
    let input: &[u8] =
        b"\xEF\xBB\xBFid,note\r\nu1,\"a,\"\"b\"\"\r\nc\"\r\n\r\nu2,Zo\xC3\xAB\ru3,\"x\"y\nu4,\xC3\xA9\xE2\x82\xAC\r\n";
    let config = DelimitedConfig::new("id");
    let whole: Vec<_> = DelimitedReader::new(input, &config).unwrap().collect();
    assert_eq!(whole.len(), 4);
    for sizes in [&[1][..], &[2], &[3], &[1, 2, 5], &[7, 1]] {
        let trickle = Trickle { input, sizes: sizes.iter().cycle() };
        let rows: Vec<_> = DelimitedReader::new(trickle, &config).unwrap().collect();
        assert_eq!(rows, whole, "reads of {sizes:?} bytes");
    }
}

#[test]
fn bytes_read_reaches_the_file_size() {
    let input = b"id,a\nu1,x\nu2,y\n";
    let mut reader = DelimitedReader::new(&input[..], &DelimitedConfig::new("id")).unwrap();
    assert!(reader.bytes_read() <= input.len() as u64);
    assert_eq!(reader.by_ref().count(), 2);
    assert_eq!(reader.bytes_read(), input.len() as u64);
}

/// Yields its input, then fails.
struct FailsAfter<'a>(&'a [u8]);

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn an_io_error_ends_reading_with_one_error() {
    let reader = DelimitedReader::new(FailsAfter(b"id,a\nu1,x\nu2,y"), &DelimitedConfig::new("id")).unwrap();
    let items: Vec<_> = reader.map(|item| item.map(|row| row.native_identity).map_err(|e| e.to_string())).collect();
    assert_eq!(items, [Ok("u1".to_owned()), Err("line 3: reading failed: disk on fire".to_owned())]);
    let error = DelimitedReader::new(FailsAfter(b"id,a"), &DelimitedConfig::new("id")).unwrap_err();
    assert_eq!(error.to_string(), "reading the header row failed: disk on fire");
}

#[test]
fn opens_a_file_by_path() {
    let path = std::env::temp_dir().join(format!("tessera-connectors-open-{}.csv", std::process::id()));
    std::fs::write(&path, "id,name\nu1,Ada\n").unwrap();
    let rows: Vec<_> = DelimitedReader::open(&path, &DelimitedConfig::new("id")).unwrap().collect();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].as_ref().unwrap().native_identity, "u1");
    let missing = DelimitedReader::open(&path, &DelimitedConfig::new("id")).unwrap_err();
    assert!(matches!(missing, Error::Open { .. }), "{missing:?}");
}
