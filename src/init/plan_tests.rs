use super::*;

fn key(existing: Option<(u32, u64)>, from: Option<&str>, same: bool) -> KeyFacts {
    KeyFacts {
        existing,
        key_from: from.map(PathBuf::from),
        same_as_key_from: same,
    }
}

#[test]
fn peer_key_is_generated_copied_fixed_or_kept() {
    assert_eq!(
        peer_key(&key(None, None, false)),
        Verdict::Do(Action::GenerateKey)
    );
    assert_eq!(
        peer_key(&key(None, Some("/root/k"), false)),
        Verdict::Do(Action::CopyKey("/root/k".into()))
    );
    assert_eq!(
        peer_key(&key(Some((0o644, 32)), None, false)),
        Verdict::Do(Action::ChmodKey)
    );
    assert!(matches!(
        peer_key(&key(Some((0o600, 32)), None, false)),
        Verdict::AlreadyDone(_)
    ));
    assert!(matches!(
        peer_key(&key(Some((0o600, 32)), Some("/root/k"), true)),
        Verdict::AlreadyDone(_)
    ));
    assert!(matches!(
        peer_key(&key(Some((0o600, 32)), Some("/root/k"), false)),
        Verdict::Refuse(_)
    ));
    assert!(matches!(
        peer_key(&key(Some((0o600, 8)), None, false)),
        Verdict::Refuse(_)
    ));
}

#[test]
fn resource_file_is_written_unless_equal() {
    assert!(matches!(
        resource_file("a", Some("a")),
        Verdict::AlreadyDone(_)
    ));
    assert_eq!(
        resource_file("a", Some("b")),
        Verdict::Do(Action::WriteResourceFile)
    );
    assert_eq!(
        resource_file("a", None),
        Verdict::Do(Action::WriteResourceFile)
    );
}

fn disk(up: bool, metadata: bool, kinds: &[&str]) -> DiskFacts {
    DiskFacts {
        disk: "/dev/vdb".into(),
        up,
        metadata,
        signatures: kinds
            .iter()
            .map(|kind| Signature {
                kind: kind.to_string(),
                offset: "0x438".into(),
                label: String::new(),
            })
            .collect(),
    }
}

#[test]
fn metadata_never_overwrites_data_unless_the_disk_is_named() {
    assert!(matches!(
        metadata(&disk(true, false, &[]), None),
        Verdict::AlreadyDone(_)
    ));
    assert!(matches!(
        metadata(&disk(false, true, &["ext4"]), None),
        Verdict::AlreadyDone(_)
    ));
    assert_eq!(
        metadata(&disk(false, false, &[]), None),
        Verdict::Do(Action::CreateMetadata)
    );
    let Verdict::Refuse(why) = metadata(&disk(false, false, &["ext4"]), None) else {
        panic!("data must be refused");
    };
    assert!(
        why.contains("/dev/vdb holds data: ext4 at offset 0x438"),
        "{why}"
    );
    assert!(why.ends_with("--force-data /dev/vdb"), "{why}");
    let Verdict::Refuse(why) = metadata(&disk(false, false, &["gpt"]), Some(Path::new("/dev/sdb")))
    else {
        panic!("another disk named must be refused");
    };
    assert!(why.contains("--force-data names /dev/sdb"), "{why}");
    assert_eq!(
        metadata(&disk(false, false, &["gpt"]), Some(Path::new("/dev/vdb"))),
        Verdict::Do(Action::EraseThenCreateMetadata)
    );
}

#[test]
fn up_adjusts_only_a_changed_file() {
    assert_eq!(up(false, false), Verdict::Do(Action::Up));
    assert_eq!(up(true, true), Verdict::Do(Action::Adjust));
    assert!(matches!(up(true, false), Verdict::AlreadyDone(_)));
}

fn service(systemd: bool, enabled: bool, active: bool, missing: bool) -> ServiceFacts {
    ServiceFacts {
        unit: "mariadb".into(),
        systemd,
        enabled,
        active,
        missing,
    }
}

#[test]
fn distribution_service_is_disabled_under_systemd_only() {
    let Verdict::Skip(why) = distribution_service(&service(false, false, false, false)) else {
        panic!("no systemd: skipped");
    };
    assert!(why.contains("update-rc.d mariadb disable"), "{why}");
    assert!(matches!(
        distribution_service(&service(true, false, false, true)),
        Verdict::AlreadyDone(_)
    ));
    assert_eq!(
        distribution_service(&service(true, true, false, false)),
        Verdict::Do(Action::DisableService)
    );
    assert_eq!(
        distribution_service(&service(true, false, true, false)),
        Verdict::Do(Action::DisableService)
    );
    assert!(matches!(
        distribution_service(&service(true, false, false, false)),
        Verdict::AlreadyDone(_)
    ));
}

fn drbd(disk: DiskState, peer_disk: DiskState, connection: ConnectionState) -> DrbdFacts {
    DrbdFacts {
        role: Role::Secondary,
        disk,
        peer_disk,
        connection,
    }
}

#[test]
fn initial_sync_skips_only_two_connected_blank_disks() {
    use ConnectionState::{Connected, Connecting};
    use DiskState::{DUnknown, Inconsistent, Outdated, UpToDate};
    let both_new = drbd(Inconsistent, Inconsistent, Connected);
    assert_eq!(
        initial_sync(&both_new, true),
        Verdict::Do(Action::ClearBitmap)
    );
    assert_eq!(
        initial_sync(&both_new, false),
        Verdict::Do(Action::ForcePrimary)
    );
    let alone = drbd(Inconsistent, DUnknown, Connecting);
    assert!(matches!(initial_sync(&alone, true), Verdict::Refuse(_)));
    assert_eq!(
        initial_sync(&alone, false),
        Verdict::Do(Action::ForcePrimary)
    );
    let peer_has_data = drbd(Inconsistent, UpToDate, Connected);
    assert!(matches!(
        initial_sync(&peer_has_data, false),
        Verdict::Refuse(_)
    ));
    let done = drbd(UpToDate, Inconsistent, Connected);
    assert!(matches!(initial_sync(&done, true), Verdict::AlreadyDone(_)));
    let odd = drbd(Outdated, UpToDate, Connected);
    assert!(matches!(initial_sync(&odd, false), Verdict::Refuse(_)));
}

#[test]
fn filesystem_is_made_once_and_never_replaced() {
    assert_eq!(filesystem(None, "ext4"), Verdict::Do(Action::Mkfs));
    assert!(matches!(
        filesystem(Some("ext4"), "ext4"),
        Verdict::AlreadyDone(_)
    ));
    assert!(matches!(
        filesystem(Some("xfs"), "ext4"),
        Verdict::Refuse(_)
    ));
}

fn datadir_facts(initialized: bool, other: usize, from: Option<&str>) -> DatadirFacts {
    DatadirFacts {
        initialized,
        other_entries: other,
        move_from: from.map(PathBuf::from),
        source_initialized: true,
        server_running: false,
    }
}

#[test]
fn datadir_is_created_or_moved_into_an_empty_place() {
    assert!(matches!(
        datadir(&datadir_facts(true, 5, None)),
        Verdict::AlreadyDone(_)
    ));
    assert_eq!(
        datadir(&datadir_facts(false, 0, None)),
        Verdict::Do(Action::InstallDb)
    );
    assert!(matches!(
        datadir(&datadir_facts(false, 2, None)),
        Verdict::Refuse(_)
    ));
    let from = Some("/var/lib/mysql");
    assert_eq!(
        datadir(&datadir_facts(false, 0, from)),
        Verdict::Do(Action::MoveDatadir("/var/lib/mysql".into()))
    );
    let mut running = datadir_facts(false, 0, from);
    running.server_running = true;
    assert!(matches!(datadir(&running), Verdict::Refuse(_)));
    let mut not_a_datadir = datadir_facts(false, 0, from);
    not_a_datadir.source_initialized = false;
    assert!(matches!(datadir(&not_a_datadir), Verdict::Refuse(_)));
}
