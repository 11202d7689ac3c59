//! Distinguished-name helpers: splitting off the RDN, and a normal form for comparing DNs that a server
//! and a request may spell differently (case, spaces around separators).

/// Whether `s` has the shape of a DN: one or more `attr=value` parts.
pub(super) fn looks_like_dn(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && split_rdns(s).iter().all(|rdn| rdn.split_once('=').is_some_and(|(a, _)| !a.trim().is_empty()))
}

/// The DN's first RDN and the rest (its parent, empty for a single-RDN DN).
pub(super) fn split_first(dn: &str) -> (&str, &str) {
    match first_unescaped_comma(dn) {
        Some(i) => (dn[..i].trim(), dn[i + 1..].trim()),
        None => (dn.trim(), ""),
    }
}

/// A form for comparing DNs: attribute names and values lower-cased (the naming attributes of accounts
/// and groups — `uid`, `cn`, `ou`, `dc` — all match without case) and the spaces around `,`, `+` and `=`
/// dropped. It is not a full RFC 4514 normalization: `\2C` and `\,` stay different spellings.
pub(super) fn normalize(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    // Spaces seen since the last character kept, and whether that character was a separator: spaces
    // are kept only between two ordinary characters.
    let mut spaces = 0;
    let mut after_separator = true;
    for c in dn.trim().chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            after_separator = false;
            continue;
        }
        match c {
            ' ' => spaces += 1,
            ',' | '+' | '=' => {
                spaces = 0;
                out.push(c);
                after_separator = true;
            }
            _ => {
                if !after_separator {
                    out.extend(std::iter::repeat_n(' ', spaces));
                }
                spaces = 0;
                if c == '\\' {
                    out.push('\\');
                    escaped = true;
                } else {
                    out.extend(c.to_lowercase());
                    after_separator = false;
                }
            }
        }
    }
    out
}

/// Whether `dn` lies strictly below `base` (both in any spelling).
pub(super) fn is_below(dn: &str, base: &str) -> bool {
    let dn = normalize(dn);
    let base = normalize(base);
    dn.len() > base.len() + 1 && dn.ends_with(&base) && dn[..dn.len() - base.len()].ends_with(',')
}

fn first_unescaped_comma(dn: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = dn;
    loop {
        let (first, parent) = split_first(rest);
        parts.push(first);
        if parent.is_empty() {
            return parts;
        }
        rest = parent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form_ignores_case_and_separator_spaces() {
        assert_eq!(normalize(" UID = Ada Lovelace , OU=People,dc=Example "), "uid=ada lovelace,ou=people,dc=example");
        assert_eq!(normalize(r"cn=a\, b,dc=x"), r"cn=a\, b,dc=x");
        assert_eq!(normalize(r"cn=trailing\ ,dc=x"), r"cn=trailing\ ,dc=x");
    }

    #[test]
    fn splits_at_the_first_unescaped_comma() {
        assert_eq!(split_first(r"cn=a\,b,ou=x,dc=y"), (r"cn=a\,b", "ou=x,dc=y"));
        assert_eq!(split_first("dc=y"), ("dc=y", ""));
    }

    #[test]
    fn below_means_strictly_below() {
        assert!(is_below("uid=a,ou=People,dc=x", "ou=people, dc=x"));
        assert!(!is_below("ou=people,dc=x", "ou=people,dc=x"));
        assert!(!is_below("uid=a,ou=xpeople,dc=x", "ou=people,dc=x"));
    }

    #[test]
    fn dn_shape() {
        assert!(looks_like_dn("ou=people,dc=example,dc=org"));
        assert!(!looks_like_dn("people"));
        assert!(!looks_like_dn("ou=people,,dc=org"));
        assert!(!looks_like_dn(""));
    }
}
