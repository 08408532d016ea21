//! Which hosts a test's guests may reach.
//!
//! A guest gets no network of its own: every HTTP request (`http.send`, each redirect
//! included) and every TCP connect a guest or plugin makes is checked against the run's
//! grants: the hosts named with `--allow-host`, plus the authority of the run's host (`--host`,
//! or the web form's) and of each user class's own host. Anything else is refused before a
//! byte leaves the machine, and the refusal names `--allow-host`.
//!
//! Names are matched as written (`localhost` does not grant `127.0.0.1`). For sockets, which
//! connect to addresses, granted names are resolved once when the run starts, and a guest's
//! name lookups are answered from those answers: a guest cannot make the host look up, and so
//! leak through DNS, a name it was not granted. UDP is never granted.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long resolving a granted name may take when a run starts.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// One `--allow-host` value: a host (or pattern) and an optional port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRule {
    host: HostMatch,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostMatch {
    /// `*`: every host (the check is off).
    Any,
    /// One host: a lower-case name (punycode) or an IP address in canonical form.
    Exact(String),
    /// `*.example.com`: every name below `example.com`, not `example.com` itself.
    Below(String),
}

impl HostRule {
    /// Parse `HOST[:PORT]`, `[IPV6]:PORT`, `*.DOMAIN[:PORT]`, `*[:PORT]`, or a URL, whose
    /// authority (with the scheme's default port) is taken.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let invalid = |why: &str| {
            format!(
                "{spec:?} is not a host: {why}; use HOST, HOST:PORT, [IPv6]:PORT, *.DOMAIN, * \
                 or a URL such as http://127.0.0.1:8080"
            )
        };
        if spec.is_empty() {
            return Err(invalid("it is empty"));
        }
        if spec.contains("://") {
            let url = url::Url::parse(spec).map_err(|error| invalid(&error.to_string()))?;
            let host = url.host().ok_or_else(|| invalid("the URL has no host"))?;
            return Ok(Self {
                host: HostMatch::Exact(canonical_host(&host)),
                port: url.port_or_known_default(),
            });
        }
        if let Ok(ip) = Ipv6Addr::from_str(spec) {
            return Ok(Self {
                host: HostMatch::Exact(IpAddr::V6(ip).to_string()),
                port: None,
            });
        }
        let (host, port) = split_port(spec).map_err(|why| invalid(&why))?;
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostMatch::Below(parse_host(domain).map_err(|why| invalid(&why))?)
        } else {
            HostMatch::Exact(parse_host(host).map_err(|why| invalid(&why))?)
        };
        Ok(Self { host, port })
    }

    /// The rule granting exactly `url`'s authority, for a run's or a class's host.
    pub fn of_url(url: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        Some(Self {
            host: HostMatch::Exact(canonical_host(&url.host()?)),
            port: url.port_or_known_default(),
        })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.port.is_none_or(|granted| granted == port)
            && match &self.host {
                HostMatch::Any => true,
                HostMatch::Exact(name) => name.eq_ignore_ascii_case(host),
                HostMatch::Below(domain) => {
                    host.len() > domain.len() + 1 && {
                        let (head, tail) = host.split_at(host.len() - domain.len());
                        head.ends_with('.') && tail.eq_ignore_ascii_case(domain)
                    }
                }
            }
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Exact(host) if host.contains(':') => write!(f, "[{host}]")?,
            HostMatch::Exact(host) => f.write_str(host)?,
            HostMatch::Below(domain) => write!(f, "*.{domain}")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl serde::Serialize for HostRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether `rules` grant the authority of `url` (its host, with its port or the scheme's
/// default; a URL without either needs a rule for every port).
pub fn covers(rules: &[HostRule], url: &str) -> bool {
    let Ok(url) = url::Url::parse(url.trim()) else {
        return false;
    };
    let Some(host) = url.host().map(|host| canonical_host(&host)) else {
        return false;
    };
    match url.port_or_known_default() {
        Some(port) => rules.iter().any(|rule| rule.allows(&host, port)),
        None => rules
            .iter()
            .any(|rule| rule.port.is_none() && rule.allows(&host, 0)),
    }
}

/// `host` as grants compare it: lower case, IPv6 without brackets.
fn canonical_host<S: AsRef<str>>(host: &url::Host<S>) -> String {
    match host {
        url::Host::Domain(name) => name.as_ref().to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    }
}

fn parse_host(host: &str) -> Result<String, String> {
    if let Ok(ip) = Ipv6Addr::from_str(host) {
        return Ok(ip.to_string());
    }
    let parsed = url::Host::parse(host).map_err(|error| format!("{error}"))?;
    Ok(canonical_host(&parsed))
}

/// `host[:port]` or `[ipv6][:port]`, split.
fn split_port(spec: &str) -> Result<(&str, Option<u16>), String> {
    let port = |digits: &str| {
        digits
            .parse::<u16>()
            .map_err(|_| format!("port `{digits}` is not a number from 0 to 65535"))
    };
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "`[` without `]`".to_owned())?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(digits) => Ok((host, Some(port(digits)?))),
                None => Err(format!("unexpected `{after}` after `]`")),
            },
        };
    }
    match spec.rsplit_once(':') {
        Some((host, digits)) => Ok((host, Some(port(digits)?))),
        None => Ok((spec, None)),
    }
}

/// A run's grants, with the addresses of its granted names resolved for socket checks.
#[derive(Debug, Default)]
pub struct Grants {
    rules: Vec<HostRule>,
    /// Every granted name's addresses, as resolved when the run started.
    resolved: HashMap<String, Vec<IpAddr>>,
    /// Granted addresses with their port (`None`: any).
    addresses: Vec<(IpAddr, Option<u16>)>,
}

impl Grants {
    /// Grants of `explicit` rules (`--allow-host`) plus the authority of each of `hosts` (the
    /// run's host and the classes' hosts), with granted names resolved.
    pub async fn resolve<'a>(
        explicit: &[HostRule],
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Arc<Self> {
        let mut rules = explicit.to_vec();
        for rule in hosts.into_iter().filter_map(HostRule::of_url) {
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        let mut resolved = HashMap::new();
        let mut addresses = Vec::new();
        for rule in &rules {
            let HostMatch::Exact(host) = &rule.host else {
                continue;
            };
            let ips = match IpAddr::from_str(host) {
                Ok(ip) => vec![ip],
                Err(_) => match resolved.get(host) {
                    Some(ips) => Vec::clone(ips),
                    None => {
                        let ips = lookup(host).await;
                        resolved.insert(host.clone(), ips.clone());
                        ips
                    }
                },
            };
            addresses.extend(ips.into_iter().map(|ip| (ip, rule.port)));
        }
        Arc::new(Self {
            rules,
            resolved,
            addresses,
        })
    }

    /// The grants of a run targeting `host` with user `classes`: `explicit` plus the
    /// authority of the run's host and of each class's own host.
    pub async fn for_run(
        explicit: &[HostRule],
        host: Option<&str>,
        classes: &[crate::run::scenario::UserClassPlan],
    ) -> Arc<Self> {
        let class_hosts = classes.iter().filter_map(|class| class.host.as_deref());
        Self::resolve(explicit, host.into_iter().chain(class_hosts)).await
    }

    /// Grants that allow everything (`--allow-host '*'`), for tests of other parts.
    pub fn any() -> Arc<Self> {
        Arc::new(Self {
            rules: vec![HostRule {
                host: HostMatch::Any,
                port: None,
            }],
            ..Self::default()
        })
    }

    /// Whether every host is granted (`*` without a port).
    pub fn allows_everything(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.host == HostMatch::Any && rule.port.is_none())
    }

    /// Whether a guest may reach `host` (a name as written, or an IP address without
    /// brackets) on `port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.rules.iter().any(|rule| rule.allows(host, port))
    }

    /// Whether a guest may open a TCP connection to `address`.
    pub fn allows_address(&self, address: SocketAddr) -> bool {
        let ip = address.ip().to_canonical();
        let port = address.port();
        self.rules
            .iter()
            .any(|rule| rule.host == HostMatch::Any && rule.port.is_none_or(|p| p == port))
            || self.addresses.iter().any(|(granted, granted_port)| {
                *granted == ip && granted_port.is_none_or(|p| p == port)
            })
    }

    /// The answer to a guest's lookup of `name`: its addresses if it is granted (an IP
    /// address is its own answer; connects are checked anyway), `None` if the guest may not
    /// look it up. `Some(empty)`: granted, but it did not resolve.
    pub fn lookup_answer(&self, name: &str) -> Option<Lookup> {
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = IpAddr::from_str(literal) {
            return Some(Lookup::Known(vec![ip]));
        }
        let name = name.to_ascii_lowercase();
        if let Some(ips) = self.resolved.get(&name) {
            return Some(Lookup::Known(ips.clone()));
        }
        self.rules
            .iter()
            .any(|rule| rule.host == HostMatch::Any)
            .then_some(Lookup::Resolve(name))
    }

    /// Why a request to `host:port` was refused, naming the fix.
    pub fn refusal(host: &str, port: u16) -> String {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        format!(
            "{authority} is not a host this test may reach; grant it with --allow-host {authority}"
        )
    }

    /// The rules, as `--allow-host` values.
    pub fn rules(&self) -> &[HostRule] {
        &self.rules
    }

    /// The IPv4 and IPv6 unspecified addresses, which connecting sockets bind implicitly.
    pub fn is_implicit_bind(address: SocketAddr) -> bool {
        address.port() == 0
            && (address.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                || address.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    }
}

/// How to answer a guest's name lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// These addresses (resolved when the run started).
    Known(Vec<IpAddr>),
    /// Ask the system resolver (only under `--allow-host '*'`).
    Resolve(String),
}

/// The addresses of `name`, empty (with a warning) if it does not resolve in time.
async fn lookup(name: &str) -> Vec<IpAddr> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, 0))).await {
        Ok(Ok(addresses)) => addresses
            .map(|address| address.ip().to_canonical())
            .collect(),
        Ok(Err(error)) => {
            tracing::warn!(target: "locust.main", "granted host {name} does not resolve ({error}); guests' sockets cannot reach it");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!(target: "locust.main", "resolving granted host {name} took more than {}s; guests' sockets cannot reach it", RESOLVE_TIMEOUT.as_secs());
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(spec: &str) -> HostRule {
        HostRule::parse(spec).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn rules_parse_hosts_ports_patterns_and_urls() {
        assert_eq!(rule("Example.COM").to_string(), "example.com");
        assert_eq!(rule("example.com:8080").to_string(), "example.com:8080");
        assert_eq!(rule("127.0.0.1:80").to_string(), "127.0.0.1:80");
        assert_eq!(rule("[::1]:9000").to_string(), "[::1]:9000");
        assert_eq!(rule("::1").to_string(), "[::1]");
        assert_eq!(rule("*.example.com").to_string(), "*.example.com");
        assert_eq!(rule("*").to_string(), "*");
        assert_eq!(rule("*:443").to_string(), "*:443");
        assert_eq!(
            rule("https://api.example.com").to_string(),
            "api.example.com:443"
        );
        assert_eq!(
            rule("http://127.0.0.1:8089/x").to_string(),
            "127.0.0.1:8089"
        );
        for bad in [
            "",
            "host:http",
            "host:70000",
            "[::1",
            "[::1]x",
            "exa mple.com",
            "http://",
        ] {
            let error = HostRule::parse(bad).expect_err(bad);
            assert!(error.contains("is not a host"), "{error}");
        }
    }

    #[tokio::test]
    async fn names_ports_and_patterns_are_matched_as_written() {
        let explicit = [rule("api.example.com"), rule("*.cdn.example.com:443")];
        let grants = Grants::resolve(&explicit, ["http://127.0.0.1:8089"]).await;
        assert!(grants.allows("127.0.0.1", 8089));
        assert!(
            !grants.allows("127.0.0.1", 8090),
            "only the host's own port"
        );
        assert!(
            !grants.allows("localhost", 8089),
            "names are not resolved for HTTP"
        );
        assert!(
            grants.allows("API.example.com", 1),
            "any port when none is named"
        );
        assert!(grants.allows("img.cdn.example.com", 443));
        assert!(!grants.allows("img.cdn.example.com", 80));
        assert!(
            !grants.allows("cdn.example.com", 443),
            "a pattern grants names below it"
        );
        assert!(!grants.allows("evilcdn.example.com", 443));
        assert!(!grants.allows("example.com", 80));
        assert!(
            Grants::resolve(&[rule("*")], [])
                .await
                .allows("any.where", 1)
        );
    }

    #[tokio::test]
    async fn sockets_reach_granted_addresses_and_lookups_answer_granted_names_only() {
        let explicit = [rule("localhost:6379"), rule("[::1]")];
        let grants = Grants::resolve(&explicit, ["http://127.0.0.1:8089"]).await;
        let address = |text: &str| SocketAddr::from_str(text).expect("address");
        assert!(grants.allows_address(address("127.0.0.1:8089")));
        assert!(!grants.allows_address(address("127.0.0.1:8090")));
        assert!(grants.allows_address(address("[::1]:1234")));
        assert!(!grants.allows_address(address("10.0.0.1:8089")));
        // localhost resolves to a loopback address; its port alone is granted there.
        match grants.lookup_answer("LOCALHOST") {
            Some(Lookup::Known(ips)) => {
                assert!(!ips.is_empty(), "localhost resolves");
                assert!(ips.iter().all(|ip| ip.is_loopback()));
                assert!(grants.allows_address(SocketAddr::new(ips[0], 6379)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            grants.lookup_answer("example.org"),
            None,
            "not granted, not looked up"
        );
        assert_eq!(
            grants.lookup_answer("10.1.2.3"),
            Some(Lookup::Known(vec![IpAddr::from([10, 1, 2, 3])]))
        );
        let open = Grants::any();
        assert!(open.allows_address(address("10.0.0.1:1")));
        assert_eq!(
            open.lookup_answer("example.org"),
            Some(Lookup::Resolve("example.org".to_owned()))
        );
    }

    #[test]
    fn refusals_name_the_option_that_grants() {
        assert_eq!(
            Grants::refusal("127.0.0.2", 80),
            "127.0.0.2:80 is not a host this test may reach; grant it with --allow-host 127.0.0.2:80"
        );
        assert!(Grants::refusal("::1", 80).contains("--allow-host [::1]:80"));
    }
}
