//! Benchmark, not a test: `bash tests/bench-hostlab.sh` runs it. Over 20 moves between the
//! nodes in shared-disk mode it prints the median and maximum of each start step (to ready),
//! each stop step, and the longest gap a client writing every 10 ms through the VIP sees.

use crate::chain::{self, StepTimes};
use crate::client;
use crate::fixture::{Lab, VIP};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const RUNS: usize = 20;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} median {:>7.1} ms   max {:>7.1} ms   (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

#[test]
#[ignore = "benchmark: run with tests/bench-hostlab.sh"]
fn bench_local_resources_and_move_gap() {
    let lab = Lab::new();
    let cfg = lab.config();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let (mut server, _) = chain::start(&lab, &lab.a);
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));
    let (mut starts, mut stops, mut gaps) = (Vec::<StepTimes>::new(), Vec::new(), Vec::new());
    let mut acked = 0;
    let mut last_id = 0;
    let mut on_a = true;
    for _ in 0..RUNS {
        let stop_flag = AtomicBool::new(false);
        let (from, to) = if on_a {
            (&lab.a, &lab.b)
        } else {
            (&lab.b, &lab.a)
        };
        let current = server;
        let (log, next) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                lab.client
                    .run(|| client::write_until(&stop_flag, VIP, last_id))
            });
            std::thread::sleep(Duration::from_millis(200));
            stops.push(chain::stop(&lab, from, current));
            let (next, times) = chain::start(&lab, to);
            starts.push(times);
            std::thread::sleep(Duration::from_millis(200));
            stop_flag.store(true, Ordering::SeqCst);
            (writer.join().unwrap(), next)
        });
        server = next;
        last_id = log.last_id;
        gaps.push(log.longest_gap);
        acked += log.acked.len();
        on_a = !on_a;
    }
    println!("host lab, shared-disk mode, {RUNS} moves, {acked} acknowledged writes:");
    summary("start: mount", starts.iter().map(|t| t.mount).collect());
    summary(
        "start: mysqld to ready",
        starts.iter().map(|t| t.mysqld).collect(),
    );
    summary(
        "start: VIP (probe + GARPs)",
        starts.iter().map(|t| t.vip).collect(),
    );
    summary("stop: VIP", stops.iter().map(|t| t.vip).collect());
    summary("stop: mysqld", stops.iter().map(|t| t.mysqld).collect());
    summary("stop: umount", stops.iter().map(|t| t.mount).collect());
    summary("client write gap per move", gaps);
    let current = if on_a { &lab.a } else { &lab.b };
    chain::stop(&lab, current, server);
}
