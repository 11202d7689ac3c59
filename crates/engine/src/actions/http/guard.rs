//! The SSRF guard: which addresses `sp:http` may connect to, checked on IP-literal hosts and on every
//! address a host name resolves to (so a DNS name pointing at the metadata service is refused too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Cloud metadata services that sit outside the link-local ranges (AWS IPv6, Alibaba Cloud).
const METADATA_ADDRESSES: [IpAddr; 2] =
    [IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)), IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200))];

/// Host names that reach a metadata service whatever they resolve to.
const METADATA_NAMES: [&str; 1] = ["metadata.google.internal"];

/// A connection the guard refused; the message tells the operator how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to connect to {target} (link-local/metadata address); allow it in the configuration if this is intended"
)]
pub(crate) struct Refused {
    /// The address, or the host name when it was refused by name.
    target: String,
}

/// The addresses the operator allowed on top of the default rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    allow: Arc<[IpNet]>,
}

impl Guard {
    pub(crate) fn new(allow: &[IpNet]) -> Self {
        Self { allow: allow.into() }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Refuses a link-local or metadata address unless the configuration allows it.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if forbidden(ip) && !self.allowed(ip) { Err(Refused { target: canonical(ip).to_string() }) } else { Ok(()) }
    }

    /// Checks a URL's host before any connection: IP literals here, names when they are resolved.
    pub(crate) fn check_host(&self, host: Option<url::Host<&str>>) -> Result<(), Refused> {
        match host {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if is_metadata_name(name) && self.allow.is_empty() => {
                Err(Refused { target: name.to_owned() })
            }
            _ => Ok(()),
        }
    }

    /// Keeps the resolved addresses of `name` that may be used; refuses the name if none is left.
    /// A metadata name keeps only addresses the configuration allows explicitly.
    pub(crate) fn filter(
        &self,
        name: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let by_name = is_metadata_name(name);
        let mut first_refused = None;
        let mut kept = Vec::new();
        for addr in addrs {
            let ok = if by_name { self.allowed(addr.ip()) } else { self.check_ip(addr.ip()).is_ok() };
            if ok {
                kept.push(addr);
            } else if first_refused.is_none() {
                first_refused = Some(addr.ip());
            }
        }
        match (kept.is_empty(), first_refused) {
            (true, Some(_)) if by_name => Err(Refused { target: name.to_owned() }),
            (true, Some(ip)) => Err(Refused { target: canonical(ip).to_string() }),
            _ => Ok(kept),
        }
    }
}

/// Link-local ranges (169.254.0.0/16, fe80::/10) and the metadata addresses, also when an IPv6 address
/// embeds one (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
fn forbidden(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    if METADATA_ADDRESSES.contains(&ip) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return forbidden(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
            }
            segments[0] & 0xffc0 == 0xfe80
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn is_metadata_name(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    METADATA_NAMES.iter().any(|known| known.eq_ignore_ascii_case(name))
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
            if is_metadata_name(&host) && guard.allow.is_empty() {
                return Err(Refused { target: host }.into());
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

    fn sock(text: &str) -> SocketAddr {
        SocketAddr::new(ip(text), 0)
    }

    #[test]
    fn refuses_link_local_and_metadata_addresses() {
        let guard = Guard::default();
        for refused in [
            "169.254.169.254",
            "169.254.0.1",
            "169.254.170.2",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
            "64:ff9b::169.254.169.254",
        ] {
            assert!(guard.check_ip(ip(refused)).is_err(), "{refused} should be refused");
        }
        for allowed in
            ["127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "8.8.8.8", "fec0::1", "100.100.100.201"]
        {
            assert!(guard.check_ip(ip(allowed)).is_ok(), "{allowed} should be allowed");
        }
    }

    #[test]
    fn refusal_names_the_address_and_the_remedy() {
        let error = Guard::default().check_ip(ip("::ffff:169.254.169.254")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "refused to connect to 169.254.169.254 (link-local/metadata address); allow it in the configuration if this is intended"
        );
    }

    #[test]
    fn the_allow_list_lets_a_range_through() {
        let guard = Guard::new(&["169.254.169.254/32".parse().unwrap(), "fe80::/10".parse().unwrap()]);
        assert!(guard.check_ip(ip("169.254.169.254")).is_ok());
        assert!(guard.check_ip(ip("::ffff:169.254.169.254")).is_ok());
        assert!(guard.check_ip(ip("fe80::99")).is_ok());
        assert!(guard.check_ip(ip("169.254.169.253")).is_err());
    }

    #[test]
    fn filter_drops_refused_addresses_and_refuses_when_none_is_left() {
        let guard = Guard::default();
        let kept = guard.filter("mixed.example", [sock("169.254.169.254"), sock("10.1.2.3")]).unwrap();
        assert_eq!(kept, vec![sock("10.1.2.3")]);
        let error = guard.filter("evil.example", [sock("169.254.169.254")]).unwrap_err();
        assert!(error.to_string().starts_with("refused to connect to 169.254.169.254 "), "{error}");
        assert_eq!(guard.filter("nothing.example", []).unwrap(), vec![]);
    }

    #[test]
    fn metadata_names_are_refused_by_name() {
        let guard = Guard::default();
        let error = guard.check_host(Some(url::Host::Domain("Metadata.Google.Internal."))).unwrap_err();
        assert!(error.to_string().starts_with("refused to connect to Metadata.Google.Internal. "), "{error}");
        assert!(guard.filter("metadata.google.internal", [sock("10.0.0.5")]).is_err());
        let allowing = Guard::new(&["10.0.0.5/32".parse().unwrap()]);
        assert!(allowing.check_host(Some(url::Host::Domain("metadata.google.internal"))).is_ok());
        assert_eq!(allowing.filter("metadata.google.internal", [sock("10.0.0.5")]).unwrap(), vec![sock("10.0.0.5")]);
        assert!(guard.check_host(Some(url::Host::Domain("example.com"))).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_filters_what_the_system_resolver_returns() {
        let resolver = GuardedResolver { guard: Guard::default() };
        // The system resolver returns an IP-literal name as it is, with no DNS involved.
        let error = resolver.resolve("169.254.169.254".parse().unwrap()).await.err().unwrap();
        assert!(error.downcast_ref::<Refused>().is_some(), "{error}");
        let addrs: Vec<_> = resolver.resolve("127.0.0.1".parse().unwrap()).await.unwrap().collect();
        assert_eq!(addrs, vec![sock("127.0.0.1")]);
        let error = resolver.resolve("metadata.google.internal".parse().unwrap()).await.err().unwrap();
        assert_eq!(error.to_string().split(" (").next(), Some("refused to connect to metadata.google.internal"));
    }
}
