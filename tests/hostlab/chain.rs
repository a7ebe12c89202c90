//! The local start and stop sequences on real parts, as the engine will run them: start is
//! mount → mysqld → VIP, stop is the reverse. Shared-disk storage: the storage step is a no-op.
//! Each step's duration is returned for the benchmark.

use crate::fixture::{Lab, LabNode};
use std::time::{Duration, Instant};
use tandem::exec::mount::{self, MountSpec};
use tandem::exec::mysqld::MysqldProcess;
use tandem::exec::vip;

/// Grace before holders of a busy mount get SIGKILL.
const UMOUNT_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Default, Clone, Copy)]
pub struct StepTimes {
    pub mount: Duration,
    pub mysqld: Duration,
    pub vip: Duration,
}

/// Starts mount → mysqld → VIP on `node`; returns the running server and the step times.
pub fn start(lab: &Lab, node: &LabNode) -> (MysqldProcess, StepTimes) {
    let config = lab.config();
    node.run(|| async {
        let mut times = StepTimes::default();
        let t = Instant::now();
        mount::mount(&MountSpec::from_config(&config))
            .await
            .unwrap();
        times.mount = t.elapsed();
        let t = Instant::now();
        let server = MysqldProcess::start(&config.settings.mysqld).await.unwrap();
        times.mysqld = t.elapsed();
        let t = Instant::now();
        vip::add(&config.settings.vip).await.unwrap();
        times.vip = t.elapsed();
        (server, times)
    })
}

/// Stops VIP → mysqld → mount on `node`.
pub fn stop(lab: &Lab, node: &LabNode, server: MysqldProcess) -> StepTimes {
    let config = lab.config();
    node.run(|| async {
        let mut times = StepTimes::default();
        let t = Instant::now();
        vip::remove(&config.settings.vip).await.unwrap();
        times.vip = t.elapsed();
        let t = Instant::now();
        let report = server.stop().await.unwrap();
        assert!(report.exit.is_clean(), "{report:?}");
        times.mysqld = t.elapsed();
        let t = Instant::now();
        let killed = mount::umount(&config.settings.filesystem.mountpoint, UMOUNT_GRACE)
            .await
            .unwrap();
        assert!(killed.is_empty(), "unexpected holders: {killed:?}");
        times.mount = t.elapsed();
        times
    })
}
