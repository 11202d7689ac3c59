//! The generated HR file, read back by the delimited reader.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions: a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};

use tessera_connectors::generate::{HR_COLUMNS, write_hr_file};
use tessera_connectors::{DelimitedConfig, DelimitedReader, Row};

fn generate(count: usize, seed: u64) -> Vec<u8> {
    let mut file = Vec::new();
    write_hr_file(&mut file, count, seed).unwrap();
    file
}

fn read_all(file: &[u8]) -> (Vec<String>, Vec<Row>) {
    let config =
        DelimitedConfig { name_attribute: Some("displayName".to_owned()), ..DelimitedConfig::new("employeeNumber") };
    let mut reader = DelimitedReader::new(file, &config).unwrap();
    let rows = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(reader.bytes_read(), file.len() as u64);
    (reader.columns().to_vec(), rows)
}

#[test]
fn ten_thousand_generated_rows_read_back() {
    let file = generate(10_000, 7);
    let (columns, rows) = read_all(&file);
    assert_eq!(columns, HR_COLUMNS);
    assert_eq!(rows.len(), 10_000);

    let mut emails = HashSet::new();
    let mut statuses = HashMap::<&str, usize>::new();
    let mut departments = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let attr = |name: &str| row.attributes.get(name).and_then(|v| v.as_str());
        assert_eq!(row.line, i as u64 + 2);
        assert_eq!(row.native_identity, format!("E{:06}", i + 1));
        assert_eq!(row.name, format!("{} {}", attr("firstName").unwrap(), attr("lastName").unwrap()));
        assert!(emails.insert(attr("email").unwrap().to_owned()), "emails are unique");
        assert!(attr("email").unwrap().ends_with(&format!("+{}@example.com", i + 1)));
        *statuses.entry(attr("status").unwrap()).or_default() += 1;
        departments.insert(attr("department").unwrap().to_owned());
        let start = attr("startDate").unwrap();
        assert_eq!(start.len(), 10, "{start}");
        // Managers come earlier in the file, so they form a tree rooted at the first row.
        match attr("managerId") {
            None => assert_eq!(i, 0, "only the first row has no manager"),
            Some(manager) => {
                assert!(manager < row.native_identity.as_str(), "{manager} manages {}", row.native_identity)
            }
        }
        let cells = if i == 0 { 10 } else { 11 };
        assert_eq!(row.attributes.len(), cells);
    }
    assert_eq!(departments.len(), 8);
    assert_eq!(statuses.keys().copied().collect::<HashSet<_>>(), HashSet::from(["A", "L", "T"]));
    assert!(statuses["A"] > 8_500 && statuses["L"] > 300 && statuses["T"] > 200, "{statuses:?}");
    // Some job titles hold the delimiter, so the file exercises quoting.
    assert!(rows.iter().any(|row| row.attributes["jobTitle"].as_str().unwrap().contains(',')));
}

#[test]
fn the_same_seed_gives_the_same_file() {
    assert_eq!(generate(500, 1), generate(500, 1));
    assert_ne!(generate(500, 1), generate(500, 2));
    assert_eq!(generate(0, 1), format!("{}\n", HR_COLUMNS.join(",")).into_bytes());
}
