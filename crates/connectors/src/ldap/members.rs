//! Accounts' group memberships for a whole read of the accounts: every group's member list is read once,
//! with the first page, into a map from member DN to the groups that list it, which the later pages of
//! the same read use and the last one lets go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::dn;
use crate::ConnectorError;

/// The groups that list each member, from one pass over every group's member list.
#[derive(Debug, Default)]
pub(super) struct MemberIndex {
    /// Group DNs as the server spells them. The map refers to them by position, so a group of 100,000
    /// members costs one copy of its DN rather than 100,000.
    groups: Vec<String>,
    /// A member DN's normal form ([`dn::normalize`]) → positions in `groups`.
    members: HashMap<Box<str>, Vec<u32>>,
}

impl MemberIndex {
    /// Records the group at `group_dn` and the values of its member attribute.
    pub(super) fn add_group(&mut self, group_dn: String, members: &[String]) -> Result<(), ConnectorError> {
        let position = u32::try_from(self.groups.len())
            .map_err(|_| ConnectorError::permanent("the directory holds more groups than a read can index"))?;
        self.groups.push(group_dn);
        for member in members {
            let positions = self.members.entry(dn::normalize(member).into_boxed_str()).or_default();
            // A group that lists one member under two spellings holds it once.
            if positions.last() != Some(&position) {
                positions.push(position);
            }
        }
        Ok(())
    }

    /// The DNs of the groups that list `member_dn` (in any spelling), sorted.
    pub(super) fn groups_of(&self, member_dn: &str) -> Vec<String> {
        let positions = self.members.get(dn::normalize(member_dn).as_str()).map(Vec::as_slice).unwrap_or_default();
        let mut groups: Vec<String> = positions
            .iter()
            .filter_map(|&position| self.groups.get(usize::try_from(position).ok()?).cloned())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// The index of the account read under way, under the number its cursors carry. One read at a time keeps
/// its index: a read that starts while another is under way takes the place, and the other's next page
/// finds no index and reads the groups again.
#[derive(Debug)]
pub(super) struct CurrentRead {
    next_run: AtomicU64,
    index: Mutex<Option<(u64, Arc<MemberIndex>)>>,
}

impl Default for CurrentRead {
    fn default() -> Self {
        Self { next_run: AtomicU64::new(1), index: Mutex::new(None) }
    }
}

impl CurrentRead {
    /// A number for a read that starts now.
    pub(super) fn next_run(&self) -> u64 {
        self.next_run.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps `index` for the read numbered `run`, in place of any other read's.
    pub(super) fn keep(&self, run: u64, index: Arc<MemberIndex>) {
        *self.lock() = Some((run, index));
    }

    /// The index of the read numbered `run`, if it is the one kept.
    pub(super) fn get(&self, run: u64) -> Option<Arc<MemberIndex>> {
        self.lock().as_ref().filter(|(kept, _)| *kept == run).map(|(_, index)| Arc::clone(index))
    }

    /// Lets go of the read numbered `run`'s index, once its last page is read.
    pub(super) fn finish(&self, run: u64) {
        let mut index = self.lock();
        if index.as_ref().is_some_and(|(kept, _)| *kept == run) {
            *index = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, Arc<MemberIndex>)>> {
        // The guarded value is replaced whole, never left half-written: a panic elsewhere cannot spoil it.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_map_to_their_groups_sorted_in_any_spelling() {
        let mut index = MemberIndex::default();
        let ada = "uid=ada,ou=people,dc=x";
        index.add_group("cn=staff,dc=x".into(), &[ada.into(), "UID=Ada, ou=People,dc=x".into()]).unwrap();
        index.add_group("cn=admins,dc=x".into(), &["uid=bob,ou=people,dc=x".into(), ada.into()]).unwrap();
        assert_eq!(index.groups_of("uid=ADA,ou=people,dc=x"), ["cn=admins,dc=x", "cn=staff,dc=x"]);
        assert_eq!(index.groups_of("uid=bob,ou=people,dc=x"), ["cn=admins,dc=x"]);
        assert!(index.groups_of("uid=eve,ou=people,dc=x").is_empty());
    }

    #[test]
    fn only_the_current_read_keeps_its_index() {
        let current = CurrentRead::default();
        let (first, second) = (current.next_run(), current.next_run());
        current.keep(first, Arc::default());
        assert!(current.get(first).is_some());
        current.keep(second, Arc::default());
        assert!(current.get(first).is_none(), "a newer read took the place");
        current.finish(first);
        assert!(current.get(second).is_some(), "another read's end leaves the index alone");
        current.finish(second);
        assert!(current.get(second).is_none());
    }
}
