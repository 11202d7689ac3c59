//! The delimited-file (CSV) source: its configuration, and a streaming reader that yields every row as an account.
//!
//! The first non-blank record is the header naming the columns. Each later record is one [`Row`], or a
//! [`RowError`] saying which line is bad and why; reading goes on with the next row either way. Input is read
//! through a fixed buffer, never whole. UTF-8 input is validated in place; any other encoding is decoded first.

mod decode;
mod parse;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use encoding_rs::{Encoding, UTF_8};
use serde_json::{Map, Value};

use crate::Error;
use decode::Decoding;
use parse::{RawRecord, Tokenizer};

/// How to read a delimited file: its syntax, encoding, and which columns mean what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelimitedConfig {
    /// The byte between fields, an ASCII character.
    pub delimiter: u8,
    /// The byte that quotes a field, an ASCII character.
    pub quote: u8,
    /// The file's encoding, as a WHATWG label: "utf-8", "windows-1252", "iso-8859-1", "utf-16le"…
    pub encoding: String,
    /// The column holding each account's native identity; it must not be empty in any row.
    pub identity_attribute: String,
    /// The column holding the account's display name; the identity column when `None`.
    pub name_attribute: Option<String>,
    /// Columns whose cells are lists, split on `multi_value_delimiter`.
    pub multi_valued: Vec<String>,
    /// The byte between the values of a multi-valued cell; it must differ from `delimiter`.
    pub multi_value_delimiter: u8,
}

impl DelimitedConfig {
    /// A comma-separated UTF-8 file, with `"` as the quote and `|` between values, whose identities are in
    /// `identity_attribute`.
    pub fn new(identity_attribute: impl Into<String>) -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            encoding: "utf-8".to_owned(),
            identity_attribute: identity_attribute.into(),
            name_attribute: None,
            multi_valued: Vec::new(),
            multi_value_delimiter: b'|',
        }
    }

    /// Reads a source's `connectorAttributes`: `delimiter`, `quote`, `encoding`, `identityAttribute` (required),
    /// `nameAttribute`, `multiValuedAttributes` (an array of column names) and `multiValueDelimiter`. Other keys
    /// are ignored; a key that is absent or null takes its default.
    pub fn from_json(attrs: &Value) -> Result<Self, Error> {
        let Some(attrs) = attrs.as_object() else {
            return Err(config_error("connectorAttributes", "must be a JSON object"));
        };
        let Some(identity) = string(attrs, "identityAttribute")? else {
            return Err(config_error("identityAttribute", "is required: the column holding each account's identity"));
        };
        let mut config = Self::new(identity.trim());
        if let Some(delimiter) = ascii_char(attrs, "delimiter")? {
            config.delimiter = delimiter;
        }
        if let Some(quote) = ascii_char(attrs, "quote")? {
            config.quote = quote;
        }
        if let Some(encoding) = string(attrs, "encoding")? {
            config.encoding = encoding.trim().to_owned();
        }
        config.name_attribute =
            string(attrs, "nameAttribute")?.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        match attrs.get("multiValuedAttributes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().map(str::trim) {
                        Some(name) if !name.is_empty() => config.multi_valued.push(name.to_owned()),
                        _ => {
                            let message = format!("item {i} must be a column name, not {item}");
                            return Err(config_error("multiValuedAttributes", message));
                        }
                    }
                }
            }
            Some(other) => {
                return Err(config_error(
                    "multiValuedAttributes",
                    format!("must be an array of column names, not {other}"),
                ));
            }
        }
        if let Some(delimiter) = ascii_char(attrs, "multiValueDelimiter")? {
            config.multi_value_delimiter = delimiter;
        }
        config.check()?;
        Ok(config)
    }

    /// Checks what a reader relies on, and finds the encoding.
    fn check(&self) -> Result<&'static Encoding, Error> {
        for (key, byte) in
            [("delimiter", self.delimiter), ("quote", self.quote), ("multiValueDelimiter", self.multi_value_delimiter)]
        {
            if !byte.is_ascii() || byte == b'\r' || byte == b'\n' {
                return Err(config_error(
                    key,
                    format!("{:?} cannot be used: it must be one ASCII character, not a line break", char::from(byte)),
                ));
            }
        }
        if self.quote == self.delimiter {
            return Err(config_error("quote", "must differ from the delimiter"));
        }
        if self.multi_value_delimiter == self.delimiter {
            return Err(config_error("multiValueDelimiter", "must differ from the delimiter"));
        }
        if self.identity_attribute.trim().is_empty() {
            return Err(config_error("identityAttribute", "must name a column"));
        }
        match Encoding::for_label(self.encoding.as_bytes()) {
            // "replacement" is the WHATWG stand-in for encodings unsafe to decode; it decodes nothing.
            Some(encoding) if encoding != encoding_rs::REPLACEMENT => Ok(encoding),
            _ => Err(config_error("encoding", format!("`{}` is not an encoding label Tessera knows", self.encoding))),
        }
    }
}

fn config_error(key: &'static str, message: impl Into<String>) -> Error {
    Error::Config { key, message: message.into() }
}

fn string<'a>(attrs: &'a Map<String, Value>, key: &'static str) -> Result<Option<&'a str>, Error> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(config_error(key, format!("must be a string, not {other}"))),
    }
}

fn ascii_char(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<u8>, Error> {
    let Some(s) = string(attrs, key)? else { return Ok(None) };
    match s.as_bytes() {
        [byte] => Ok(Some(*byte)),
        _ => Err(config_error(key, format!("must be exactly one ASCII character, not {s:?}"))),
    }
}

/// One account read from a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The 1-based line of the file on which the row starts.
    pub line: u64,
    /// The identity column's value.
    pub native_identity: String,
    /// The name column's value, or the native identity where that cell is empty.
    pub name: String,
    /// Every non-empty cell by column name, in column order: a string, or for a multi-valued column an array of
    /// the non-empty, trimmed values.
    pub attributes: Map<String, Value>,
}

/// A row that is not an account, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The 1-based line of the file on which the row starts.
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for RowError {}

/// Where the tokenizer's bytes come from: the file itself when it is UTF-8, else the file decoded.
enum Source<R> {
    Utf8(R),
    Decoded(Decoding<R>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Utf8(r) => r.read(buf),
            Self::Decoded(r) => r.read(buf),
        }
    }
}

/// Reads the accounts of a delimited file, one [`Row`] (or [`RowError`]) per record after the header.
pub struct DelimitedReader<R> {
    tokenizer: Tokenizer<Source<R>>,
    record: RawRecord,
    columns: Vec<String>,
    /// Every column mapped to null, in order: each row's attributes start as a copy.
    template: Map<String, Value>,
    identity: usize,
    name: usize,
    /// Per column, whether its cells are lists.
    multi_valued: Vec<bool>,
    multi_value_delimiter: char,
    /// The encoding's name when it is not UTF-8, for messages about undecodable bytes.
    decoded_from: Option<&'static str>,
    finished: bool,
}

impl<R> fmt::Debug for DelimitedReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelimitedReader")
            .field("columns", &self.columns)
            .field("identity", &self.columns[self.identity])
            .field("decoded_from", &self.decoded_from)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl DelimitedReader<File> {
    /// Opens the file at `path` and reads its header row.
    pub fn open(path: &Path, config: &DelimitedConfig) -> Result<Self, Error> {
        let file = File::open(path).map_err(|source| Error::Open { path: path.to_owned(), source })?;
        Self::new(file, config)
    }
}

impl<R: Read> DelimitedReader<R> {
    /// Reads the header row from `reader`. Fails if the configuration is invalid, if there is no header, if it
    /// repeats a column name, or if a column the configuration names is not in it.
    pub fn new(reader: R, config: &DelimitedConfig) -> Result<Self, Error> {
        let encoding = config.check()?;
        let (source, decoded_from) = if encoding == UTF_8 {
            (Source::Utf8(reader), None)
        } else {
            (Source::Decoded(Decoding::new(reader, encoding)), Some(encoding.name()))
        };
        let mut tokenizer = Tokenizer::new(source, config.delimiter, config.quote);
        let mut record = RawRecord::default();
        loop {
            if !tokenizer.read_record(&mut record)? {
                return Err(Error::MissingHeader);
            }
            if !record.is_blank() {
                break;
            }
        }
        let columns = header(&record, decoded_from)?;
        let find = |key: &'static str, name: &str| {
            let name = name.trim();
            columns.iter().position(|c| c == name).ok_or_else(|| Error::MissingColumn { key, name: name.to_owned() })
        };
        let identity = find("identityAttribute", &config.identity_attribute)?;
        let name = match &config.name_attribute {
            Some(name) => find("nameAttribute", name)?,
            None => identity,
        };
        let mut multi_valued = vec![false; columns.len()];
        for column in &config.multi_valued {
            multi_valued[find("multiValuedAttributes", column)?] = true;
        }
        Ok(Self {
            tokenizer,
            record,
            template: columns.iter().map(|c| (c.clone(), Value::Null)).collect(),
            columns,
            identity,
            name,
            multi_valued,
            multi_value_delimiter: char::from(config.multi_value_delimiter),
            decoded_from,
            finished: false,
        })
    }

    /// The column names from the header row, trimmed, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many bytes of the raw input have been read, for progress: exact for UTF-8, ahead by at most a buffer
    /// for other encodings.
    pub fn bytes_read(&self) -> u64 {
        match self.tokenizer.source() {
            Source::Utf8(_) => self.tokenizer.position(),
            Source::Decoded(decoding) => decoding.raw_read(),
        }
    }

    /// Turns the record just read into an account.
    fn row(&self) -> Result<Row, RowError> {
        let rec = &self.record;
        let error = |reason: String| RowError { line: rec.line, reason };
        if let Some(problem) = rec.quoting {
            return Err(error(format!("invalid quoting: {problem}")));
        }
        if rec.len() != self.columns.len() {
            return Err(error(format!("expected {} fields, got {}", self.columns.len(), rec.len())));
        }
        let text = match std::str::from_utf8(&rec.data) {
            // A field boundary inside a character would split it between two cells.
            Ok(text) if rec.ends.iter().all(|&end| text.is_char_boundary(end)) => text,
            _ => {
                let bad = (0..rec.len()).find(|&i| std::str::from_utf8(rec.field(i)).is_err()).unwrap_or(0);
                return Err(error(undecodable(&format!("column `{}`", self.columns[bad]), self.decoded_from)));
            }
        };
        let cell = |i: usize| &text[if i == 0 { 0 } else { rec.ends[i - 1] }..rec.ends[i]];
        let native_identity = cell(self.identity);
        if native_identity.trim().is_empty() {
            return Err(error(format!("the identity column `{}` is empty", self.columns[self.identity])));
        }
        let name = match cell(self.name) {
            "" => native_identity,
            name => name,
        };
        // Cloning a map of the columns copies its hash table instead of hashing every key again, which inserting
        // would: the map is most of a row's cost.
        let mut attributes = self.template.clone();
        let mut any_empty = false;
        let mut start = 0;
        for ((value, &end), &multi_valued) in attributes.values_mut().zip(&rec.ends).zip(&self.multi_valued) {
            let cell = &text[start..end];
            start = end;
            if cell.is_empty() {
                any_empty = true;
            } else if multi_valued {
                let values: Vec<Value> = cell
                    .split(self.multi_value_delimiter)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(Value::from)
                    .collect();
                if values.is_empty() {
                    any_empty = true;
                } else {
                    *value = Value::Array(values);
                }
            } else {
                *value = Value::String(cell.to_owned());
            }
        }
        if any_empty {
            attributes.retain(|_, value| !value.is_null());
        }
        Ok(Row { line: rec.line, native_identity: native_identity.to_owned(), name: name.to_owned(), attributes })
    }
}

impl<R: Read> Iterator for DelimitedReader<R> {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            match self.tokenizer.read_record(&mut self.record) {
                Ok(true) if self.record.is_blank() => {}
                Ok(true) => return Some(self.row()),
                Ok(false) => {
                    self.finished = true;
                    return None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(RowError { line: self.tokenizer.line(), reason: format!("reading failed: {e}") }));
                }
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for DelimitedReader<R> {}

/// The trimmed column names of the header record.
fn header(rec: &RawRecord, decoded_from: Option<&'static str>) -> Result<Vec<String>, Error> {
    let error = |reason: String| Error::Header { line: rec.line, reason };
    if let Some(problem) = rec.quoting {
        return Err(error(format!("invalid quoting: {problem}")));
    }
    let mut columns: Vec<String> = Vec::with_capacity(rec.len());
    for i in 0..rec.len() {
        let Ok(name) = std::str::from_utf8(rec.field(i)) else {
            return Err(error(undecodable(&format!("column {}", i + 1), decoded_from)));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(error(format!("column {} has no name", i + 1)));
        }
        if columns.iter().any(|c| c == name) {
            return Err(Error::DuplicateColumn { line: rec.line, name: name.to_owned() });
        }
        columns.push(name.to_owned());
    }
    Ok(columns)
}

/// Says that `what` (a column) holds bytes that do not decode.
fn undecodable(what: &str, decoded_from: Option<&str>) -> String {
    format!("{what} holds bytes that are not valid {}", decoded_from.unwrap_or("UTF-8"))
}
