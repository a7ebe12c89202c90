//! The only code that touches the host: one file per tool or kernel interface. Everything
//! here returns `Result`s with typed errors; decisions are taken elsewhere.

pub mod arp;
pub mod backup;
pub mod blkid;
pub mod copy_tree;
pub mod dmesg;
pub mod drbdadm;
pub mod drbdmeta;
pub mod events2;
pub mod fence;
pub mod holders;
pub mod hook;
pub mod host;
pub mod journal;
pub mod mariadb_backup;
pub mod mariadb_install_db;
pub mod metrics_http;
pub mod mkfs;
pub mod mount;
pub mod mysqld;
pub mod notify;
pub mod replica;
pub mod replica_admin;
pub mod seed_target;
pub mod systemctl;
pub mod tool;
pub mod usermode_helper;
pub mod vip;
pub mod wipefs;
