//! Reading the directory: paged account and group searches (RFC 2696), accounts' group memberships
//! worked out from the groups' member lists, and entries turned into [`Account`]s and [`Entitlement`]s.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ldap3::controls::{Control, ControlType, PagedResults, RawControl};
use ldap3::{Ldap, Scope, SearchEntry, ldap_escape};
use serde_json::{Map, Value};

use super::config::DisableMode;
use super::conn::{check, from_ldap};
use super::members::MemberIndex;
use super::{LdapConnector, MEMBER_OF, dn};
use crate::{Account, ConnectorError, Entitlement, Page};

/// Where a paged read stands: the connection it runs on, which of its search bases it is in, and the
/// server's cookie. Written as `{epoch}.{phase}.{cookie in base64url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    epoch: u64,
    phase: usize,
    cookie: Vec<u8>,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("{}.{}.{}", self.epoch, self.phase, URL_SAFE_NO_PAD.encode(&self.cookie))
    }

    fn decode(s: &str) -> Result<Self, ConnectorError> {
        let invalid = || ConnectorError::permanent(format!("`{s}` is not a cursor of this LDAP connector"));
        let mut parts = s.splitn(3, '.');
        let (Some(epoch), Some(phase), Some(cookie)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        Ok(Cursor {
            epoch: epoch.parse().map_err(|_| invalid())?,
            phase: phase.parse().map_err(|_| invalid())?,
            cookie: URL_SAFE_NO_PAD.decode(cookie).map_err(|_| invalid())?,
        })
    }
}

/// Group attributes an entitlement carries; the member list is left out, it can be huge.
const GROUP_ATTRIBUTES: [&str; 4] = ["cn", "description", "owner", "objectClass"];

impl LdapConnector {
    /// A page of accounts with their memberships. The first page also reads every group's member list
    /// (on another connection, at the same time), which the later pages of the read reuse: a full read
    /// costs one pass over the groups, however many pages it has. The cursor is `{run}:{paging cursor}`,
    /// the run naming the read the index belongs to.
    pub(super) async fn read_accounts(&self, cursor: Option<&str>) -> Result<Page<Account>, ConnectorError> {
        let mut bases = vec![self.config.base_dn.as_str()];
        if let DisableMode::MoveToOu { disabled_ou } = &self.config.disable
            && !dn::is_below(disabled_ou, &self.config.base_dn)
        {
            bases.push(disabled_ou);
        }
        let filter = self.account_filter();
        let (run, page, index) = match cursor {
            None => {
                let run = self.reads.next_run();
                let (page, index) = tokio::try_join!(
                    self.paged_search(&self.accounts, None, &bases, &filter, &["*"]),
                    self.member_index()
                )?;
                (run, page, Arc::new(index))
            }
            Some(cursor) => {
                let invalid =
                    || ConnectorError::permanent(format!("`{cursor}` is not a cursor of this LDAP connector"));
                let (run, paging) = cursor.split_once(':').ok_or_else(invalid)?;
                let run: u64 = run.parse().map_err(|_| invalid())?;
                let page = self.paged_search(&self.accounts, Some(paging), &bases, &filter, &["*"]).await?;
                // Another read on this connector took the index's place: this one reads the groups again.
                let index = match self.reads.get(run) {
                    Some(index) => index,
                    None => Arc::new(self.member_index().await?),
                };
                (run, page, index)
            }
        };
        match &page.next {
            Some(_) => self.reads.keep(run, Arc::clone(&index)),
            None => self.reads.finish(run),
        }
        let items = page
            .items
            .into_iter()
            .map(|entry| {
                let groups = index.groups_of(&entry.dn);
                self.to_account(entry, groups)
            })
            .collect();
        Ok(Page { items, next: page.next.map(|next| format!("{run}:{next}")) })
    }

    pub(super) async fn read_entitlements(&self, cursor: Option<&str>) -> Result<Page<Entitlement>, ConnectorError> {
        let filter = format!("(objectClass={})", self.config.group_object_class);
        let bases = [self.config.group_base_dn.as_str()];
        let page = self.paged_search(&self.entitlements, cursor, &bases, &filter, &GROUP_ATTRIBUTES).await?;
        let items = page
            .items
            .into_iter()
            .map(|entry| {
                let name = first_value(&entry, "cn").unwrap_or(&entry.dn).to_owned();
                Entitlement {
                    attribute: MEMBER_OF.to_owned(),
                    value: entry.dn.clone(),
                    name,
                    attributes: string_attributes(entry),
                }
            })
            .collect();
        Ok(Page { items, next: page.next })
    }

    /// The account at `dn` as it is now; `None` when there is no such entry.
    pub(super) async fn read_account(&self, dn: &str) -> Result<Option<Account>, ConnectorError> {
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let context = format!("reading {dn}");
        let result = ldap
            .with_timeout(self.config.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec!["*"])
            .await
            .map_err(|e| from_ldap(&context, e))?;
        if result.1.rc == 32 {
            return Ok(None);
        }
        check(&context, &result.1)?;
        let Some(entry) = result.0.into_iter().next().map(SearchEntry::construct) else {
            return Ok(None);
        };
        let groups = self.groups_of(dn).await?;
        Ok(Some(self.to_account(entry, groups)))
    }

    /// The DNs of the groups that list `member_dn` as a member.
    pub(super) async fn groups_of(&self, member_dn: &str) -> Result<Vec<String>, ConnectorError> {
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let filter = format!(
            "(&(objectClass={})({}={}))",
            self.config.group_object_class,
            self.config.group_member_attribute,
            ldap_escape(member_dn)
        );
        let context = format!("searching the groups of {member_dn}");
        let result = ldap
            .with_timeout(self.config.timeout)
            .search(&self.config.group_base_dn, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(|e| from_ldap(&context, e))?;
        check(&context, &result.1)?;
        let mut groups: Vec<String> = result.0.into_iter().map(|e| SearchEntry::construct(e).dn).collect();
        groups.sort();
        Ok(groups)
    }

    /// `(objectClass=…)` for each of the account object classes.
    fn account_filter(&self) -> String {
        let classes = &self.config.user_object_classes;
        let terms: String = classes.iter().map(|c| format!("(objectClass={c})")).collect();
        if classes.len() == 1 { terms } else { format!("(&{terms})") }
    }

    /// Every group's member list, in one paged search of the groups for their member attribute.
    async fn member_index(&self) -> Result<MemberIndex, ConnectorError> {
        // One paged search at a time on this connection: a server keeps one paging state per connection.
        let _serial = self.memberships_lock.lock().await;
        let member = self.config.group_member_attribute.as_str();
        let filter = format!("(objectClass={})", self.config.group_object_class);
        let mut index = MemberIndex::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .paged_search(&self.memberships, cursor.as_deref(), &[&self.config.group_base_dn], &filter, &[member])
                .await?;
            for group in page.items {
                index.add_group(group.dn, values_of_owned(group.attrs, member).as_slice())?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(index),
            }
        }
    }

    /// One page of a subtree search that runs over `bases` one after the other, on `slot`'s connection.
    async fn paged_search(
        &self,
        slot: &super::conn::Slot,
        cursor: Option<&str>,
        bases: &[&str],
        filter: &str,
        attributes: &[&str],
    ) -> Result<Page<SearchEntry>, ConnectorError> {
        let session = slot.get(&self.config).await?;
        let cursor = match cursor {
            None => Cursor { epoch: session.epoch, phase: 0, cookie: Vec::new() },
            Some(s) => Cursor::decode(s)?,
        };
        if cursor.epoch != session.epoch {
            return Err(ConnectorError::permanent(
                "the connection this paged read ran on has closed, and the server's paging state with it: \
                 start the read again from the first page",
            ));
        }
        let Some(base) = bases.get(cursor.phase) else {
            return Err(ConnectorError::permanent(format!("cursor phase {} is out of range", cursor.phase)));
        };
        let (entries, next_cookie) =
            match search_page(session.ldap, base, filter, attributes, self.config.page_size, cursor.cookie).await {
                Ok(page) => page,
                Err(error) => {
                    if error.retryable {
                        // The paging state may be gone with the connection; a retry starts afresh.
                        slot.reset().await;
                    }
                    return Err(error);
                }
            };
        let next = match next_cookie {
            Some(cookie) => Some(Cursor { epoch: session.epoch, phase: cursor.phase, cookie }),
            None if cursor.phase + 1 < bases.len() => {
                Some(Cursor { epoch: session.epoch, phase: cursor.phase + 1, cookie: Vec::new() })
            }
            None => None,
        };
        Ok(Page { items: entries, next: next.map(|c| c.encode()) })
    }

    fn to_account(&self, entry: SearchEntry, groups: Vec<String>) -> Account {
        let disabled = match &self.config.disable {
            DisableMode::Attribute { name, disabled_value, .. } => {
                values_of(&entry, name).iter().any(|v| v.eq_ignore_ascii_case(disabled_value))
            }
            DisableMode::MoveToOu { disabled_ou } => dn::is_below(&entry.dn, disabled_ou),
        };
        let name = first_value(&entry, &self.config.naming_attribute).unwrap_or(&entry.dn).to_owned();
        let native_identity = entry.dn.clone();
        let mut attributes = string_attributes(entry);
        attributes.insert(MEMBER_OF.to_owned(), Value::Array(groups.into_iter().map(Value::String).collect()));
        Account { native_identity, name, attributes, disabled, locked: false }
    }
}

/// Runs one page of a search; the entries and the cookie for the next page (`None` on the last page, or
/// when the server does not page).
async fn search_page(
    mut ldap: Ldap,
    base: &str,
    filter: &str,
    attributes: &[&str],
    page_size: u32,
    cookie: Vec<u8>,
) -> Result<(Vec<SearchEntry>, Option<Vec<u8>>), ConnectorError> {
    let size = i32::try_from(page_size).unwrap_or(i32::MAX);
    let controls: Vec<RawControl> = vec![PagedResults { size, cookie }.into()];
    let context = format!("searching {base} for {filter}");
    let result = ldap
        .with_controls(controls)
        .search(base, Scope::Subtree, filter, attributes.to_vec())
        .await
        .map_err(|e| from_ldap(&context, e))?;
    check(&context, &result.1)?;
    let next = result.1.ctrls.iter().find_map(|Control(kind, raw)| match kind {
        Some(ControlType::PagedResults) => Some(raw.parse::<PagedResults>().cookie),
        _ => None,
    });
    let entries = result.0.into_iter().map(SearchEntry::construct).collect();
    Ok((entries, next.filter(|cookie| !cookie.is_empty())))
}

/// An entry's string attributes, without `userPassword`: one value as a string, several as an array
/// (`objectClass` always as an array). Binary attributes (`jpegPhoto`, certificates) are left out.
fn string_attributes(entry: SearchEntry) -> Map<String, Value> {
    let mut names: Vec<_> = entry.attrs.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case("userPassword")).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names
        .into_iter()
        .map(|(name, mut values)| {
            let value = if values.len() == 1 && !name.eq_ignore_ascii_case("objectClass") {
                Value::String(values.remove(0))
            } else {
                Value::Array(values.into_iter().map(Value::String).collect())
            };
            (name, value)
        })
        .collect()
}

/// The values of `name` (matched without case, as attribute names are).
fn values_of<'e>(entry: &'e SearchEntry, name: &str) -> &'e [String] {
    entry.attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice()).unwrap_or(&[])
}

/// The values of `name` (matched without case), taken out of an entry's attributes.
fn values_of_owned(mut attrs: HashMap<String, Vec<String>>, name: &str) -> Vec<String> {
    let key = attrs.keys().find(|n| n.eq_ignore_ascii_case(name)).cloned();
    key.and_then(|key| attrs.remove(&key)).unwrap_or_default()
}

fn first_value<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e str> {
    values_of(entry, name).first().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor { epoch: 7, phase: 1, cookie: vec![0, 255, 3] };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("valid"), cursor);
        assert!(Cursor::decode("garbage").is_err());
        assert!(Cursor::decode("1.x.AA").is_err());
    }
}
