#!/usr/bin/env bash
# The proxy's benchmark in the host lab (root, Debian 12). Figures, not pass/fail: sysbench
# oltp_read_write (single primary) and oltp_read_only (two replicas) straight to the VIP,
# through HAProxy in TCP mode (the baseline) and through a release build of tandem proxy;
# transactions/s, p50/p99 latency, and each proxy's own CPU time per query (µs of user+system
# time of its process, from /proc/PID/stat, over the queries sysbench reports).
# Options: --rounds N  rounds of runs (default 3);
#          --cpu       one round and no strace run: the CPU-per-query figures alone, quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
strace=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --cpu) rounds=1; strace=0; shift ;;
        *) echo "usage: $0 [--rounds N] [--cpu]" >&2; exit 2 ;;
    esac
done
if ! command -v haproxy >/dev/null; then
    apt-get install -y --no-install-recommends haproxy >/dev/null
fi
cargo build --release --bin tandem
target=${CARGO_TARGET_DIR:-$PWD/target}
no_strace=()
if [ "$strace" = 0 ]; then
    no_strace=(TANDEM_BENCH_NO_STRACE=1)
fi
env "${no_strace[@]}" TANDEM_BENCH_ROUNDS="$rounds" TANDEM_PROXY_BIN="$target/release/tandem" \
    TANDEM_SKIP_VMLAB=1 \
    cargo test --test hostlab bench_proxy -- --ignored --nocapture --test-threads=1 \
    2>&1 | grep -E '^(proxy benchmark|  oltp_|  tandem proxy (under|idle)|    [a-z_]+ +[0-9])'
