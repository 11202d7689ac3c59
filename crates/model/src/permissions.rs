//! Who may do what: the API's scopes, ISC's user levels, and the scopes each level holds. One model
//! for every check: an API client holds scopes; a client bound to an identity acts as that person with
//! its scopes (and sees only that person's things); a person signed in holds the scopes of their user
//! levels (granted directly, or through their governance groups) and of [`PERSON`]. An administrator is
//! `ORG_ADMIN`, whose scope is `sp:scopes:all`.

use scope::*;

/// The API's scopes: ISC's names where ISC has the scope, `tessera:…` for Tessera's own.
pub mod scope {
    /// Every scope, granted to the administrator.
    pub const ALL: &str = "sp:scopes:all";
    pub const WORKFLOW_READ: &str = "sp:workflow:read";
    pub const WORKFLOW_MANAGE: &str = "sp:workflow:manage";
    pub const EXECUTION_READ: &str = "sp:workflow-execution:read";
    pub const EXECUTION_MANAGE: &str = "sp:workflow-execution:manage";
    pub const SOURCES_READ: &str = "idn:sources:read";
    pub const SOURCES_MANAGE: &str = "idn:sources:manage";
    pub const IDENTITY_READ: &str = "idn:identity:read";
    pub const IDENTITY_MANAGE: &str = "idn:identity:manage";
    pub const ACCOUNTS_READ: &str = "idn:accounts:read";
    pub const ENTITLEMENT_READ: &str = "idn:entitlement:read";
    pub const ENTITLEMENT_MANAGE: &str = "idn:entitlement:manage";
    pub const ACCESS_PROFILE_READ: &str = "idn:access-profile:read";
    pub const ACCESS_PROFILE_MANAGE: &str = "idn:access-profile:manage";
    pub const ROLE_READ: &str = "idn:role-unchecked:read";
    pub const ROLE_MANAGE: &str = "idn:role-unchecked:manage";
    pub const IDENTITY_PROFILE_READ: &str = "idn:identity-profile:read";
    pub const IDENTITY_PROFILE_MANAGE: &str = "idn:identity-profile:manage";
    pub const WORKGROUP_READ: &str = "idn:workgroup:read";
    pub const WORKGROUP_MANAGE: &str = "idn:workgroup:manage";
    pub const SEARCH_READ: &str = "sp:search:read";
    pub const WORK_ITEM_READ: &str = "idn:work-item:read";
    pub const WORK_ITEM_MANAGE: &str = "idn:work-item:manage";
    /// Submitting access requests for anyone (naming the requester), and cancelling them.
    pub const ACCESS_REQUEST_MANAGE: &str = "idn:access-request:manage";
    /// ISC's self-service request scope: a token bound to an identity requests for that identity only.
    pub const ACCESS_REQUEST_SELF_MANAGE: &str = "idn:access-request-self:manage";
    pub const ACCESS_REQUEST_STATUS_READ: &str = "idn:access-request-status:read";
    pub const ACCESS_REQUEST_APPROVALS_READ: &str = "idn:access-request-approvals:read";
    /// Deciding approvals: as the token's identity, or, for a token bound to none, as the body names.
    pub const ACCESS_REQUEST_APPROVALS_MANAGE: &str = "idn:access-request-approvals:manage";
    /// Reading SCIM Users and Groups at `/scim/v2` (Tessera's own scope, as ISC has no inbound SCIM).
    pub const SCIM_READ: &str = "idn:scim:read";
    /// Pushing SCIM Users and Groups: what an HR system or identity provider needs, and nothing more.
    pub const SCIM_MANAGE: &str = "idn:scim:manage";
    /// Reading the names of stored secrets (never their values).
    pub const SECRETS_READ: &str = "tessera:secrets:read";
    /// Storing and deleting named secrets.
    pub const SECRETS_MANAGE: &str = "tessera:secrets:manage";
    /// Reading task status (ISC's `idn:task-management:read`).
    pub const TASK_READ: &str = "idn:task-management:read";
    /// Scraping Prometheus metrics at `/metrics`.
    pub const METRICS_READ: &str = "tessera:metrics:read";
    /// Reading the audit log.
    pub const AUDIT_READ: &str = "tessera:audit:read";
    /// Creating API clients and binding them to identities.
    pub const OAUTH_CLIENT_MANAGE: &str = "sp:oauth-client:manage";

    /// Reading one's own inbox (a token bound to an identity) and one's notifications.
    pub const INBOX_READ: &str = "tessera:inbox:read";
    /// Acting on one's own inbox items: approve, deny, complete, comment, reassign, delegate.
    pub const INBOX_MANAGE: &str = "tessera:inbox:manage";
    /// Seeing everyone's inbox and reassigning anyone's items (not deciding them).
    pub const INBOX_ADMIN: &str = "tessera:inbox:admin";

    /// Reading teams, configuration lists and request types.
    pub const REQUEST_TYPES_READ: &str = "tessera:request-types:read";
    /// Creating and changing teams, configuration lists and request types (a person's token: only what
    /// their teams let them edit).
    pub const REQUEST_TYPES_MANAGE: &str = "tessera:request-types:manage";
    /// Reading requests raised from request types (a person's token: only those they are part of).
    pub const REQUESTS_READ: &str = "tessera:requests:read";
    /// Raising, cancelling and commenting on requests (a person's token: as that person).
    pub const REQUESTS_MANAGE: &str = "tessera:requests:manage";

    /// Publishing events to start the workflows they trigger (Tessera's own).
    pub const EVENT_PUBLISH: &str = "tessera:events:publish";
    /// Starting a workflow through its external trigger: held by that workflow's own client.
    pub const EXECUTE_EXTERNAL: &str = "sp:workflow-execute:external";
    /// Reading SoD policies and predicting violations.
    pub const SOD_POLICY_READ: &str = "idn:sod-policy:read";
    /// Creating, changing and deleting SoD policies.
    pub const SOD_POLICY_MANAGE: &str = "idn:sod-policy:manage";
    /// Reading the access request configuration.
    pub const ACCESS_REQUEST_CONFIG_READ: &str = "idn:access-request-config:read";
    /// Changing the access request configuration.
    pub const ACCESS_REQUEST_CONFIG_MANAGE: &str = "idn:access-request-config:manage";
    /// Reading a person's user levels (ISC's auth users).
    pub const AUTH_USER_READ: &str = "sp:auth-user:read";
    /// Setting a person's user levels.
    pub const AUTH_USER_MANAGE: &str = "sp:auth-user:manage";
}

/// What every person holds for their own things, whatever their levels: requesting access for
/// themselves and following it, deciding what is assigned to them, their inbox, and request types.
/// Lists and reads through these scopes show a person only what concerns them.
pub const PERSON: &[&str] = &[
    ACCESS_REQUEST_SELF_MANAGE,
    ACCESS_REQUEST_STATUS_READ,
    ACCESS_REQUEST_APPROVALS_READ,
    ACCESS_REQUEST_APPROVALS_MANAGE,
    WORK_ITEM_READ,
    WORK_ITEM_MANAGE,
    INBOX_READ,
    INBOX_MANAGE,
    REQUEST_TYPES_READ,
    REQUESTS_READ,
    REQUESTS_MANAGE,
];

vocabulary! {
    "user level",
    /// ISC's user levels (an auth user's `capabilities`), each the words ISC's API uses.
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
    pub enum UserLevel {
        OrgAdmin,
        CertAdmin,
        Helpdesk,
        ReportAdmin,
        RoleAdmin,
        RoleSubadmin,
        SourceAdmin,
        SourceSubadmin,
        CloudGovAdmin,
        CloudGovUser,
        SaasManagementAdmin,
        SaasManagementReader,
        #[serde(rename = "das:ui-administrator")]
        #[strum(serialize = "das:ui-administrator")]
        DasUiAdministrator,
        #[serde(rename = "das:ui-compliance_manager")]
        #[strum(serialize = "das:ui-compliance_manager")]
        DasUiComplianceManager,
        #[serde(rename = "das:ui-auditor")]
        #[strum(serialize = "das:ui-auditor")]
        DasUiAuditor,
        #[serde(rename = "das:ui-data-scope")]
        #[strum(serialize = "das:ui-data-scope")]
        DasUiDataScope,
        #[serde(rename = "sp:aic-dashboard-read")]
        #[strum(serialize = "sp:aic-dashboard-read")]
        AicDashboardRead,
        #[serde(rename = "sp:aic-dashboard-write")]
        #[strum(serialize = "sp:aic-dashboard-write")]
        AicDashboardWrite,
        #[serde(rename = "sp:ui-config-hub-admin")]
        #[strum(serialize = "sp:ui-config-hub-admin")]
        ConfigHubAdmin,
        #[serde(rename = "sp:ui-config-hub-backup-admin")]
        #[strum(serialize = "sp:ui-config-hub-backup-admin")]
        ConfigHubBackupAdmin,
        #[serde(rename = "sp:ui-config-hub-read")]
        #[strum(serialize = "sp:ui-config-hub-read")]
        ConfigHubRead,
    }
}

/// What reading the governed world takes, shared by the levels that look at it.
const READ_WORLD: &[&str] =
    &[IDENTITY_READ, ACCOUNTS_READ, SOURCES_READ, ENTITLEMENT_READ, ACCESS_PROFILE_READ, ROLE_READ, SEARCH_READ];

impl UserLevel {
    /// The scopes this level holds beyond [`PERSON`]. A sub-admin's management is confined to its
    /// sources in ISC; Tessera cannot confine a scope to sources yet, so sub-admins only read. Levels
    /// for products Tessera does not have (cloud governance, SaaS management, data access security,
    /// dashboards, configuration hub) hold nothing, and are kept so that ISC's clients round-trip them.
    pub fn scopes(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            UserLevel::OrgAdmin => return vec![ALL],
            UserLevel::CertAdmin => &[SOD_POLICY_READ],
            UserLevel::Helpdesk => &[ACCESS_REQUEST_MANAGE],
            UserLevel::ReportAdmin => &[
                IDENTITY_PROFILE_READ,
                WORKGROUP_READ,
                SOD_POLICY_READ,
                TASK_READ,
                AUDIT_READ,
                WORKFLOW_READ,
                EXECUTION_READ,
            ],
            UserLevel::RoleAdmin => &[ROLE_MANAGE, ACCESS_PROFILE_MANAGE, SOD_POLICY_READ],
            UserLevel::RoleSubadmin | UserLevel::SourceSubadmin => &[TASK_READ],
            UserLevel::SourceAdmin => {
                &[SOURCES_MANAGE, ENTITLEMENT_MANAGE, IDENTITY_PROFILE_READ, IDENTITY_PROFILE_MANAGE, TASK_READ]
            }
            _ => return Vec::new(),
        };
        READ_WORLD.iter().chain(own).copied().collect()
    }

    /// Whether this level is an administrator's: it holds every scope.
    pub fn is_admin(self) -> bool {
        self == UserLevel::OrgAdmin
    }
}

/// The scopes of a person holding `levels`: [`PERSON`] and each level's, once each, sorted.
pub fn scopes_of(levels: &[UserLevel]) -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = PERSON.iter().copied().chain(levels.iter().flat_map(|l| l.scopes())).collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// The levels whose scopes include one of `any`: who may call an operation that takes them.
pub fn levels_holding(any: &[&str]) -> Vec<UserLevel> {
    use strum::IntoEnumIterator;
    UserLevel::iter().filter(|level| level.scopes().iter().any(|s| *s == ALL || any.contains(s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_and_print_as_isc_words_and_an_unknown_one_is_refused() {
        for word in ["ORG_ADMIN", "ROLE_SUBADMIN", "das:ui-compliance_manager", "sp:ui-config-hub-read"] {
            let level: UserLevel = word.parse().unwrap();
            assert_eq!(level.to_string(), word);
            assert_eq!(serde_json::to_value(level).unwrap(), serde_json::json!(word));
        }
        let refused = "SUPER_USER".parse::<UserLevel>().unwrap_err();
        assert_eq!(refused.value, "SUPER_USER");
        assert!(refused.to_string().contains("ORG_ADMIN"), "{refused}");
        assert_eq!(<UserLevel as strum::VariantNames>::VARIANTS.len(), 21, "ISC's 21 capabilities");
    }

    #[test]
    fn an_org_admin_holds_every_scope_and_others_what_their_work_needs() {
        assert_eq!(UserLevel::OrgAdmin.scopes(), [ALL]);
        assert!(UserLevel::SourceAdmin.scopes().contains(&SOURCES_MANAGE));
        assert!(!UserLevel::SourceAdmin.scopes().contains(&ROLE_MANAGE));
        assert!(UserLevel::RoleAdmin.scopes().contains(&ROLE_MANAGE));
        assert!(!UserLevel::RoleSubadmin.scopes().contains(&ROLE_MANAGE), "sub-admins only read");
        assert!(UserLevel::Helpdesk.scopes().contains(&ACCESS_REQUEST_MANAGE));
        assert!(UserLevel::CloudGovAdmin.scopes().is_empty());
        let person = scopes_of(&[]);
        assert!(person.contains(&ACCESS_REQUEST_SELF_MANAGE) && !person.contains(&IDENTITY_READ));
        let both = scopes_of(&[UserLevel::RoleAdmin, UserLevel::SourceAdmin]);
        assert!(both.contains(&ROLE_MANAGE) && both.contains(&SOURCES_MANAGE) && both.contains(&INBOX_READ));
        assert_eq!(both.iter().filter(|s| **s == IDENTITY_READ).count(), 1, "once each");
        assert_eq!(levels_holding(&[ROLE_MANAGE]), [UserLevel::OrgAdmin, UserLevel::RoleAdmin]);
    }
}
