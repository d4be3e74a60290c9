//! Addresses: the public URL's defaults, trusted proxies, and the sign-in relay pages' paths.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use url::Url;

/// A network of trusted proxies (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128). The
/// `ipnet` crate does the arithmetic; this adds bare addresses, and IPv4 clients seen through an
/// IPv6 socket (`::ffff:a.b.c.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(ipnet::IpNet);

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.0.contains(&ip) || mapped.is_some_and(|v4| self.0.contains(&v4))
    }
}

impl FromStr for ProxyNet {
    type Err = ipnet::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.parse::<IpAddr>() {
            Ok(addr) => Ok(Self(addr.into())),
            Err(_) => s.parse().map(Self),
        }
    }
}

/// Where Open edX serves the IbalXBlock's relay page (`runtime.local_resource_url`): through its
/// resource view, or, with the static-asset pipeline (production), as a collected static file whose
/// name carries a content hash (`relay.<hash>.html`).
pub const DEFAULT_AUTH_RELAY_PATHS: [&str; 3] = [
    "/xblock/resource/ibalxblock/public/relay.html",
    "/static/xblock/resources/ibal_xblock/public/relay.html",
    "/static/xblock/resources/ibal_xblock/public/relay.*.html",
];
pub(super) const DEFAULT_AUTH_RELAY_PATH: &str = DEFAULT_AUTH_RELAY_PATHS[0];

/// A path, with at most one `*` (one file-name part: letters, digits, `-`, `_`, `.`).
pub(super) fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains(['?', '#', '\\', ' '])
        && !path.contains("..")
        && path.matches('*').count() <= 1
}

/// Whether `path` is one `pattern` names: the same, or the same but for what `*` stands for.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((head, tail)) => {
            path.len() >= head.len() + tail.len()
                && path.starts_with(head)
                && path.ends_with(tail)
                && path[head.len()..path.len() - tail.len()]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
    }
}

pub(super) fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

pub(super) fn default_public_url(bind: SocketAddr) -> Url {
    let authority = if bind.ip().is_unspecified() || bind.ip().is_loopback() {
        format!("localhost:{}", bind.port())
    } else {
        bind.to_string() // brackets IPv6 addresses
    };
    Url::parse(&format!("http://{authority}/")).expect("a socket address always forms a valid URL")
}

pub(super) fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
