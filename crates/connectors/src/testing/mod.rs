//! Real systems for tests and benchmarks: a `scim2-server` process and an OpenLDAP `slapd` to provision
//! against, an aiosmtpd SMTP server to mail through, each on a free loopback port and stopped on drop,
//! and a proxy that makes a server fail or answer late on demand. Built only with the `testing` feature.

pub mod proxy;
pub mod scim_server;
pub mod slapd;
pub mod smtp;
