//! The outbound-call guard: which addresses `sp:http` may connect to. By default it refuses loopback
//! (except Tessera's own API, which workflows call with their own credentials, as ISC workflows call
//! their tenant's), the unspecified address, link-local ranges and cloud metadata services, and
//! allows everything else, private ranges included (on-premises systems live there). The operator's
//! `http_allow` entries (addresses, ranges or host names, each optionally with a port) loosen it and
//! `http_deny` ranges tighten it; an allow entry wins over a deny range. Every hop's URL is checked
//! before it is sent (host and port), and every address a name resolves to, so a name pointing at a
//! refused address is refused too. A refusal says which rule refused and how to allow it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Cloud metadata services that sit outside the link-local ranges (AWS IPv6, Alibaba Cloud).
const METADATA_ADDRESSES: [IpAddr; 2] =
    [IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)), IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200))];

/// Host names that reach a metadata service whatever they resolve to.
const METADATA_NAMES: [&str; 1] = ["metadata.google.internal"];

/// One `http_allow` entry: an address or range, or a host name; either with a port, or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Range { net: IpNet, port: Option<u16> },
    Host { name: String, port: Option<u16> },
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (target, port) = match self {
            Self::Range { net, port } if net.prefix_len() == net.max_prefix_len() => (net.addr().to_string(), port),
            Self::Range { net, port } => (net.to_string(), port),
            Self::Host { name, port } => (name.clone(), port),
        };
        match port {
            Some(port) if target.contains(':') => write!(f, "[{target}]:{port}"),
            Some(port) => write!(f, "{target}:{port}"),
            None => f.write_str(&target),
        }
    }
}

impl std::str::FromStr for AllowEntry {
    type Err = String;

    /// `10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:8443`, `[::1]:8080`, `hr.example.com`, `localhost:9000`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not an address, range or host name with an optional port (such as 10.0.0.0/8, \
                 127.0.0.1:8025 or hr.example.com:443)"
            )
        };
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self::Range { net, port: None });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Range { net: IpNet::from(ip), port: None });
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::Range { net: IpNet::from(addr.ip()), port: Some(addr.port()) });
        }
        let (name, port) = match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !valid {
            return Err(bad());
        }
        Ok(Self::Host { name: name.to_ascii_lowercase(), port })
    }
}

/// What the operator decides about outbound calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allowed although the defaults or a deny range refuse them.
    pub allow: Vec<AllowEntry>,
    /// Refused although the defaults allow them.
    pub deny: Vec<IpNet>,
    /// The port of Tessera's own API on this node: loopback on this port is allowed.
    pub own_api_port: Option<u16>,
}

/// A connection the guard refused; the message names the rule and how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to connect to {target}: {rule}")]
pub(crate) struct Refused {
    /// The address (with the port when known), or the host name when it was refused by name.
    target: String,
    rule: String,
}

/// The guard: a policy, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    policy: Arc<Policy>,
}

fn target(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(port) => SocketAddr::new(ip, port).to_string(),
        None => ip.to_string(),
    }
}

fn name_matches(entry_name: &str, name: &str) -> bool {
    entry_name.eq_ignore_ascii_case(name.trim_end_matches('.'))
}

impl Guard {
    pub(crate) fn new(policy: Policy) -> Self {
        Self { policy: Arc::new(policy) }
    }

    /// Whether an allow entry names this address (and port, when the entry has one).
    fn allowed(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.policy.allow.iter().any(|entry| match entry {
            AllowEntry::Range { net, port: wanted } => {
                net.contains(&ip) && wanted.is_none_or(|wanted| port == Some(wanted))
            }
            AllowEntry::Host { .. } => false,
        })
    }

    /// Whether an allow entry names this host (and port, when the entry has one; `None` asks whether
    /// any entry names the host at all).
    fn host_allowed(&self, name: &str, port: Option<u16>) -> bool {
        self.policy.allow.iter().any(|entry| match entry {
            AllowEntry::Host { name: allowed, port: wanted } => {
                name_matches(allowed, name) && (port.is_none() || wanted.is_none_or(|wanted| port == Some(wanted)))
            }
            AllowEntry::Range { .. } => false,
        })
    }

    /// The decision for one address, with the port when it is known.
    pub(crate) fn check_ip(&self, ip: IpAddr, port: Option<u16>) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if self.allowed(ip, port) {
            return Ok(());
        }
        let refuse = |rule: String| Err(Refused { target: target(ip, port), rule });
        let allow_hint = |what: &str| {
            format!(
                "{what}; if this is intended, allow it with http_allow = [\"{}\"] in the configuration",
                target(ip, port)
            )
        };
        if let Some(net) = self.policy.deny.iter().find(|net| net.contains(&ip)) {
            return refuse(allow_hint(&format!("the address is in the http_deny range {net}")));
        }
        if metadata_or_link_local(ip) {
            return refuse(allow_hint("link-local and cloud metadata addresses are refused by default"));
        }
        if ip.is_loopback() || ip.is_unspecified() {
            if ip.is_loopback() && port.is_some() && port == self.policy.own_api_port {
                return Ok(());
            }
            let own = match self.policy.own_api_port {
                Some(port) => format!(" (Tessera's own API, on port {port}, is allowed)"),
                None => String::new(),
            };
            return refuse(allow_hint(&format!("loopback addresses are refused by default{own}")));
        }
        Ok(())
    }

    /// Checks a URL before anything is sent to it: an IP host with its port; a name against the
    /// allow entries (the addresses it resolves to are checked when they are known).
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let port = url.port_or_known_default();
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), port),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), port),
            Some(url::Host::Domain(name)) => {
                if self.host_allowed(name, port) {
                    return Ok(());
                }
                if self.host_allowed(name, None) {
                    return Err(Refused {
                        target: format!("{name}:{}", port.unwrap_or_default()),
                        rule: "http_allow names this host with another port".into(),
                    });
                }
                if is_metadata_name(name) {
                    return Err(Refused {
                        target: name.to_owned(),
                        rule: "cloud metadata services are refused by default".into(),
                    });
                }
                if is_localhost(name) {
                    return self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Keeps the resolved addresses of `name` that may be used; refuses the name if none is left. A
    /// name an allow entry names keeps every address (its port was checked with the URL), and so
    /// does `localhost`, whose port the URL check decided.
    pub(crate) fn filter(
        &self,
        name: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let trusted = self.host_allowed(name, None) || is_localhost(name);
        let mut first_refused = None;
        let mut kept = Vec::new();
        for addr in addrs {
            match if trusted { Ok(()) } else { self.check_ip(addr.ip(), None) } {
                Ok(()) => kept.push(addr),
                Err(refused) => {
                    first_refused.get_or_insert(refused);
                }
            }
        }
        match (kept.is_empty(), first_refused) {
            (true, Some(refused)) => {
                Err(Refused { target: format!("{name} ({})", refused.target), rule: refused.rule })
            }
            _ => Ok(kept),
        }
    }
}

/// Link-local ranges (169.254.0.0/16, fe80::/10) and the metadata addresses, also when an IPv6 address
/// embeds one (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
fn metadata_or_link_local(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    if METADATA_ADDRESSES.contains(&ip) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return metadata_or_link_local(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            segments[0] & 0xffc0 == 0xfe80
        }
    }
}

fn is_metadata_name(name: &str) -> bool {
    METADATA_NAMES.iter().any(|known| name_matches(known, name))
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// reqwest's resolver: the system resolver, then the guard's filter.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) guard: Guard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_metadata_name(&host) && !guard.host_allowed(&host, None) {
                return Err(
                    Refused { target: host, rule: "cloud metadata services are refused by default".into() }.into()
                );
            }
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = guard.filter(&host, addrs)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn sock(text: &str) -> SocketAddr {
        SocketAddr::new(ip(text), 0)
    }

    fn guard(allow: &[&str], deny: &[&str], own: Option<u16>) -> Guard {
        Guard::new(Policy {
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
            deny: deny.iter().map(|d| d.parse().unwrap()).collect(),
            own_api_port: own,
        })
    }

    #[test]
    fn loopback_link_local_and_metadata_are_refused_private_ranges_are_not() {
        let guard = guard(&[], &[], Some(8080));
        for refused in [
            "http://127.0.0.1:9000/",
            "http://127.1:9000/",
            "http://2130706433:9000/",
            "http://0x7f000001/",
            "http://0.0.0.0:9000/",
            "http://[::1]:9000/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]:9000/",
            "http://localhost:9000/",
            "http://LOCALHOST./",
            "http://api.localhost:9001/",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://metadata.google.internal/",
        ] {
            assert!(guard.check_url(&url(refused)).is_err(), "{refused} should be refused");
        }
        for allowed in [
            "http://127.0.0.1:8080/v3/workflows",
            "http://localhost:8080/v3/workflows",
            "http://10.0.0.1/",
            "https://192.168.1.1/",
            "http://172.16.0.1:8443/",
            "https://hr.example.com/",
        ] {
            assert!(guard.check_url(&url(allowed)).is_ok(), "{allowed} should be allowed");
        }
    }

    #[test]
    fn refusals_name_the_rule_and_the_remedy() {
        let guard = guard(&[], &["10.0.0.0/8"], Some(8080));
        let error = guard.check_url(&url("http://127.0.0.1:9000/")).unwrap_err().to_string();
        assert_eq!(
            error,
            "refused to connect to 127.0.0.1:9000: loopback addresses are refused by default (Tessera's own API, on \
             port 8080, is allowed); if this is intended, allow it with http_allow = [\"127.0.0.1:9000\"] in the \
             configuration"
        );
        let error = guard.check_url(&url("http://10.1.2.3/")).unwrap_err().to_string();
        assert!(error.contains("in the http_deny range 10.0.0.0/8"), "{error}");
        let error = guard.check_ip(ip("::ffff:169.254.169.254"), None).unwrap_err().to_string();
        assert!(error.starts_with("refused to connect to 169.254.169.254: link-local"), "{error}");
    }

    #[test]
    fn allow_entries_loosen_and_deny_ranges_tighten() {
        let guard = guard(
            &["127.0.0.1:8025", "169.254.169.254/32", "ldap.local", "hr.example.com:443", "10.9.9.9"],
            &["10.0.0.0/8"],
            None,
        );
        assert!(guard.check_url(&url("http://127.0.0.1:8025/")).is_ok());
        assert!(guard.check_url(&url("http://127.0.0.1:8026/")).is_err(), "only that port");
        assert!(guard.check_url(&url("http://169.254.169.254/")).is_ok());
        assert!(guard.check_url(&url("http://10.9.9.9/")).is_ok(), "an allow entry wins over a deny range");
        assert!(guard.check_url(&url("http://10.1.1.1/")).is_err());
        assert!(guard.check_url(&url("https://hr.example.com/")).is_ok());
        let other = guard.check_url(&url("http://hr.example.com:8080/")).unwrap_err().to_string();
        assert!(other.contains("another port"), "{other}");
        // An allowed name keeps the addresses it resolves to; others are filtered.
        assert_eq!(guard.filter("ldap.local", [sock("127.0.0.1")]).unwrap(), vec![sock("127.0.0.1")]);
        assert!(guard.filter("evil.example", [sock("127.0.0.1")]).is_err());
        assert_eq!(
            guard.filter("mixed.example", [sock("169.254.1.1"), sock("8.8.8.8")]).unwrap(),
            vec![sock("8.8.8.8")]
        );
        assert_eq!(AllowEntry::from_str_checked("[::1]:8080"), "[::1]:8080");
        assert!("not a host!".parse::<AllowEntry>().is_err());
        assert!("host:port".parse::<AllowEntry>().is_err());
    }

    impl AllowEntry {
        fn from_str_checked(text: &str) -> String {
            text.parse::<AllowEntry>().unwrap().to_string()
        }
    }

    #[tokio::test]
    async fn the_resolver_filters_what_the_system_resolver_returns() {
        let resolver = GuardedResolver { guard: Guard::default() };
        let error = resolver.resolve("169.254.169.254".parse().unwrap()).await.err().unwrap();
        assert!(error.downcast_ref::<Refused>().is_some(), "{error}");
        let error = resolver.resolve("127.0.0.1".parse().unwrap()).await.err().unwrap();
        assert!(error.to_string().contains("loopback"), "{error}");
        let error = resolver.resolve("metadata.google.internal".parse().unwrap()).await.err().unwrap();
        assert!(error.to_string().starts_with("refused to connect to metadata.google.internal"), "{error}");
    }
}
