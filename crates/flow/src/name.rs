//! Step names and the lowerCamelCase keys under which ISC stores step outputs and variables.

use std::fmt;

/// The name of a step, as it is written in `definition.steps`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepName(String);

impl StepName {
    /// Wraps a step name; any string is a valid name in ISC.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key the step's output is stored under in the data document.
    pub fn output_key(&self) -> String {
        output_key(&self.0)
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// ISC's lowerCamelCase key for a step or variable name: words are split on anything that is not a
/// letter or digit, the first character of the result is lowered and each later word keeps its own
/// case with its first letter raised. `"HTTP Request 1"` → `hTTPRequest1`, `"Get Identity"` →
/// `getIdentity`, `"Number of Days"` → `numberOfDays`.
pub fn output_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for word in name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if key.is_empty() {
                key.extend(first.to_lowercase());
            } else {
                key.extend(first.to_uppercase());
            }
            key.push_str(chars.as_str());
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::output_key;

    #[test]
    fn keys_follow_isc() {
        for (name, key) in [
            ("HTTP Request 1", "hTTPRequest1"),
            ("Get Identity", "getIdentity"),
            ("Number of Days", "numberOfDays"),
            ("End Step - Success 1", "endStepSuccess1"),
            ("Define Variable", "defineVariable"),
            ("form", "form"),
            ("Get Removed Roles", "getRemovedRoles"),
        ] {
            assert_eq!(output_key(name), key, "{name}");
        }
    }
}
