#!/usr/bin/env bash
# Replica benchmark in the host lab (root, Debian 12, MariaDB 10.11). Figures, not pass/fail:
#  - replica lag under a steady write load: Seconds_Behind_Master and the GTID distance to
#    the source, sampled every 250 ms for 10 s, median and max per replica;
#  - the time each of two replicas needs to follow 5 switchovers and 5 power losses of the
#    active node: from the new primary's first write to that GTID applied on the replica.
# A debug build: the figures are MariaDB's and the kernel's (tandem is not on the replication
# path), and it shares the build with the host-lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test hostlab bench_replicas -- --ignored --nocapture --test-threads=1 \
    2>&1 | sed -E 's/^test [a-z_:]+ \.\.\. //' \
    | grep -E '^(replica lag|a replica follows|  (r[0-9]|\(the fault))'
