#!/usr/bin/env bash
# The README's demo command (Debian 12, root): brings up the two-node VM lab — two qemu guests
# with Debian's kernel and its real DRBD 8.4 module — and shows, step by step, what the cluster
# does and how each node's tandem sees it. Installs what it needs first (idempotent), then
# runs the demo part of the VM-lab harness (tests/vmlab/demo.rs). The guests are powered off
# at the end; transcripts stay under target/tmp/vmlab/.
#   bash tests/lab/demo.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || {
    echo "demo: cargo is not installed; install Rust (https://rustup.rs) and run again" >&2
    exit 1
}
bash tests/vmlab/setup.sh
echo "== building tandem and the VM-lab harness"
cargo build --locked --quiet --tests --bins
exec cargo test --locked --quiet --test vmlab -- --demo
