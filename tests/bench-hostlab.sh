#!/usr/bin/env bash
# Host-lab benchmarks (root, Debian 12). Figures, not pass/fail:
#  - local resources: median and max over 20 moves of each start/stop step and of a client's
#    write gap (shared-disk mode, no daemon);
#  - the engine: two tandemd, switchover write gap and tandem's own overhead, unplanned
#    failover split into phases, the daemon's RSS and idle CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test hostlab bench_ -- --ignored --nocapture --test-threads=1 \
    2>&1 | sed -E 's/^test [a-z_:]+ \.\.\. //' \
    | grep -E '^(host lab|start|stop|client|switchover|tandemd|unplanned|  detection|the last|  +[0-9])'
