//! exec/vip.rs against real rtnetlink and real ARP, inside the lab's network namespaces.
//! Timings are printed (run with `--nocapture`), and asserted only where the behaviour is
//! the point: the client must follow a moved VIP within about a second.

use crate::fixture::{Lab, LabNode, VIP};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tandem::config::{VipAddress, VipSettings};
use tandem::exec::arp::MacAddr;
use tandem::exec::vip::{self, AddOutcome, RemoveOutcome, VipError};

/// How long the client may take to learn the VIP's new MAC. A gratuitous ARP lands in
/// ~50 ms; without one the old entry lives 30 s or more.
const FOLLOW_WITHIN: Duration = Duration::from_secs(1);
/// How often the client's neighbour table is read while waiting.
const POLL_EVERY: Duration = Duration::from_millis(10);

fn vip_ip() -> Ipv4Addr {
    VIP.parse().expect("the lab VIP is an IPv4 address")
}

/// The MAC of a node's lan0, as `ip link` prints it.
fn mac_of(node: &LabNode) -> MacAddr {
    let out = node.sh_ok("ip -o link show lan0");
    let text = out
        .split_whitespace()
        .skip_while(|word| *word != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no link/ether in {out}"));
    text.parse().expect("ip prints MACs")
}

/// The MAC the client's neighbour table holds for the VIP, if any.
fn client_neighbour(lab: &Lab) -> Option<MacAddr> {
    let out = lab.client.sh_ok(&format!("ip neigh show {VIP} dev lan0"));
    let mut words = out.split_whitespace().skip_while(|word| *word != "lladdr");
    words.nth(1).map(|mac| mac.parse().expect("ip prints MACs"))
}

/// Polls the client's neighbour table until it maps the VIP to `mac`; how long that took.
fn client_follows(lab: &Lab, mac: MacAddr) -> Duration {
    let start = Instant::now();
    while client_neighbour(lab) != Some(mac) {
        assert!(
            start.elapsed() < FOLLOW_WITHIN,
            "the client still maps {VIP} to {:?}, not {mac}",
            client_neighbour(lab)
        );
        std::thread::sleep(POLL_EVERY);
    }
    start.elapsed()
}

fn ping_vip(lab: &Lab) {
    lab.client.sh_ok(&format!("ping -c1 -W2 {VIP}"));
}

#[test]
fn add_makes_the_vip_reachable_at_the_nodes_mac() {
    let lab = Lab::new();
    let config = lab.config().settings.vip;
    let mac_a = mac_of(&lab.a);
    let (report, took, again) = lab.a.run(|| async {
        assert!(!vip::present(&config).await.expect("present"));
        let start = Instant::now();
        let report = vip::add(&config).await.expect("add");
        let took = start.elapsed();
        assert!(vip::present(&config).await.expect("present"));
        // A restarted daemon adopts the address it finds.
        let again = vip::add(&config).await.expect("add again");
        (report, took, again)
    });
    eprintln!("vip add (probe + add + 2 GARPs 20 ms apart): {took:?}: {report}");
    assert_eq!(report.outcome, AddOutcome::Added);
    assert_eq!(report.mac, mac_a);
    assert_eq!(report.gratuitous_arps_sent, 2);
    assert_eq!(again.outcome, AddOutcome::AlreadyPresent);
    assert!(again
        .to_string()
        .contains("already present on lan0; adopted"));
    let labelled = lab.a.sh_ok("ip -4 -o addr show label lan0:tandem");
    assert!(labelled.contains(&format!("{VIP}/24")), "{labelled}");
    ping_vip(&lab);
    assert_eq!(client_neighbour(&lab), Some(mac_a));
}

#[test]
fn a_moved_vip_is_followed_by_the_client_thanks_to_gratuitous_arps() {
    let lab = Lab::new();
    let config = lab.config().settings.vip;
    let (mac_a, mac_b) = (mac_of(&lab.a), mac_of(&lab.b));
    lab.a
        .run(|| async { vip::add(&config).await.expect("add on a") });
    // The client must know the VIP already: with arp_accept=0 (the default) a gratuitous
    // ARP only updates an existing entry, it never creates one.
    ping_vip(&lab);
    assert_eq!(client_neighbour(&lab), Some(mac_a));

    let (removed, remove_took) = lab.a.run(|| async {
        let start = Instant::now();
        let removed = vip::remove(&config).await.expect("remove on a");
        (removed, start.elapsed())
    });
    assert_eq!(removed.outcome, RemoveOutcome::Removed);
    let (added, add_took) = lab.b.run(|| async {
        let start = Instant::now();
        let added = vip::add(&config).await.expect("add on b");
        (added, start.elapsed())
    });
    assert_eq!(added.outcome, AddOutcome::Added);
    let followed = client_follows(&lab, mac_b);
    eprintln!(
        "vip move a→b: remove {remove_took:?}, add on b {add_took:?}, \
         client followed {followed:?} after add returned"
    );
    ping_vip(&lab);

    // The control: moved back without an announcement, the client keeps b's MAC...
    lab.b
        .run(|| async { vip::remove(&config).await.expect("remove on b") });
    lab.a.sh_ok(&format!("ip addr add {VIP}/24 dev lan0"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(client_neighbour(&lab), Some(mac_b));
    // ...until the gratuitous ARPs go out.
    let sent = lab
        .a
        .run(|| async { vip::send_gratuitous_arps(&config).await.expect("garp") });
    assert_eq!(sent, 2);
    let followed = client_follows(&lab, mac_a);
    eprintln!("vip re-announced on a: client followed {followed:?} after the GARPs");
    ping_vip(&lab);
}

#[test]
fn a_vip_held_by_another_host_is_refused_naming_its_mac() {
    let lab = Lab::new();
    let config = lab.config().settings.vip;
    let mac_b = mac_of(&lab.b);
    lab.b.sh_ok(&format!("ip addr add {VIP}/24 dev lan0"));
    let (probed, added, present, took) = lab.a.run(|| async {
        let start = Instant::now();
        let probed = vip::probe(&config).await;
        let took = start.elapsed();
        let added = vip::add(&config).await;
        let present = vip::present(&config).await.expect("present");
        (probed, added, present, took)
    });
    eprintln!("vip conflict found by the probe in {took:?}");
    for refused in [probed.err(), added.err()] {
        match refused {
            Some(VipError::Conflict { ip, mac }) => assert_eq!((ip, mac), (vip_ip(), mac_b)),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    let sentence = VipError::Conflict {
        ip: vip_ip(),
        mac: mac_b,
    }
    .to_string();
    assert_eq!(
        sentence,
        format!("refused: {VIP} is already answered for by {mac_b}; another host holds the VIP")
    );
    assert!(!present, "a refused add must leave the host untouched");
}

#[test]
fn unusable_interfaces_and_ipv6_vips_are_refused_not_skipped() {
    let lab = Lab::new();
    let config = lab.config().settings.vip;
    let on = |interface: &str| VipSettings {
        interface: interface.into(),
        ..config.clone()
    };
    let (missing, loopback, down) = (on("nosuch0"), on("lo"), on("down0"));
    // A veth pair left down, inside the node's namespace.
    lab.a.sh_ok("ip link add down0 type veth peer name down1");
    let ipv6 = VipSettings {
        address: VipAddress {
            ip: IpAddr::V6("fd00::100".parse().expect("an IPv6 address")),
            prefix_len: 64,
        },
        ..config.clone()
    };
    let (errors, others) = lab.a.run(|| async {
        let errors = [
            vip::probe(&missing).await.err(),
            vip::add(&missing).await.err(),
            vip::remove(&missing).await.err(),
            vip::present(&missing).await.err(),
            vip::send_gratuitous_arps(&missing).await.err(),
        ];
        let others = [
            vip::add(&loopback).await.err(),
            vip::add(&down).await.err(),
            vip::add(&ipv6).await.err(),
        ];
        (errors, others)
    });
    for error in errors {
        match error {
            Some(VipError::NoSuchInterface { interface }) => assert_eq!(interface, "nosuch0"),
            other => panic!("expected NoSuchInterface, got {other:?}"),
        }
    }
    let sentence = VipError::NoSuchInterface {
        interface: "nosuch0".into(),
    }
    .to_string();
    assert!(sentence.starts_with("refused: there is no interface \"nosuch0\""));
    let [on_loopback, on_down, with_ipv6] = others;
    assert!(
        matches!(on_loopback, Some(VipError::NotEthernet { .. })),
        "{on_loopback:?}"
    );
    assert!(
        matches!(on_down, Some(VipError::InterfaceDown { .. })),
        "{on_down:?}"
    );
    assert!(
        matches!(with_ipv6, Some(VipError::Ipv6Unsupported { .. })),
        "{with_ipv6:?}"
    );
    let untouched = lab.a.sh_ok("ip -o addr show");
    assert!(!untouched.contains(VIP), "{untouched}");
}

#[test]
fn remove_reports_an_absent_vip_and_removes_any_prefix() {
    let lab = Lab::new();
    let config = lab.config().settings.vip;
    // An operator's hand-made /32 is removed too: this node must stop answering for the VIP.
    lab.a.sh_ok(&format!("ip addr add {VIP}/32 dev lan0"));
    let (present_before, removed, absent, present_after) = lab.a.run(|| async {
        let present_before = vip::present(&config).await.expect("present");
        let removed = vip::remove(&config).await.expect("remove");
        let absent = vip::remove(&config).await.expect("remove when absent");
        (
            present_before,
            removed,
            absent,
            vip::present(&config).await.expect("present"),
        )
    });
    assert!(present_before && !present_after);
    assert_eq!(removed.outcome, RemoveOutcome::Removed);
    assert_eq!(absent.outcome, RemoveOutcome::AlreadyAbsent);
    assert_eq!(
        absent.to_string(),
        format!("{VIP} was already absent from lan0")
    );
    let left = lab.a.sh_ok("ip -4 -o addr show dev lan0");
    assert!(!left.contains(VIP), "{left}");
}
