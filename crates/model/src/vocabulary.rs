//! The words the domain is stored and spoken in: kinds and statuses as enums that name, parse and
//! list themselves (strum) and serialize as the same words (serde). An unknown word is an error that
//! lists the known ones — never a default.

/// Every word of a vocabulary, in order: `ExecutionStatus::iter()`.
pub use strum::IntoEnumIterator;

/// A word that is not one of a vocabulary's: what it was, and what it may be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what}: use one of {}", allowed.join(", "))]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub allowed: &'static [&'static str],
}

vocabulary! {
    "catalogue kind",
    /// The kinds of catalogue object.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum CatalogKind {
        Source,
        Entitlement,
        AccessProfile,
        Role,
        IdentityProfile,
        LifecycleState,
        /// ISC's governance group (its API says workgroup).
        #[serde(rename = "GOVERNANCE_GROUP")]
        #[strum(serialize = "GOVERNANCE_GROUP")]
        Workgroup,
    }
}

impl CatalogKind {
    /// The word stored in the `kind` column, and used in audit entries.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The catalogue kind an access item type (`ROLE`, `ACCESS_PROFILE`, `ENTITLEMENT`) names, if it
    /// names one.
    pub fn of_access(text: &str) -> Option<CatalogKind> {
        text.parse::<AccessKind>().ok().map(Into::into)
    }

    /// The access kind this is, when it is one a person can hold or request.
    pub fn access_kind(self) -> Option<AccessKind> {
        match self {
            CatalogKind::Role => Some(AccessKind::Role),
            CatalogKind::AccessProfile => Some(AccessKind::AccessProfile),
            CatalogKind::Entitlement => Some(AccessKind::Entitlement),
            _ => None,
        }
    }
}

vocabulary! {
    "kind of access",
    /// What a person holds, requests or has revoked: ISC's requestable item types.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum AccessKind {
        Role,
        AccessProfile,
        Entitlement,
    }
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<AccessKind> for CatalogKind {
    fn from(kind: AccessKind) -> Self {
        match kind {
            AccessKind::Role => CatalogKind::Role,
            AccessKind::AccessProfile => CatalogKind::AccessProfile,
            AccessKind::Entitlement => CatalogKind::Entitlement,
        }
    }
}

vocabulary! {
    "execution status",
    /// Where an execution stands, in ISC's words.
    pub enum ExecutionStatus {
        Running,
        Completed,
        Failed,
        Canceled,
    }
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the execution has ended.
    pub fn is_final(self) -> bool {
        self != ExecutionStatus::Running
    }
}

vocabulary! {
    "aggregation status",
    /// Where an aggregation run stands.
    #[derive(Default)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum AggregationStatus {
        /// Announced by the API, not yet started.
        #[default]
        Pending,
        Running,
        Success,
        /// Ended, with rows that failed or entitlements gone from the system kept.
        Warning,
        /// Stopped: what was applied stays, nothing was removed.
        Error,
        /// Stopped on request: what was applied stays, nothing was removed.
        Interrupted,
    }
}

impl AggregationStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, AggregationStatus::Pending | AggregationStatus::Running)
    }
}

vocabulary! {
    "provisioning plan status",
    /// Where a provisioning plan stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum PlanStatus {
        /// Waiting for its turn with the connector (or to be handed to a person).
        Queued,
        /// With a person, or with a system that answered "pending".
        Pending,
        Success,
        Failed,
        /// Made pointless by a later change.
        Cancelled,
        /// Folded into another plan for the same account.
        Merged,
    }
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the plan is still to be carried out.
    pub fn is_open(self) -> bool {
        matches!(self, PlanStatus::Queued | PlanStatus::Pending)
    }
}

vocabulary! {
    "identity status",
    /// Whether an identity is active, as its lifecycle state says.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum IdentityStatus {
        Active,
        Inactive,
    }
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    /// serde and strum spell every word alike, and every word parses back.
    fn agree<T>()
    where
        T: IntoEnumIterator
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::str::FromStr
            + PartialEq
            + std::fmt::Debug,
        T: Into<&'static str> + Copy,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for value in T::iter() {
            let word: &'static str = value.into();
            assert_eq!(serde_json::to_value(value).ok(), Some(serde_json::json!(word)));
            assert_eq!(serde_json::from_value::<T>(serde_json::json!(word)).ok(), Some(value));
            assert_eq!(word.parse::<T>().ok(), Some(value));
        }
    }

    #[test]
    fn serde_and_the_names_agree() {
        agree::<CatalogKind>();
        agree::<AccessKind>();
        agree::<ExecutionStatus>();
        agree::<AggregationStatus>();
        agree::<PlanStatus>();
        agree::<IdentityStatus>();
    }

    #[test]
    fn an_unknown_word_is_an_error_that_lists_the_known_ones() {
        let error = "GADGET".parse::<AccessKind>().unwrap_err();
        assert_eq!(error.to_string(), "`GADGET` is not a kind of access: use one of ROLE, ACCESS_PROFILE, ENTITLEMENT");
        assert!(serde_json::from_value::<CatalogKind>(serde_json::json!("WORKGROUP")).is_err());
        assert_eq!("GOVERNANCE_GROUP".parse::<CatalogKind>(), Ok(CatalogKind::Workgroup));
        assert_eq!(CatalogKind::Workgroup.to_string(), "GOVERNANCE_GROUP");
        assert_eq!(ExecutionStatus::Canceled.to_string(), "Canceled");
    }
}
