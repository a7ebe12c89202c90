//! exec/mount.rs on real loop disks in a node's mount namespace.

use crate::fixture::Lab;
use std::time::{Duration, Instant};
use tandem::exec::mount::{self, MountError, MountOutcome, MountSpec, MountState};

fn spec(lab: &Lab, device: &std::path::Path) -> MountSpec {
    MountSpec {
        device: device.to_path_buf(),
        mountpoint: lab.mountpoint(),
        fstype: "ext4".into(),
        options: "noatime".into(),
        fsck: true,
    }
}

#[test]
fn mount_monitor_and_unmount() {
    let lab = Lab::new();
    let spec = spec(&lab, &lab.a.disk);
    lab.a.run(|| async {
        assert_eq!(mount::state(&spec).unwrap(), MountState::NotMounted);
        assert_eq!(mount::mount(&spec).await.unwrap(), MountOutcome::Mounted);
        assert_eq!(mount::state(&spec).unwrap(), MountState::Mounted);
        // Mounting again adopts what is there.
        assert_eq!(
            mount::mount(&spec).await.unwrap(),
            MountOutcome::AlreadyMounted
        );
        let killed = mount::umount(&spec.mountpoint, Duration::from_millis(300))
            .await
            .unwrap();
        assert!(killed.is_empty());
        assert_eq!(mount::state(&spec).unwrap(), MountState::NotMounted);
        // Unmounting what is not mounted is done already.
        assert!(mount::umount(&spec.mountpoint, Duration::ZERO)
            .await
            .unwrap()
            .is_empty());
    });
    let mounts = lab.a.sh_ok("cat /proc/self/mounts");
    assert!(!mounts.contains(&lab.mountpoint().display().to_string()));
}

#[test]
fn another_device_at_the_mountpoint_is_refused() {
    let lab = Lab::new();
    lab.a.sh_ok(&format!(
        "mount {} {}",
        lab.b.disk.display(),
        lab.mountpoint().display()
    ));
    let spec = spec(&lab, &lab.a.disk);
    lab.a.run(|| async {
        let state = mount::state(&spec).unwrap();
        assert_eq!(
            state,
            MountState::Other {
                source: lab.b.disk.display().to_string()
            }
        );
        let err = mount::mount(&spec).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is mounted from {}, not {}; unmount it before tandem mounts there",
                lab.mountpoint().display(),
                lab.b.disk.display(),
                lab.a.disk.display()
            )
        );
    });
}

#[test]
fn a_bad_device_is_a_clear_error() {
    let lab = Lab::new();
    let mut spec = spec(&lab, std::path::Path::new("/dev/nonexistent-lab-disk"));
    spec.fsck = false;
    lab.a.run(|| async {
        let err = mount::mount(&spec).await.unwrap_err();
        assert!(matches!(err, MountError::Mount { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot mount /dev/nonexistent-lab-disk on "),
            "{err}"
        );
    });
}

#[test]
fn busy_unmount_evicts_cwd_open_file_and_mmap_holders() {
    let lab = Lab::new();
    let spec = spec(&lab, &lab.a.disk);
    let mnt = lab.mountpoint().display().to_string();
    lab.a.run(|| async { mount::mount(&spec).await.unwrap() });
    lab.a.sh_ok(&format!(
        "head -c 65536 /dev/zero > {mnt}/mapped && echo x > {mnt}/open"
    ));
    let cwd = lab
        .a
        .spawn("sh", &["-c", &format!("cd {mnt} && exec sleep 600")]);
    let open = lab.a.spawn(
        "sh",
        &["-c", &format!("exec 3<{mnt}/open; cd /; exec sleep 600")],
    );
    let mmap = lab.a.spawn(
        "python3",
        &[
            "-c",
            &format!(
                // ctypes mmap: Python's own mmap module keeps a dup of the fd open.
                "import ctypes,os,time\nos.chdir('/')\nlibc=ctypes.CDLL(None,use_errno=True)\n\
             libc.mmap.restype=ctypes.c_void_p\nfd=os.open('{mnt}/mapped',os.O_RDONLY)\n\
             p=libc.mmap(None,65536,1,1,fd,0)\nassert p not in (None,2**64-1)\nos.close(fd)\n\
             time.sleep(600)"
            ),
        ],
    );
    // A holder that ignores SIGTERM needs the SIGKILL.
    let stubborn = lab.a.spawn(
        "sh",
        &[
            "-c",
            &format!("trap '' TERM; cd {mnt}; while :; do sleep 0.05; done"),
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let killed = lab.a.run(|| async {
        mount::umount(&spec.mountpoint, Duration::from_millis(300))
            .await
            .unwrap()
    });
    let took = started.elapsed();
    let find = |pid: u32| {
        killed
            .iter()
            .find(|h| h.pid == pid as i32)
            .map(|h| (h.command.as_str(), h.how.as_str()))
    };
    assert_eq!(find(cwd.id()), Some(("sleep", "cwd")), "{killed:?}");
    assert_eq!(
        find(open.id()),
        Some(("sleep", format!("fd {mnt}/open").as_str())),
        "{killed:?}"
    );
    assert_eq!(
        find(mmap.id()),
        Some(("python3", format!("mmap {mnt}/mapped").as_str())),
        "{killed:?}"
    );
    assert_eq!(find(stubborn.id()), Some(("sh", "cwd")), "{killed:?}");
    assert!(
        took >= Duration::from_millis(300),
        "SIGKILL came before the grace period: {took:?}"
    );
    lab.a
        .run(|| async { assert_eq!(mount::state(&spec).unwrap(), MountState::NotMounted) });
    for child in [cwd, open, mmap, stubborn] {
        let mut child = child;
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}

#[test]
fn a_nested_mount_escalates_with_a_clear_error() {
    let lab = Lab::new();
    let spec = spec(&lab, &lab.a.disk);
    let mnt = lab.mountpoint().display().to_string();
    lab.a.run(|| async { mount::mount(&spec).await.unwrap() });
    lab.a.sh_ok(&format!(
        "mkdir {mnt}/nested && mount -t tmpfs tmpfs {mnt}/nested"
    ));
    lab.a.run(|| async {
        let err = mount::umount(&spec.mountpoint, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{mnt} is still busy after stopping its holders (killed: none); look for nested \
                 mounts or processes in other namespaces (`fuser -vm {mnt}`)"
            )
        );
    });
}
