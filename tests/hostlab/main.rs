//! Host lab: real kernel mounts, real MariaDB and real netlink, in network and mount
//! namespaces that each test creates and removes (see fixture.rs). Needs root.

mod bench;
mod bench_engine;
mod bench_replica;
mod chain;
mod client;
mod deploy;
mod engine;
mod failover;
mod fixture;
mod lab;
mod mount;
mod mysqld;
mod observe;
mod pause;
mod proxy;
mod replica;
mod replica_failover;
mod replica_promote;
mod replica_rejoin;
mod replica_seed;
mod vip;
