#!/usr/bin/env bash
# The proxy's benchmark in the host lab (root, Debian 12). Figures, not pass/fail: sysbench
# oltp_read_write (single primary) and oltp_read_only (two replicas) straight to the VIP,
# through HAProxy in TCP mode (the baseline) and through a release build of tandem proxy;
# transactions/s and p50/p99 latency.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null; then
    apt-get install -y --no-install-recommends haproxy >/dev/null
fi
cargo build --release --bin tandem
TANDEM_PROXY_BIN=$PWD/target/release/tandem TANDEM_SKIP_VMLAB=1 \
    cargo test --test hostlab bench_proxy -- --ignored --nocapture --test-threads=1 \
    2>&1 | grep -E '^(proxy benchmark|  oltp_|  tandem proxy under|    [a-z_]+ +[0-9])'
