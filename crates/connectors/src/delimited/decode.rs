//! Turning a file in a declared legacy encoding into UTF-8 as it streams, marking undecodable bytes.
//!
//! `encoding_rs_io` would replace undecodable bytes with U+FFFD, which cannot be told apart from a real U+FFFD.
//! This adapter instead writes a 0xFF byte where a malformed sequence was: 0xFF never occurs in UTF-8, so the UTF-8
//! check every row already passes through reports the row, exactly as for a UTF-8 file with a bad byte.

use std::io::{self, Read};

use encoding_rs::{Decoder, DecoderResult, Encoding};

/// Raw bytes asked of the source at a time.
const RAW_BUFFER_SIZE: usize = 32 * 1024;

/// Decodes `inner` from its encoding into UTF-8. A byte order mark, if any, is removed and decides the encoding
/// (the WHATWG rule).
pub(crate) struct Decoding<R> {
    inner: R,
    decoder: Decoder,
    raw: Box<[u8]>,
    pos: usize,
    end: usize,
    raw_read: u64,
    eof: bool,
    done: bool,
    marker_pending: bool,
}

impl<R: Read> Decoding<R> {
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder(),
            raw: vec![0; RAW_BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
            raw_read: 0,
            eof: false,
            done: false,
            marker_pending: false,
        }
    }

    /// Bytes read from the underlying source so far (ahead of what has been decoded by up to one buffer).
    pub(crate) fn raw_read(&self) -> u64 {
        self.raw_read
    }
}

impl<R: Read> Read for Decoding<R> {
    /// Callers must offer room for at least one character (four bytes); the tokenizer offers kilobytes.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut written = 0;
        if self.marker_pending {
            self.marker_pending = false;
            out[0] = 0xFF;
            written = 1;
        }
        loop {
            if self.done {
                return Ok(written);
            }
            if self.pos == self.end && !self.eof {
                let n = loop {
                    match self.inner.read(&mut self.raw) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other?,
                    }
                };
                self.pos = 0;
                self.end = n;
                self.raw_read += n as u64;
                self.eof = n == 0;
            }
            let (result, read, produced) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[self.pos..self.end],
                &mut out[written..],
                self.eof,
            );
            self.pos += read;
            written += produced;
            match result {
                DecoderResult::InputEmpty => {
                    self.done = self.eof;
                    if written > 0 {
                        return Ok(written);
                    }
                }
                DecoderResult::OutputFull => return Ok(written),
                DecoderResult::Malformed(_, _) => {
                    if written < out.len() {
                        out[written] = 0xFF;
                        written += 1;
                    } else {
                        self.marker_pending = true;
                    }
                    return Ok(written);
                }
            }
        }
    }
}
