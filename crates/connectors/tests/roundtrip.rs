//! Whatever the `csv` crate writes, the delimited reader reads back cell for cell, on the right lines, however
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions: a failed unwrap is a failed test
//! the input is split into reads.

use std::io::{self, Read};

use proptest::prelude::*;
use serde_json::{Map, Value};
use tessera_connectors::{DelimitedConfig, DelimitedReader};

const COLUMNS: usize = 4;

/// Cells drawn from characters that matter to the syntax, plus some that do not.
fn cell() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'é', '€', ' ', ',', ';', '"', '\'', '\r', '\n', '|']),
        0..6,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Hands out its input in reads of the given sizes, cycling.
struct Chunked<'a> {
    input: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = size.min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

/// Line breaks as the reader counts them: LF, and CR not followed by LF.
fn lines_in(bytes: &[u8]) -> u64 {
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    let lone_cr = bytes.iter().enumerate().filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n')).count();
    (lf + lone_cr) as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reads_what_csv_writes(
        rows in proptest::collection::vec(proptest::collection::vec(cell(), COLUMNS - 1), 0..20),
        semicolon in any::<bool>(),
        crlf in any::<bool>(),
        quote_all in any::<bool>(),
        sizes in proptest::collection::vec(1usize..9, 1..4),
    ) {
        let delimiter = if semicolon { b';' } else { b',' };
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .quote_style(if quote_all { csv::QuoteStyle::Always } else { csv::QuoteStyle::Necessary })
            .from_writer(Vec::new());
        writer.write_record(["id", "a", "b", "c"]).unwrap();
        let mut starts = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            writer.flush().unwrap();
            starts.push(writer.get_ref().len());
            let id = format!("u{i}");
            writer.write_record(std::iter::once(&id).chain(row)).unwrap();
        }
        let file = writer.into_inner().unwrap();

        let config = DelimitedConfig { delimiter, ..DelimitedConfig::new("id") };
        let input = Chunked { input: &file, sizes, next: 0 };
        let read: Vec<_> = DelimitedReader::new(input, &config).unwrap().collect();
        prop_assert_eq!(read.len(), rows.len());
        for (i, (item, row)) in read.into_iter().zip(&rows).enumerate() {
            let got = item.unwrap();
            let id = format!("u{i}");
            let mut expected = Map::new();
            for (name, value) in ["id", "a", "b", "c"].into_iter().zip(std::iter::once(&id).chain(row)) {
                if !value.is_empty() {
                    expected.insert(name.to_owned(), Value::from(value.as_str()));
                }
            }
            prop_assert_eq!(&got.native_identity, &id);
            prop_assert_eq!(got.line, 1 + lines_in(&file[..starts[i]]));
            prop_assert_eq!(got.attributes, expected);
        }
    }
}
