//! `tandem drbd render`: the rendered DRBD resource must be accepted by the real drbd-utils
//! (`drbdadm -c FILE dump` and `drbdadm -c FILE -d up`), for every protocol and every
//! after-split-brain policy. drbd-utils runs on the host without the kernel module.

use std::path::Path;
use tandem::check::DRBD_VERSION_WITHOUT_MODULE;
use tandem::config::{render, AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Config, Protocol};
use tandem::exec::{drbdadm::Drbdadm, host};

const EXAMPLE: &str = include_str!("../resources/tandem.toml");
const RENDERED_EXAMPLE: &str = include_str!("../resources/r0.res");

/// The example config with node db-a renamed to this host, so that `-d up` finds itself.
fn config_with(extra: &[(&str, String)]) -> (Config, String) {
    let me = host::node_name().unwrap();
    let mut text = EXAMPLE.replacen("name = \"db-a\"", &format!("name = \"{me}\""), 1);
    for (from, to) in extra {
        assert!(text.contains(from), "example has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    (config, me)
}

/// Runs drbdadm dump and dry-run up on the rendered file; returns the dump.
async fn accepted_by_drbdadm(config: &Config) -> String {
    let rendered = render::drbd_resource(config, "test.toml").unwrap();
    let file = host::temp_file_with(&rendered).unwrap();
    let mut drbdadm = Drbdadm::new(config.drbd_resource().unwrap());
    drbdadm.config_file = Some(file.path().to_path_buf());
    drbdadm.env.push((
        "DRBD_DRIVER_VERSION_OVERRIDE".into(),
        DRBD_VERSION_WITHOUT_MODULE.into(),
    ));
    let dump = match drbdadm.run(&["dump"]).await {
        Ok(dump) => dump,
        Err(e) => panic!("drbdadm dump refused:\n{rendered}\n{e}"),
    };
    if let Err(e) = drbdadm.run(&["-d", "up"]).await {
        panic!("drbdadm -d up refused:\n{rendered}\n{e}");
    }
    dump
}

/// drbdadm dump aligns values in columns; compare with whitespace collapsed.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn every_protocol_is_accepted() {
    for protocol in Protocol::WORDS {
        let (config, _) =
            config_with(&[("protocol = \"C\"", format!("protocol = \"{protocol}\""))]);
        let dump = squeeze(&accepted_by_drbdadm(&config).await);
        assert!(dump.contains(&format!("protocol {protocol};")), "{dump}");
        assert!(dump.contains("fencing resource-only;"), "{dump}");
    }
}

#[tokio::test]
async fn every_after_sb_policy_is_accepted() {
    let (_, me) = config_with(&[]);
    let mut zero: Vec<String> = AfterSb0Pri::WORDS
        .iter()
        .filter(|w| !w.ends_with("NAME"))
        .map(|w| w.to_string())
        .collect();
    zero.push(format!("discard-node-{me}"));
    zero.push("discard-node-db-b".into());
    let cases = [
        ("after_sb_0pri = \"disconnect\"", "after-sb-0pri", zero),
        (
            "after_sb_1pri = \"disconnect\"",
            "after-sb-1pri",
            AfterSb1Pri::WORDS.iter().map(|w| w.to_string()).collect(),
        ),
        (
            "after_sb_2pri = \"disconnect\"",
            "after-sb-2pri",
            AfterSb2Pri::WORDS.iter().map(|w| w.to_string()).collect(),
        ),
    ];
    for (line, drbd_key, policies) in cases {
        for policy in policies {
            let key = line.split(' ').next().unwrap();
            // consensus and violently-as0p apply after-sb-0pri's choice: give them one.
            let zero = (
                "after_sb_0pri = \"disconnect\"",
                "after_sb_0pri = \"discard-zero-changes\"".to_string(),
            );
            let mut edits = vec![(line, format!("{key} = \"{policy}\""))];
            if drbd_key != "after-sb-0pri" {
                edits.push(zero);
            }
            let (config, _) = config_with(&edits);
            let dump = squeeze(&accepted_by_drbdadm(&config).await);
            assert!(dump.contains(&format!("{drbd_key} {policy};")), "{dump}");
        }
    }
}

#[tokio::test]
async fn handlers_point_at_the_kernel_helper_shim() {
    let (config, _) = config_with(&[]);
    let dump = squeeze(&accepted_by_drbdadm(&config).await);
    for handler in render::HANDLERS {
        let expected =
            format!("{handler} \"/usr/lib/tandem/kernel-helpers/tandem-kernel-helper {handler}\";");
        assert!(dump.contains(&expected), "{expected} not in {dump}");
    }
    let shim = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("kernel-helpers")
        .join(render::HELPER_SHIM);
    assert!(
        host::find_program(&shim).is_some(),
        "{} is not executable",
        shim.display()
    );
}

#[test]
fn the_shipped_rendered_example_is_current() {
    let config = Config::parse(EXAMPLE, Path::new("resources/tandem.toml")).unwrap();
    let rendered = render::drbd_resource(&config, "resources/tandem.toml").unwrap();
    if std::env::var_os("TANDEM_BLESS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("resources/r0.res");
        std::fs::write(path, &rendered).unwrap();
        return;
    }
    assert_eq!(
        rendered, RENDERED_EXAMPLE,
        "resources/r0.res is stale; run TANDEM_BLESS=1 cargo test --test render"
    );
}

#[tokio::test]
async fn a_power_fence_renders_resource_and_stonith() {
    let (config, _) = config_with(&[
        ("fencing = \"resource-only\"", String::new()),
        (
            "[timings]",
            "[engine]\npower_fence_command = [\"/usr/sbin/fence_ipmilan\"]\n\n[timings]".into(),
        ),
    ]);
    let dump = squeeze(&accepted_by_drbdadm(&config).await);
    assert!(dump.contains("fencing resource-and-stonith;"), "{dump}");
}
