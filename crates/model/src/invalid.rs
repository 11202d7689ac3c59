//! A refusal of submitted data as data: the JSON pointer of the offending part and what is wrong
//! with it, carried unchanged from the domain to the HTTP answer (never folded into a string and
//! parsed back out).

use std::fmt;

/// What is wrong with one part of a submitted document. `pointer` is an RFC 6901 JSON pointer into
/// the document the caller sent (`/requestedItems/1/id`), empty when the whole document or no
/// particular part of it is at fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invalid {
    pub pointer: String,
    pub message: String,
}

impl Invalid {
    /// A problem with the part at `pointer`.
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into() }
    }

    /// A problem with no one part: the request as a whole, or the state it meets.
    pub fn whole(message: impl Into<String>) -> Self {
        Self { pointer: String::new(), message: message.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_with_its_pointer_and_alone_without_one() {
        assert_eq!(Invalid::at("/to", "no identity has the id `x`").to_string(), "/to: no identity has the id `x`");
        assert_eq!(Invalid::whole("the item has no owner").to_string(), "the item has no owner");
    }
}
