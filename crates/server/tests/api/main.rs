//! Tessera's HTTP API over real HTTP on loopback, against SQLite and (when available) PostgreSQL:
//! OAuth2 client credentials and scopes, workflow CRUD and versions, test executions, the audit log,
//! the workflow library, what trace records, the access catalogue, identities from aggregation (of files
//! and of live LDAP systems), and connector secrets sealed and masked.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod access_request_scim;
mod access_requests;
mod audit;
mod auth;
mod auth_users;
mod bodies;
mod catalog;
mod clients;
mod common;
mod events;
mod executions;
mod external;
mod identities;
mod inbox;
mod least_privilege;
mod library;
mod listen;
mod live_sources;
mod metrics;
mod openapi;
mod outbound;
mod request_types;
mod retention;
mod scim;
mod secrets;
mod sod;
mod tokens;
mod trace;
mod versions;
mod workflow_secrets;
mod workflows;
