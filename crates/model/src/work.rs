//! The words of people's work: what an item asks of a person, what waits on it, and where it stands.
//! One model holds workflow approvals and forms, request-type approvals and tasks, access request
//! approval levels and manual provisioning work items.

vocabulary! {
    "kind of work",
    /// What an item asks of the person.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum WorkKind {
        /// Approve or deny.
        Approval,
        /// Do something, then mark it complete.
        Task,
        /// Fill in and submit a form.
        Form,
    }
}

vocabulary! {
    "subject of work",
    /// What waits on an item, and so what its outcome is handed to.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum WorkSubject {
        /// A workflow step: the execution resumes with the outcome.
        Execution,
        /// A request type's step.
        Request,
        /// An access request's approval level (ISC's access request approvals).
        AccessRequest,
        /// A provisioning plan a person carries out (ISC's manual work items).
        Plan,
    }
}

vocabulary! {
    "work status",
    /// Where an item stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum WorkStatus {
        /// An access approval level behind one still open: nobody acts on it yet.
        Waiting,
        /// Waiting for a person.
        Pending,
        Approved,
        Denied,
        Completed,
        /// A work item the person could not carry out.
        Failed,
        /// Its deadline passed with nobody acting.
        Expired,
        /// What waited on it ended first.
        Cancelled,
    }
}

vocabulary! {
    "notification status",
    /// Where an email to a person stands.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum NotificationStatus {
        /// To be sent (again, after a transient failure).
        Pending,
        Sent,
        /// Given up after the last attempt, or refused for good.
        Failed,
        /// The person has no email address.
        Skipped,
    }
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl WorkSubject {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl WorkStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the item is still to be acted on (or will be, once its turn comes).
    pub fn is_open(self) -> bool {
        matches!(self, WorkStatus::Waiting | WorkStatus::Pending)
    }

    /// An access approval level's status in ISC's words, where a denial is `REJECTED`.
    pub fn isc_approval(self) -> &'static str {
        match self {
            WorkStatus::Denied => "REJECTED",
            other => other.as_str(),
        }
    }

    /// The statuses a closed item may have.
    pub const CLOSED: [WorkStatus; 6] = [
        WorkStatus::Approved,
        WorkStatus::Denied,
        WorkStatus::Completed,
        WorkStatus::Failed,
        WorkStatus::Expired,
        WorkStatus::Cancelled,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_unknown_words_are_refused() {
        assert_eq!("ACCESS_REQUEST".parse::<WorkSubject>(), Ok(WorkSubject::AccessRequest));
        assert_eq!(WorkStatus::Denied.to_string(), "DENIED");
        assert_eq!(serde_json::to_value(WorkKind::Form).unwrap(), "FORM");
        let error = "REJECTED".parse::<WorkStatus>().unwrap_err();
        assert!(error.to_string().contains("PENDING"), "{error}");
        assert!(WorkStatus::CLOSED.iter().all(|s| !s.is_open()));
    }
}
