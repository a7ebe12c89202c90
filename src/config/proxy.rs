//! `[proxy]`: `tandem proxy`'s listener, limits and routing rules (docs/proxy.md). The
//! primary is the VIP from `[vip]`; the replicas are the `[[replica]]` entries.

use super::model::{unplaced, Config};
use super::validate::Checker;
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// The listener refuses clients beyond this many at once by default: each holds up to three
/// backend connections (the primary and a replica, plus the health poll's one per replica).
const DEFAULT_MAX_CONNECTIONS: u32 = 500;
/// More clients than this would take more backend connections than MariaDB's own limit
/// (`max_connections` tops out at 100000).
const MAX_MAX_CONNECTIONS: u32 = 50_000;
/// A replica further behind than this serves no reads by default.
const DEFAULT_MAX_LAG_S: u64 = 5;
/// A lag bound above an hour is no bound: reads would be an hour stale.
const MAX_MAX_LAG_S: u64 = 3_600;
/// Each statement is matched against every rule: a long table slows every query.
const MAX_RULES: usize = 100;
/// A pair has two tandemd; more endpoints would be the same nodes counted twice.
const MAX_TANDEMD_ENDPOINTS: usize = 2;
/// A compiled rule larger than this (bytes of regex program) is refused.
pub const MAX_RULE_REGEX_BYTES: usize = 256 * 1024;

/// `[proxy]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// `host:port` the proxy listens on for MySQL clients, e.g. "0.0.0.0:3307".
    pub listen: Spanned<String>,
    /// The account the proxy reads `mysql.global_priv` on the primary with (`user = …`,
    /// `password = …`, mode 0600); it needs SELECT on mysql.global_priv. The same file's
    /// account also polls the replicas if their own credentials_file fails.
    pub credentials_file: Spanned<PathBuf>,
    /// The port of MariaDB on the VIP.
    #[serde(default = "default_primary_port")]
    pub primary_port: Spanned<u16>,
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u32>,
    /// A replica whose Seconds_Behind_Master is above this serves no reads until it is back.
    #[serde(default = "default_max_lag_s")]
    pub max_lag_s: Spanned<u64>,
    /// Each node's tandemd metrics endpoint (its `[metrics] listen`, `host:port`): the proxy
    /// reads which node is active, refuses new sessions at once with the reason while none
    /// is, and logs a change of primary. Absent: the proxy only follows the VIP.
    #[serde(default)]
    pub tandemd_metrics: Option<Spanned<Vec<String>>>,
    /// `host:port` of the proxy's own `GET /metrics` (sessions, statements by target,
    /// sessions that lost their primary, replica drains); absent: no listener.
    #[serde(default)]
    pub metrics_listen: Option<Spanned<String>>,
    /// The rule table, first match wins: `[[proxy.rule]] pattern = "…" route = "primary"`.
    #[serde(default)]
    pub rule: Vec<ProxyRule>,
}

/// One `[[proxy.rule]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRule {
    /// A regular expression (Rust regex syntax) matched against the statement text.
    pub pattern: Spanned<String>,
    /// "primary" or "replica"; a replica rule routes only plain reads outside transactions.
    pub route: Spanned<String>,
}

fn default_primary_port() -> Spanned<u16> {
    unplaced(3306)
}
fn default_max_connections() -> Spanned<u32> {
    unplaced(DEFAULT_MAX_CONNECTIONS)
}
fn default_max_lag_s() -> Spanned<u64> {
    unplaced(DEFAULT_MAX_LAG_S)
}

/// Compiles one rule's pattern within the size bound.
pub fn compile_rule(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_RULE_REGEX_BYTES)
        .build()
}

impl Checker<'_> {
    /// `[proxy]`.
    pub(super) fn proxy(&mut self, config: &Config) {
        let Some(proxy) = &config.proxy else {
            return;
        };
        let listen = &proxy.listen;
        if listen.get_ref().parse::<std::net::SocketAddr>().is_err() {
            self.refuse(
                listen.span(),
                format!(
                    "listen = \"{}\" is not an address and port; use e.g. \"0.0.0.0:3307\"",
                    listen.get_ref()
                ),
            );
        }
        let file = &proxy.credentials_file;
        if !file.get_ref().is_absolute() {
            self.refuse(
                file.span(),
                format!(
                    "credentials_file \"{}\" must be an absolute path, e.g. \
                     \"/etc/tandem/proxy.cred\"",
                    file.get_ref().display()
                ),
            );
        }
        let max = &proxy.max_connections;
        if !(1..=MAX_MAX_CONNECTIONS).contains(max.get_ref()) {
            self.refuse(
                max.span(),
                format!(
                    "max_connections = {} is outside 1..={MAX_MAX_CONNECTIONS}",
                    max.get_ref()
                ),
            );
        }
        let lag = &proxy.max_lag_s;
        if *lag.get_ref() > MAX_MAX_LAG_S {
            self.refuse(
                lag.span(),
                format!(
                    "max_lag_s = {} is above {MAX_MAX_LAG_S}; reads that stale are no read \
                     scaling, send them to the primary instead",
                    lag.get_ref()
                ),
            );
        }
        if let Some(metrics) = &proxy.metrics_listen {
            if metrics.get_ref().parse::<std::net::SocketAddr>().is_err() {
                self.refuse(
                    metrics.span(),
                    format!(
                        "metrics_listen = \"{}\" is not an address and port; use e.g. \
                         \"127.0.0.1:9943\"",
                        metrics.get_ref()
                    ),
                );
            }
        }
        self.proxy_tandemd(proxy);
        self.proxy_rules(config, proxy);
    }

    fn proxy_tandemd(&mut self, proxy: &Proxy) {
        let Some(endpoints) = &proxy.tandemd_metrics else {
            return;
        };
        let list = endpoints.get_ref();
        if list.is_empty() || list.len() > MAX_TANDEMD_ENDPOINTS {
            self.refuse(
                endpoints.span(),
                format!(
                    "tandemd_metrics lists {} endpoints; list each node's [metrics] listen \
                     once (1 or {MAX_TANDEMD_ENDPOINTS}), or leave the key out",
                    list.len()
                ),
            );
        }
        for endpoint in list {
            if endpoint.parse::<std::net::SocketAddr>().is_err() {
                self.refuse(
                    endpoints.span(),
                    format!(
                        "tandemd_metrics entry \"{endpoint}\" is not an address and port; use \
                         a node's [metrics] listen, e.g. \"10.0.0.1:9942\""
                    ),
                );
            }
        }
    }

    fn proxy_rules(&mut self, config: &Config, proxy: &Proxy) {
        if let Some(extra) = proxy.rule.get(MAX_RULES) {
            self.refuse(
                extra.pattern.span(),
                format!("[[proxy.rule]]: more than {MAX_RULES} rules; merge some"),
            );
        }
        for rule in &proxy.rule {
            if let Err(e) = compile_rule(rule.pattern.get_ref()) {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("").trim().to_string();
                self.refuse(
                    rule.pattern.span(),
                    format!("pattern is not a valid regular expression: {first}"),
                );
            }
            match rule.route.get_ref().as_str() {
                "primary" => {}
                "replica" if config.replica.is_empty() => self.refuse(
                    rule.route.span(),
                    "route = \"replica\" but no [[replica]] is configured; add one or route \
                     to \"primary\""
                        .to_string(),
                ),
                "replica" => {}
                other => self.refuse(
                    rule.route.span(),
                    format!("route = \"{other}\" is not valid; use \"primary\" or \"replica\""),
                ),
            }
        }
    }
}
