//! The fixture itself: isolation, and cleanup that leaves nothing behind.

use crate::fixture::{host, Lab, SUBNET};

#[test]
fn nodes_reach_each_other_only_inside_the_lab() {
    let lab = Lab::new();
    lab.client.sh_ok(&format!(
        "ping -c1 -W2 {SUBNET}.1 && ping -c1 -W2 {SUBNET}.2"
    ));
    // The lab subnet does not exist in the host's namespace.
    let routes = host("ip -4 addr show");
    assert!(!routes.contains(SUBNET), "{routes}");
    // Threads that enter a node see lan0 and the node's address only.
    let addrs = lab
        .a
        .run(|| async { std::fs::read_to_string("/proc/thread-self/net/fib_trie").unwrap() });
    assert!(addrs.contains(&format!("{SUBNET}.1")));
    assert!(!addrs.contains(&format!("{SUBNET}.2\n")));
}

#[test]
fn each_node_has_its_own_mounts() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    let mnt = lab.mountpoint();
    let mounts_a = lab.a.sh_ok("cat /proc/self/mounts");
    let mounts_b = lab.b.sh_ok("cat /proc/self/mounts");
    let needle = format!(" {} ext4", mnt.display());
    assert!(mounts_a.contains(&needle), "{mounts_a}");
    assert!(!mounts_b.contains(&needle), "{mounts_b}");
    assert!(!host("cat /proc/self/mounts").contains(&needle));
    assert!(lab
        .a
        .sh_ok(&format!("ls {}/data", mnt.display()))
        .contains("mysql"));
}

/// The state a lab leaves on the host: namespaces, loop devices, mounts and processes.
fn traces(id: &str, dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    for ns in host("ip netns list").lines() {
        if ns.starts_with(id) {
            found.push(format!("netns {ns}"));
        }
    }
    for line in host("losetup -a").lines() {
        if line.contains(dir) {
            found.push(format!("loop {line}"));
        }
    }
    for line in host("cat /proc/self/mountinfo").lines() {
        if line.contains(dir) {
            found.push(format!("mount {line}"));
        }
    }
    found
}

#[test]
fn cleanup_leaves_nothing_even_after_a_failed_test() {
    let mut remembered = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new();
        lab.mount_shared(&lab.a);
        lab.mount_shared(&lab.b);
        let sleeper = lab.a.spawn(
            "sh",
            &[
                "-c",
                &format!("cd {} && exec sleep 600", lab.mountpoint().display()),
            ],
        );
        let dir = lab.dir.display().to_string();
        remembered = Some((lab.id.clone(), dir.clone(), sleeper));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!traces(&lab.id, &dir).is_empty());
        panic!("deliberate failure inside a lab");
    }));
    assert!(result.is_err());
    let (id, dir, mut sleeper) = remembered.unwrap();
    assert_eq!(traces(&id, &dir), Vec::<String>::new());
    // Killed by the lab's cleanup: it has already exited, by SIGKILL.
    let status = sleeper.try_wait().unwrap().or_else(|| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        sleeper.try_wait().unwrap()
    });
    let status = status.expect("the process survived the lab");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(!std::path::Path::new(&dir).exists());
}
