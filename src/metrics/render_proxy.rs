//! `tandem proxy`'s own series (its `[proxy] metrics_listen`), rendered like tandemd's:
//! sessions, statements by where they went, sessions that lost their primary, logins
//! refused, the replicas' health and drains, and the primary tandemd says serves.

use super::render::{flag, Builder, Labels};

/// What the proxy counted, copied out at one instant (counters since it started).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxySample {
    pub sessions_open: u64,
    pub sessions_total: u64,
    /// Logins refused: wrong password, no active node, the primary unreachable.
    pub logins_refused: u64,
    /// COM_QUERY statements answered by the primary and by a replica.
    pub statements_primary: u64,
    pub statements_replica: u64,
    /// Sessions whose primary failed or stopped serving (they fail one statement, go on).
    pub primary_lost: u64,
    /// Each replica: its name, whether it serves reads, and how often it was drained.
    pub replicas: Vec<(String, bool, u64)>,
    /// The node tandemd says serves; `None` when unknown or nobody serves.
    pub primary: Option<String>,
    /// tandemd says nobody serves: new clients are refused.
    pub no_active_node: bool,
}

/// The sample as OpenMetrics text, ending in `# EOF`.
pub fn render_proxy(s: &ProxySample) -> Result<String, std::fmt::Error> {
    let mut b = Builder::new();
    let none: Labels = Vec::new();
    b.gauge(
        "proxy_sessions",
        "Client sessions open",
        &[(none.clone(), s.sessions_open as f64)],
    );
    b.counter(
        "proxy_sessions_admitted",
        "Client sessions admitted",
        &[(none.clone(), s.sessions_total)],
    );
    b.counter(
        "proxy_logins_refused",
        "Logins refused (wrong password, no active node, primary unreachable)",
        &[(none.clone(), s.logins_refused)],
    );
    let target = |t: &str| vec![("target", t.to_string())];
    b.counter(
        "proxy_statements",
        "Statements (COM_QUERY) answered, by where they ran",
        &[
            (target("primary"), s.statements_primary),
            (target("replica"), s.statements_replica),
        ],
    );
    b.counter(
        "proxy_primary_lost",
        "Sessions whose primary failed or stopped serving",
        &[(none.clone(), s.primary_lost)],
    );
    let replica = |name: &String| vec![("replica", name.clone())];
    let healthy: Vec<(Labels, f64)> = s
        .replicas
        .iter()
        .map(|(n, up, _)| (replica(n), flag(*up)))
        .collect();
    b.gauge(
        "proxy_replica_serving",
        "1 while the replica serves reads",
        &healthy,
    );
    let drains: Vec<(Labels, u64)> = s
        .replicas
        .iter()
        .map(|(n, _, d)| (replica(n), *d))
        .collect();
    b.counter(
        "proxy_replica_drains",
        "Times the replica was drained",
        &drains,
    );
    let primary: Vec<(Labels, f64)> = s
        .primary
        .iter()
        .map(|node| (vec![("node", node.clone())], 1.0))
        .collect();
    b.gauge(
        "proxy_primary_info",
        "The node tandemd says serves, value 1",
        &primary,
    );
    b.gauge(
        "proxy_no_active_node",
        "1 while tandemd says nobody serves (new clients are refused)",
        &[(none, flag(s.no_active_node))],
    );
    b.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_series_render_with_their_labels() {
        let sample = ProxySample {
            sessions_open: 3,
            sessions_total: 9,
            statements_primary: 40,
            statements_replica: 60,
            primary_lost: 2,
            replicas: vec![("r1".into(), true, 0), ("r2".into(), false, 1)],
            primary: Some("b".into()),
            ..ProxySample::default()
        };
        let text = render_proxy(&sample).unwrap();
        for line in [
            "tandem_proxy_sessions 3",
            "tandem_proxy_sessions_admitted_total 9",
            "tandem_proxy_statements_total{target=\"replica\"} 60",
            "tandem_proxy_primary_lost_total 2",
            "tandem_proxy_replica_serving{replica=\"r2\"} 0",
            "tandem_proxy_replica_drains_total{replica=\"r2\"} 1",
            "tandem_proxy_primary_info{node=\"b\"} 1",
            "tandem_proxy_no_active_node 0",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{line} missing:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
