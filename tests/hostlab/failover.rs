//! The whole local sequence in shared-disk mode, for real: a client writes through the VIP
//! while node a stops (VIP → mysqld → umount) and node b starts (mount → mysqld → VIP). Every
//! write the client saw acknowledged must be on disk afterwards.

use crate::chain;
use crate::client;
use crate::fixture::{Lab, VIP};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_to_b_move_keeps_every_acknowledged_write() {
    let lab = Lab::new();
    let cfg = lab.config();
    lab.mount_shared(&lab.a); // puts the datadir on the shared disk once
    lab.umount(&lab.a);
    let (server_a, _) = chain::start(&lab, &lab.a);
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));
    let stop = AtomicBool::new(false);
    let (log, server_b) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        std::thread::sleep(Duration::from_millis(500));
        chain::stop(&lab, &lab.a, server_a);
        let (server_b, _) = chain::start(&lab, &lab.b);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), server_b)
    });
    let stored = lab.b.run(|| client::stored_ids(&cfg.settings.mysqld));
    let missing: Vec<u64> = log
        .acked
        .iter()
        .copied()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    println!(
        "a→b move: {} writes acknowledged, {} failed or timed out, longest gap {} ms",
        log.acked.len(),
        log.failed,
        log.longest_gap.as_millis()
    );
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Writes went through on both sides of the move.
    assert!(log.acked.len() > 20, "{log:?}");
    let neighbours = lab.client.sh_ok(&format!("ip neigh show {VIP}"));
    // /sys shows the host's view; ask the node's own namespace.
    let b_link = lab.b.sh_ok("ip -br link show lan0");
    let b_mac = b_link.split_whitespace().nth(2).unwrap().to_string();
    assert!(
        neighbours.contains(&b_mac),
        "client still points at {neighbours}, not b {b_mac}"
    );
    chain::stop(&lab, &lab.b, server_b);
}
