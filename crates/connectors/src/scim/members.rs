//! Users' group memberships for service providers that leave a user's read-only `groups` unset (the
//! reference scim2-server, and many others): worked out from the groups' `members`. An account read reads
//! every group's members once, with its first page, and keeps the map for the later pages of the same
//! read; a single user's groups are looked up with a filter on the groups' members.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::Method;
use serde_json::Value;

use super::{ScimConnector, list, mapping};
use crate::ConnectorError;

/// Numbers the account reads of this process: a cursor names the read whose map its later pages use.
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// The groups each member belongs to, from one pass over every group's `members`.
#[derive(Debug, Default)]
pub(super) struct GroupIndex {
    /// Group ids; the map refers to them by position, so a large group's id is stored once.
    groups: Vec<String>,
    /// A member's id → positions in `groups`.
    members: HashMap<String, Vec<u32>>,
}

impl GroupIndex {
    /// Records a group from a list response: its `id` and the `value` of each of its `members` that is not
    /// a group (nested groups are members too, but a user's id never names one).
    fn add_group(&mut self, group: &Value) -> Result<(), ConnectorError> {
        let Some(id) = group.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
            return Err(ConnectorError::permanent("a group in the answer has no `id`"));
        };
        let position = u32::try_from(self.groups.len())
            .map_err(|_| ConnectorError::permanent("the service provider holds more groups than a read can index"))?;
        self.groups.push(id.to_owned());
        let members = group.get("members").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for member in members {
            let is_group = member.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("Group"));
            let Some(value) = member.get("value").and_then(Value::as_str).filter(|_| !is_group) else {
                continue;
            };
            let positions = self.members.entry(value.to_owned()).or_default();
            if positions.last() != Some(&position) {
                positions.push(position);
            }
        }
        Ok(())
    }

    /// The ids of the groups `member` belongs to, sorted, so that an account's attributes (and their hash)
    /// do not change between reads when its memberships do not.
    pub(super) fn groups_of(&self, member: &str) -> Vec<String> {
        let positions = self.members.get(member).map(Vec::as_slice).unwrap_or_default();
        let mut groups: Vec<String> = positions
            .iter()
            .filter_map(|&position| self.groups.get(usize::try_from(position).ok()?).cloned())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

/// The map of the account read under way, under its run number. One read keeps its map at a time: a read
/// that starts while another is under way takes the place, and the other's next page reads the groups
/// again (as does a page whose cursor came from another connector).
#[derive(Debug, Default)]
pub(super) struct CurrentRead {
    index: Mutex<Option<(u64, Arc<GroupIndex>)>>,
}

impl CurrentRead {
    /// A number for a read that starts now.
    pub(super) fn next_run() -> u64 {
        NEXT_RUN.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps `index` for the read numbered `run`, in place of any other read's.
    pub(super) fn keep(&self, run: u64, index: Arc<GroupIndex>) {
        *self.lock() = Some((run, index));
    }

    /// The map of the read numbered `run`, if it is the one kept.
    pub(super) fn get(&self, run: u64) -> Option<Arc<GroupIndex>> {
        self.lock().as_ref().filter(|(kept, _)| *kept == run).map(|(_, index)| Arc::clone(index))
    }

    /// Lets go of the read numbered `run`'s map, once its last page is read.
    pub(super) fn finish(&self, run: u64) {
        let mut index = self.lock();
        if index.as_ref().is_some_and(|(kept, _)| *kept == run) {
            *index = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, Arc<GroupIndex>)>> {
        // The guarded value is only ever replaced whole: a panic elsewhere cannot leave it half-written.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a user as the service provider sent it carries its `groups`: then they are taken as they are.
pub(super) fn carries_groups(user: &Value) -> bool {
    matches!(user.get("groups"), Some(Value::Array(_)))
}

impl ScimConnector {
    /// Every group's members, read page by page (only `id` and `members` asked for). A service provider
    /// that refuses the read as one it does not support gives an empty map: its users then carry no
    /// groups, as before there was a map.
    pub(super) async fn group_index(&self) -> Result<GroupIndex, ConnectorError> {
        let mut index = GroupIndex::default();
        self.each_group(&[("attributes", "members")], |group| index.add_group(group)).await?;
        Ok(index)
    }

    /// The ids of the groups that list the user `id` among their members, sorted; `None` when the service
    /// provider refuses the filter (not every one can filter groups by member).
    pub(super) async fn groups_of_user(&self, id: &str) -> Result<Option<Vec<String>>, ConnectorError> {
        let filter = format!("members.value eq {}", mapping::filter_literal(&Value::String(id.to_owned())));
        let mut groups = Vec::new();
        let query = [("filter", filter.as_str()), ("attributes", "id")];
        let supported = self
            .each_group(&query, |group| {
                groups.extend(group.get("id").and_then(Value::as_str).map(str::to_owned));
                Ok(())
            })
            .await?;
        groups.sort();
        groups.dedup();
        Ok(supported.then_some(groups))
    }

    /// Hands every group `GET /Groups` with `query` lists to `each`, page by page. `Ok(false)` when the
    /// service provider answers the first page that it does not support the request: 400 (a filter it
    /// cannot evaluate, RFC 7644 §3.4.2.2), 403, 404 (no groups at all) or 501.
    async fn each_group(
        &self,
        query: &[(&str, &str)],
        mut each: impl FnMut(&Value) -> Result<(), ConnectorError>,
    ) -> Result<bool, ConnectorError> {
        let count = self.page_size.to_string();
        let mut start: u64 = 1;
        loop {
            let start_text = start.to_string();
            let mut paged = vec![("startIndex", start_text.as_str()), ("count", count.as_str())];
            paged.extend_from_slice(query);
            let reply = self.http.send(Method::GET, &["Groups"], &paged, None).await?;
            if start == 1 && matches!(reply.status.as_u16(), 400 | 403 | 404 | 501) {
                return Ok(false);
            }
            let (groups, next) = list(reply.success()?, start, u64::from(self.page_size), "SCIM GET /Groups")?;
            for group in &groups {
                each(group)?;
            }
            match next {
                Some(next) => start = next,
                None => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn members_map_to_their_groups_sorted() {
        let mut index = GroupIndex::default();
        for group in [
            json!({"id": "g2", "members": [{"value": "u1"}, {"value": "u1"}, {"value": "g1", "type": "Group"}]}),
            json!({"id": "g1", "members": [{"value": "u2", "type": "User"}, {"value": "u1"}]}),
            json!({"id": "g3"}),
        ] {
            index.add_group(&group).unwrap();
        }
        assert_eq!(index.groups_of("u1"), ["g1", "g2"]);
        assert_eq!(index.groups_of("u2"), ["g1"]);
        assert!(index.groups_of("g1").is_empty(), "a nested group is no user's membership");
        assert!(index.add_group(&json!({"members": []})).is_err());
    }

    #[test]
    fn only_the_current_read_keeps_its_map() {
        let current = CurrentRead::default();
        let (first, second) = (CurrentRead::next_run(), CurrentRead::next_run());
        current.keep(first, Arc::default());
        assert!(current.get(first).is_some());
        current.keep(second, Arc::default());
        assert!(current.get(first).is_none(), "a newer read took the place");
        current.finish(first);
        assert!(current.get(second).is_some(), "another read's end leaves the map alone");
        current.finish(second);
        assert!(current.get(second).is_none());
    }
}
