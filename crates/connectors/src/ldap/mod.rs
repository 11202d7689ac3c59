//! The LDAP connector: provisions and reads `inetOrgPerson`-style accounts and `groupOfNames`-style groups
//! of a directory (OpenLDAP, 389-ds and the like) over LDAP v3.
//!
//! An account's native identity is its entry's DN. Group memberships are the account attribute
//! [`MEMBER_OF`], whose values are group DNs; they are written on the groups (their member attribute) and
//! read back from there, so no memberOf overlay is needed. See [`LdapConfig`] for the layout it expects and
//! [`LdapConnector`] for how each operation maps onto LDAP.

mod config;
mod conn;
mod dn;
mod members;
mod provision;
mod read;

use tokio::sync::Mutex;

use crate::{
    Account, AccountRequest, Connector, ConnectorError, Entitlement, Error, Feature, Operation, Outcome, Page,
};
pub use config::{DisableMode, LdapConfig, PasswordMode};
use conn::{Slot, check, from_ldap};
use members::CurrentRead;

/// The account attribute that carries group memberships (values: group DNs), and the attribute of every
/// entitlement this connector reads.
pub const MEMBER_OF: &str = "memberOf";

const FEATURES: [Feature; 5] = [
    Feature::Enable,
    Feature::Provisioning,
    Feature::Password,
    Feature::AccountAggregation,
    Feature::EntitlementAggregation,
];

/// A connector to one LDAP directory.
///
/// - **Create** names the entry `{namingAttribute}={value},{baseDn}` from the request's attribute of the
///   naming attribute's name, and adds it with the configured object classes (unless the request gives
///   `objectClass`). For the `person` family, which requires `cn` and `sn`: a missing `cn` is taken from
///   `displayName`, then `givenName` + `sn`, then the naming value; a request's `familyName` (not an LDAP
///   attribute) becomes `sn`, and a missing `sn` is taken from the naming value. An entry that already
///   exists counts as created (its attributes are left as they are). `memberOf` values become
///   memberships, and a password is set as a Password operation does, after the add.
/// - **Modify**: Set replaces an attribute's values (null removes it), Add and Remove add and delete
///   values; on `memberOf` they add and remove memberships, and Set makes the memberships exactly the ones
///   given. Adding a value that is there, and removing one that is not, succeed.
/// - **Enable/Disable** follow [`DisableMode`]; moving between OUs changes the DN, and the outcome
///   carries the new one.
/// - **Password** uses the Password Modify extended operation or replaces `userPassword`
///   ([`PasswordMode`]).
/// - **Delete** removes the account from its groups, then deletes the entry; a missing entry is deleted
///   already.
///
/// Every outcome but Delete's carries the account as read back. An account read's first page also reads
/// every group's member list, once, and the later pages of the same read take their memberships from
/// it. Connections open on first use: one for requests, and one each for the paged account, group and
/// membership reads, because a server keeps one paging state per connection. A paging cursor is good
/// only on the connector that issued it, while its connection stays open.
#[derive(Debug)]
pub struct LdapConnector {
    config: LdapConfig,
    ops: Slot,
    accounts: Slot,
    entitlements: Slot,
    memberships: Slot,
    memberships_lock: Mutex<()>,
    /// The memberships of the account read under way.
    reads: CurrentRead,
}

impl LdapConnector {
    /// A connector for `config`, which it checks; it connects on first use.
    pub fn new(config: LdapConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            ops: Slot::default(),
            accounts: Slot::default(),
            entitlements: Slot::default(),
            memberships: Slot::default(),
            memberships_lock: Mutex::new(()),
            reads: CurrentRead::default(),
        })
    }

    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    /// The outcome of a request that left the account at `dn`: the account as read back.
    async fn success(&self, dn: String) -> Result<Outcome, ConnectorError> {
        let account = self.read_account(&dn).await?;
        Ok(Outcome::Success { native_identity: dn, account })
    }

    async fn check_base_exists(&self, key: &str, base: &str) -> Result<(), ConnectorError> {
        let mut ldap = self.ops.get(&self.config).await?.ldap;
        let context = format!("reading {key} {base}");
        let result = ldap
            .with_timeout(self.config.timeout)
            .search(base, ldap3::Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| from_ldap(&context, e))?;
        check(&context, &result.1)
    }
}

impl Connector for LdapConnector {
    fn features(&self) -> &[Feature] {
        &FEATURES
    }

    async fn provision(&self, request: &AccountRequest, _key: &str) -> Result<Outcome, ConnectorError> {
        // Every operation is idempotent by itself (see the type's documentation), so the key is not needed.
        match request.operation {
            Operation::Create => self.create(request).await,
            Operation::Modify => self.modify(request).await,
            Operation::Enable => self.set_enabled(request, true).await,
            Operation::Disable => self.set_enabled(request, false).await,
            Operation::Password => self.change_password(request).await,
            Operation::Delete => self.delete(request).await,
            Operation::Unlock => Err(ConnectorError::permanent("the LDAP connector cannot unlock accounts")),
        }
    }

    async fn accounts(&self, cursor: Option<&str>) -> Result<Page<Account>, ConnectorError> {
        self.read_accounts(cursor).await
    }

    async fn entitlements(&self, cursor: Option<&str>) -> Result<Page<Entitlement>, ConnectorError> {
        self.read_entitlements(cursor).await
    }

    async fn test_connection(&self) -> Result<(), ConnectorError> {
        self.check_base_exists("baseDn", &self.config.base_dn).await?;
        self.check_base_exists("groupBaseDn", &self.config.group_base_dn).await
    }
}
