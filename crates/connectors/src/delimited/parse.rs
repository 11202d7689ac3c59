//! Splitting a byte stream into delimited records, strictly: unlike the lenient `csv` crate it reports bad quoting,
//! and it counts lines so each record knows where it started.
//!
//! The rules are RFC 4180's, with any one-byte delimiter and quote: a field is quoted only if its first byte is
//! the quote; inside it a doubled quote is one quote, and delimiters and line breaks are data. A record ends at LF,
//! CRLF or a lone CR. Line breaks between records are skipped, so blank lines produce no record. A UTF-8 byte order
//! mark at the very start is skipped.

use std::io::{self, Read};

/// Bytes asked of the source at a time.
const BUFFER_SIZE: usize = 64 * 1024;

/// What a byte means to the tokenizer, looked up in a 256-entry table so the scanning loops test one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Data,
    Delimiter,
    Quote,
    Lf,
    Cr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: line breaks are skipped here.
    RecordStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: either the first of a doubled quote or the closing one.
    QuotedQuote,
}

/// One record as raw bytes: the fields concatenated, with the end offset of each.
#[derive(Debug, Default)]
pub(crate) struct RawRecord {
    /// Line (1-based, counting LF and lone CR) on which the record starts.
    pub(crate) line: u64,
    pub(crate) data: Vec<u8>,
    pub(crate) ends: Vec<usize>,
    /// The first quoting problem met in the record, if any.
    pub(crate) quoting: Option<&'static str>,
}

impl RawRecord {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of field `i`.
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// Whether the record holds nothing but whitespace, as a line of spaces or of delimiters does.
    pub(crate) fn is_blank(&self) -> bool {
        self.quoting.is_none() && self.data.iter().all(u8::is_ascii_whitespace)
    }

    fn end_field(&mut self) {
        self.ends.push(self.data.len());
    }

    fn bad_quoting(&mut self, problem: &'static str) {
        self.quoting.get_or_insert(problem);
    }
}

/// Reads records from a byte source through its own buffer.
pub(crate) struct Tokenizer<S> {
    source: S,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes read from the source before the current buffer's contents.
    consumed: u64,
    eof: bool,
    at_start: bool,
    /// The line `pos` is on.
    line: u64,
    /// Quoted data so far ended with a CR whose line break is not counted yet.
    cr_pending: bool,
    classes: [Class; 256],
    quote: u8,
}

impl<S: Read> Tokenizer<S> {
    pub(crate) fn new(source: S, delimiter: u8, quote: u8) -> Self {
        let mut classes = [Class::Data; 256];
        classes[usize::from(delimiter)] = Class::Delimiter;
        classes[usize::from(quote)] = Class::Quote;
        classes[usize::from(b'\n')] = Class::Lf;
        classes[usize::from(b'\r')] = Class::Cr;
        Self {
            source,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
            consumed: 0,
            eof: false,
            at_start: true,
            line: 1,
            cr_pending: false,
            classes,
            quote,
        }
    }

    /// The line the next record would start on, at the earliest.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// How far into the source the tokenizer has got, in the source's bytes.
    pub(crate) fn position(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// Refills the buffer once it is used up; false at the end of the source.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.consumed += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    // The byte order mark needs three bytes to be seen; anything else needs one.
                    if !self.at_start || self.end >= 3 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.at_start {
            self.at_start = false;
            if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
                if self.pos == self.end {
                    return self.fill();
                }
            }
        }
        Ok(self.pos < self.end)
    }

    /// Reads the next record into `rec`; false when the source has no more.
    pub(crate) fn read_record(&mut self, rec: &mut RawRecord) -> io::Result<bool> {
        rec.data.clear();
        rec.ends.clear();
        rec.quoting = None;
        self.cr_pending = false;
        let mut state = State::RecordStart;
        loop {
            if self.pos == self.end && !self.fill()? {
                return Ok(self.finish(state, rec));
            }
            match state {
                State::RecordStart => match self.classes[usize::from(self.buf[self.pos])] {
                    Class::Lf => {
                        self.pos += 1;
                        self.line += 1;
                    }
                    Class::Cr => self.skip_cr()?,
                    _ => {
                        rec.line = self.line;
                        state = State::FieldStart;
                    }
                },
                State::FieldStart => match self.classes[usize::from(self.buf[self.pos])] {
                    Class::Quote => {
                        self.pos += 1;
                        state = State::Quoted;
                    }
                    Class::Delimiter => {
                        self.pos += 1;
                        rec.end_field();
                    }
                    Class::Lf | Class::Cr => {
                        rec.end_field();
                        return Ok(true);
                    }
                    Class::Data => state = State::Unquoted,
                },
                State::Unquoted => {
                    let chunk = &self.buf[self.pos..self.end];
                    let n = chunk.iter().position(|&b| self.classes[usize::from(b)] != Class::Data);
                    let n = n.unwrap_or(chunk.len());
                    rec.data.extend_from_slice(&chunk[..n]);
                    self.pos += n;
                    if self.pos == self.end {
                        continue;
                    }
                    match self.classes[usize::from(self.buf[self.pos])] {
                        Class::Delimiter => {
                            self.pos += 1;
                            rec.end_field();
                            state = State::FieldStart;
                        }
                        Class::Lf | Class::Cr => {
                            rec.end_field();
                            return Ok(true);
                        }
                        Class::Quote => {
                            rec.bad_quoting("a quote inside a field that does not start with one");
                            rec.data.push(self.quote);
                            self.pos += 1;
                        }
                        Class::Data => unreachable!("the scan stops only at a special byte"),
                    }
                }
                State::Quoted => {
                    let chunk = &self.buf[self.pos..self.end];
                    let n = chunk.iter().position(|&b| b == self.quote).unwrap_or(chunk.len());
                    let data = &chunk[..n];
                    self.line += count_line_breaks(data, &mut self.cr_pending);
                    rec.data.extend_from_slice(data);
                    self.pos += n;
                    if self.pos < self.end {
                        // A CR that ended the data is followed by this quote, not an LF: a line break of its own.
                        if std::mem::take(&mut self.cr_pending) {
                            self.line += 1;
                        }
                        self.pos += 1;
                        state = State::QuotedQuote;
                    }
                }
                State::QuotedQuote => match self.classes[usize::from(self.buf[self.pos])] {
                    Class::Quote => {
                        rec.data.push(self.quote);
                        self.pos += 1;
                        state = State::Quoted;
                    }
                    Class::Delimiter => {
                        self.pos += 1;
                        rec.end_field();
                        state = State::FieldStart;
                    }
                    Class::Lf | Class::Cr => {
                        rec.end_field();
                        return Ok(true);
                    }
                    Class::Data => {
                        rec.bad_quoting("characters after the closing quote of a field");
                        state = State::Unquoted;
                    }
                },
            }
        }
    }

    /// Consumes the CR at `pos` and counts the line it ends; an LF right after it is left for the caller, which
    /// skips it without counting.
    fn skip_cr(&mut self) -> io::Result<()> {
        self.pos += 1;
        if self.pos == self.end && !self.fill()? {
            self.line += 1;
            return Ok(());
        }
        if self.buf[self.pos] == b'\n' {
            self.pos += 1;
        }
        self.line += 1;
        Ok(())
    }

    /// Ends the record the source ran out in the middle of, if there is one.
    fn finish(&mut self, state: State, rec: &mut RawRecord) -> bool {
        match state {
            State::RecordStart => false,
            State::Quoted => {
                rec.bad_quoting("a quoted field is not closed before the end of the file");
                rec.end_field();
                true
            }
            State::FieldStart | State::Unquoted | State::QuotedQuote => {
                rec.end_field();
                true
            }
        }
    }
}

/// Line breaks in quoted data: each LF, and each CR not followed by an LF. `cr_pending` carries a CR that ended
/// the previous chunk, whose line break is known only once the next byte is seen.
fn count_line_breaks(data: &[u8], cr_pending: &mut bool) -> u64 {
    let mut count = 0;
    for &b in data {
        if b == b'\n' {
            count += 1;
            *cr_pending = false;
        } else {
            count += u64::from(*cr_pending);
            *cr_pending = b == b'\r';
        }
    }
    count
}
