//! The client address of a request, for rate limits. Behind a reverse proxy (Caddy, Tutor's
//! Caddy, a Kubernetes ingress) every connection comes from the proxy; when the peer is one of
//! `TRUSTED_PROXIES`, the client is the right-most address in `X-Forwarded-For` that is not itself
//! a trusted proxy (what a client writes further left cannot be trusted). Every `X-Forwarded-For`
//! line counts, in order (a proxy may add its own line after the client's), and a hop that is not an
//! address stops the walk: stepping over it would reach what the client wrote.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::config::ProxyNet;

#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn key(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }
}

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<ProxyNet>>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client behind the proxies: `peer` itself unless it is trusted. `forwarded_for` holds the
    /// `X-Forwarded-For` lines in the order they came.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_for.iter().flat_map(|line| line.split(',')).map(str::trim).filter(|h| !h.is_empty());
        let mut nearest = peer;
        for hop in hops.collect::<Vec<_>>().into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { return Some(nearest) };
            if !self.trusts(ip) {
                return Some(ip);
            }
            nearest = ip;
        }
        Some(nearest)
    }
}

/// An address as proxies write it: bare, or with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|a| a.ip())
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    TrustedProxies: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        Ok(Self(TrustedProxies::from_ref(state).client(peer, &forwarded)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(Arc::new(list.iter().map(|n| n.parse().expect("net")).collect()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_are_the_client() {
        let none = proxies(&[]);
        assert_eq!(
            none.client(Some(ip("203.0.113.9")), &["1.2.3.4"]),
            Some(ip("203.0.113.9")),
            "no proxy trusted: XFF ignored"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["172.16.0.0/12", "127.0.0.1"]);
        assert_eq!(trusted.client(Some(ip("172.18.0.5")), &["198.51.100.7"]), Some(ip("198.51.100.7")));
        // A client-written (spoofed) left part is not believed.
        assert_eq!(
            trusted.client(Some(ip("172.18.0.5")), &["10.9.9.9, 198.51.100.7, 172.18.0.2"]),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(trusted.client(Some(ip("127.0.0.1")), &[]), Some(ip("127.0.0.1")), "no header: the proxy itself");
        assert_eq!(trusted.client(Some(ip("172.18.0.5")), &["garbage"]), Some(ip("172.18.0.5")));
    }

    #[test]
    fn every_header_line_counts_and_an_unreadable_hop_stops_the_walk() {
        let trusted = proxies(&["172.16.0.0/12"]);
        // The client's own line first, the proxy's appended as a second line: the proxy's counts.
        assert_eq!(trusted.client(Some(ip("172.18.0.5")), &["6.6.6.6", "198.51.100.7"]), Some(ip("198.51.100.7")));
        // A hop with a port is read; an unreadable one is never stepped over into the client's part.
        assert_eq!(trusted.client(Some(ip("172.18.0.5")), &["6.6.6.6, 198.51.100.7:4711"]), Some(ip("198.51.100.7")));
        assert_eq!(trusted.client(Some(ip("172.18.0.5")), &["[2001:db8::7]:443"]), Some(ip("2001:db8::7")));
        assert_eq!(
            trusted.client(Some(ip("172.18.0.5")), &["6.6.6.6, unknown, 172.18.0.2"]),
            Some(ip("172.18.0.2")),
            "the nearest proxy, not the spoofable left part"
        );
    }
}
