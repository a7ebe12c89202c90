#!/usr/bin/env bash
# VM-lab failover benchmark (root, Debian 12, after tests/vmlab/setup.sh): the active node
# loses power N times in a row (default 5, alternating nodes, each rebooted and resynced before
# the next), and each phase of the survivor's failover is printed with its median and max:
# detection (the peer timeout and DRBD's own loss, then the power status or the fence delay),
# power fence, promote (with DRBD's fence-peer call), mount, VIP, mysqld crash recovery until
# it answers, and the client's longest wait for an acknowledged write. Release binaries, as
# the package ships them. Figures, not pass/fail: TCG measures the emulator too, so compare
# runs made on the same, otherwise idle, machine. TANDEM_VMLAB_PING_TIMEOUT_MS=N runs it with
# DRBD's ping_timeout_ms at N instead of the lab's 500 (docs/operations.md, "Failover speed").
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo test --release --test vmlab -- --bench-failover "$runs" 2>&1 \
    | grep -E '^(vmlab|bench|    run|    vm-|    the lab|failover after|  [a-zA-Z(])'
