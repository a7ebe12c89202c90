#!/usr/bin/env bash
# Host-lab benchmark (root, Debian 12): prints median and max over 20 moves of each local
# resource step and of the client's write gap. Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test hostlab bench_local_resources_and_move_gap -- --ignored --nocapture \
    2>&1 | grep -E '^(host lab|start|stop|client)'
