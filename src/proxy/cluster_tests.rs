//! tandemd's metrics read back into views, and the verdicts the proxy acts on.

use super::*;
use crate::metrics::{render, to_classic_text, DecisionSample, Snapshot};

/// Captured on node a after a switchover to b (docs/operations.md, host lab).
const STANDBY_A: &str = r#"tandem_peer_heard{node="a",peer="b"} 1.0
tandem_decision_info{node="a",mode="Standby",reason="no action: b is active; standby here"} 1.0
tandem_decision_timestamp_seconds{node="a"} 1796320207.67
tandem_service_up{node="a",service="Vip"} 0.0
tandem_service_up{node="a",service="Primary"} 0.0
tandem_service_up{node="a",service="Mount"} 0.0
tandem_service_up{node="a",service="Mysqld"} 0.0
tandem_vip_present{node="a"} 0.0
"#;

/// What tandemd's own renderer makes of a node in `mode` with `reason` and these layers.
fn rendered(node: &str, mode: &str, reason: &str, layers: &[bool]) -> String {
    let snapshot = Snapshot {
        node: node.to_string(),
        peer: "other".to_string(),
        decision: DecisionSample {
            reason: reason.to_string(),
            mode: mode.to_string(),
            since_unix_ms: 1,
        },
        services: ["Primary", "Mount", "Mysqld", "Vip"]
            .iter()
            .zip(layers)
            .map(|(layer, up)| (layer.to_string(), *up))
            .collect(),
        ..Snapshot::default()
    };
    render(&snapshot).unwrap()
}

fn view(node: &str, mode: &str, serving: bool) -> Reading {
    Reading {
        endpoint: format!("{node}:9942"),
        view: Ok(NodeView {
            node: node.to_string(),
            mode: mode.to_string(),
            reason: format!("{node}'s sentence"),
            serving,
        }),
    }
}

fn silent(endpoint: &str) -> Reading {
    Reading {
        endpoint: endpoint.to_string(),
        view: Err("connection refused".to_string()),
    }
}

#[test]
fn a_captured_standby_node_is_read_as_not_serving() {
    let view = parse_metrics(STANDBY_A).unwrap();
    assert_eq!(view.node, "a");
    assert_eq!(view.mode, "Standby");
    assert_eq!(view.reason, "no action: b is active; standby here");
    assert!(!view.serving);
}

#[test]
fn tandemds_own_rendering_reads_back_in_both_formats_with_escapes() {
    let reason = r#"promote: "mysqld" starting \ step 3"#;
    let open = rendered("b", "Promoting", reason, &[true, true, false, false]);
    for text in [open.clone(), to_classic_text(&open)] {
        let view = parse_metrics(&text).unwrap();
        assert_eq!(view.node, "b");
        assert_eq!(view.mode, "Promoting");
        assert_eq!(view.reason, reason, "{text}");
        assert!(!view.serving);
    }
    let active = rendered("b", "Active", "no action: active here", &[true; 4]);
    assert!(parse_metrics(&active).unwrap().serving);
    let nothing = rendered("b", "Starting", "starting", &[]);
    assert!(
        !parse_metrics(&nothing).unwrap().serving,
        "no layers is not up"
    );
}

#[test]
fn answers_that_are_not_tandemds_metrics_are_refused() {
    assert_eq!(parse_metrics("up 1\n"), Err(ScrapeError::NoDecision));
    assert_eq!(http_body(b"garbage"), Err(ScrapeError::NotHttp));
    assert_eq!(
        http_body(b"HTTP/1.1 404 Not Found\r\n\r\nonly /metrics is here\n"),
        Err(ScrapeError::Status {
            status: "404 Not Found".to_string()
        })
    );
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody";
    assert_eq!(http_body(ok), Ok(&b"body"[..]));
    for broken in [
        "tandem_decision_info{node=\"a",
        "tandem_decision_info{node=\"a\\",
        "tandem_decision_info{node}",
        "{",
        "tandem_service_up{",
    ] {
        assert_eq!(
            parse_metrics(broken),
            Err(ScrapeError::NoDecision),
            "{broken}"
        );
    }
}

#[test]
fn the_one_serving_node_is_the_primary_even_with_the_other_silent() {
    let verdict = decide(&[silent("10.0.0.1:9942"), view("b", "Active", true)]);
    assert_eq!(
        verdict,
        Primary::Active {
            node: "b".to_string()
        }
    );
    let paused_serving = decide(&[view("a", "Paused", true), view("b", "Paused", false)]);
    assert_eq!(
        paused_serving,
        Primary::Active {
            node: "a".to_string()
        }
    );
}

#[test]
fn a_move_in_progress_refuses_new_sessions_and_says_why() {
    let verdict = decide(&[silent("10.0.0.1:9942"), view("b", "Fencing", false)]);
    assert_eq!(
        verdict,
        Primary::None {
            sentence: "no active node: tandemd at 10.0.0.1:9942 did not answer (connection \
                       refused); tandemd on b says Fencing: b's sentence"
                .to_string()
        }
    );
    let switching = decide(&[view("a", "Demoting", false), view("b", "Standby", false)]);
    assert!(matches!(switching, Primary::None { .. }), "{switching:?}");
}

#[test]
fn both_heard_and_neither_serving_refuses_but_a_silent_node_proves_nothing() {
    let idle = decide(&[view("a", "Paused", false), view("b", "Standby", false)]);
    assert!(matches!(idle, Primary::None { .. }), "{idle:?}");
    // a may serve well and only its metrics be unreachable: try the VIP.
    let partial = decide(&[silent("10.0.0.1:9942"), view("b", "Standby", false)]);
    assert_eq!(partial, Primary::Unknown);
    // One endpoint listed, idle: the other node may serve.
    assert_eq!(decide(&[view("b", "Standby", false)]), Primary::Unknown);
    assert_eq!(decide(&[]), Primary::Unknown);
    assert_eq!(decide(&[silent("a:1"), silent("b:1")]), Primary::Unknown);
}

#[test]
fn two_serving_nodes_refuse_new_sessions() {
    let verdict = decide(&[view("a", "Active", true), view("b", "Active", true)]);
    assert_eq!(
        verdict,
        Primary::None {
            sentence: "two nodes say they serve (a, b): refusing until one stops".to_string()
        }
    );
}

#[test]
fn a_session_loses_its_primary_when_nobody_or_another_node_serves() {
    let active = |node: &str| Primary::Active {
        node: node.to_string(),
    };
    assert_eq!(lost(Some("a"), &active("a")), None);
    assert_eq!(
        lost(Some("a"), &Primary::Unknown),
        None,
        "a silent tandemd proves nothing"
    );
    assert_eq!(
        lost(Some("a"), &active("b")),
        Some("the primary moved from a to b".to_string())
    );
    let none = Primary::None {
        sentence: "no active node: …".to_string(),
    };
    assert_eq!(
        lost(Some("a"), &none),
        Some("no active node: …".to_string())
    );
    assert_eq!(lost(None, &none), Some("no active node: …".to_string()));
    assert_eq!(
        lost(None, &active("b")),
        None,
        "not known to be another node"
    );
}
