//! The words of access requests, in ISC's spelling: what a request asks, and where a request and each
//! of its items stand. (An item's approval levels are people's work: [`crate::WorkStatus`].)

vocabulary! {
    "access request type",
    /// What an access request asks for.
    pub enum AccessRequestType {
        #[serde(rename = "GRANT_ACCESS")]
        #[strum(serialize = "GRANT_ACCESS")]
        Grant,
        #[serde(rename = "REVOKE_ACCESS")]
        #[strum(serialize = "REVOKE_ACCESS")]
        Revoke,
    }
}

vocabulary! {
    "access request status",
    /// Where a request stands: open until every item is decided, or cancelled.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum RequestStatus {
        Pending,
        Completed,
        Cancelled,
    }
}

vocabulary! {
    "requested item status",
    /// Where one requested item stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum ItemStatus {
        Pending,
        Approved,
        Rejected,
        Cancelled,
    }
}

impl AccessRequestType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

vocabulary! {
    "request status",
    /// Where a request raised from a request type (Okta's model) stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum TypeRequestStatus {
        /// Its steps are running.
        Pending,
        Completed,
        /// An approval step was denied (or expired).
        Denied,
        Cancelled,
        /// A task or action step failed.
        Failed,
    }
}

vocabulary! {
    "request step status",
    /// Where one step of a request stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum StepStatus {
        /// An earlier step is still open.
        Waiting,
        /// With a person (an approval or a task).
        Pending,
        /// A delegated workflow runs it.
        Running,
        Approved,
        Denied,
        Completed,
        /// Its deadline passed undecided.
        Expired,
        Failed,
        /// Not run: an earlier step ended the request.
        Skipped,
        Cancelled,
    }
}

impl TypeRequestStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// How a step held by a person ends when its item closes with `status`; `None` while it is open.
    pub fn of_work(status: crate::WorkStatus) -> Option<StepStatus> {
        use crate::WorkStatus as W;
        match status {
            W::Waiting | W::Pending => None,
            W::Approved => Some(StepStatus::Approved),
            W::Denied => Some(StepStatus::Denied),
            W::Completed => Some(StepStatus::Completed),
            W::Failed => Some(StepStatus::Failed),
            W::Expired => Some(StepStatus::Expired),
            W::Cancelled => Some(StepStatus::Cancelled),
        }
    }
}

vocabulary! {
    "approver kind",
    /// Who decides one level of a requested item's approval.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum ApproverKind {
        /// The manager of the identity the item is for.
        Manager,
        /// The requested object's owner.
        Owner,
        /// The owner of the object's source.
        SourceOwner,
        /// The members of a governance group.
        GovernanceGroup,
        /// An identity a dynamic-approver hook named.
        Identity,
        /// A custom approval workflow (`approver_ref`).
        Workflow,
        /// A pre-approval hook's decision (level 0).
        PreApproval,
    }
}
