#!/usr/bin/env bash
# Coverage-guided fuzzing of tandem's parsers with cargo-fuzz (libFuzzer, ASan).
#
#   bash tests/fuzz/run.sh SECONDS [TARGET...]
#
# Runs each TARGET (default: all) for SECONDS seconds, from any working directory.
# Seeds tests/fuzz/corpus/<target>/ from the fixtures first (corpus/ and artifacts/ are
# gitignored; inputs libFuzzer finds are kept there between runs). Prints one summary line
# per target and exits non-zero if any target crashed, timed out or failed to build; the
# crashing input is in tests/fuzz/artifacts/<target>/ and the full log in
# tests/fuzz/target/logs/<target>.log.
set -euo pipefail

ALL_TARGETS=(events2_line proc_drbd config drbdadm_output proxy_packet)

usage() {
    echo "usage: $0 SECONDS [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
secs=$1
shift
[[ $secs =~ ^[1-9][0-9]*$ ]] || usage
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for target in "${targets[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $target "* ]] || { echo "unknown target: $target" >&2; usage; }
done

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$fuzz_dir/../.." && pwd)
cd "$repo_root"
fixtures=tests/fixtures/drbd84
target_dir="$fuzz_dir/target"
log_dir="$target_dir/logs"

# --- tools -------------------------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
# libFuzzer and ASan need nightly flags (-Zsanitizer). Use a nightly toolchain when there is
# one; otherwise the machine's stable toolchain with RUSTC_BOOTSTRAP=1, which unlocks the
# same flags (this machine cannot fetch another toolchain).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
fi
# Same dependency versions as the main crate (the fuzz lock file itself is gitignored).
[[ -f "$fuzz_dir/Cargo.lock" ]] || cp Cargo.lock "$fuzz_dir/Cargo.lock"

# --- seed corpora ------------------------------------------------------------------------
# One file per seed, named by the SHA-1 of its content like libFuzzer's own corpus files,
# so re-seeding is idempotent.
seed() { # seed DIR < content
    local tmp sum
    tmp=$(mktemp "$1/.seed.XXXXXX")
    cat >"$tmp"
    sum=$(sha1sum "$tmp")
    mv -f "$tmp" "$1/${sum%% *}"
}

corpus="$fuzz_dir/corpus"
mkdir -p "$corpus"/{events2_line,proc_drbd,config,drbdadm_output,proxy_packet} "$log_dir"

# events2: every line of the timestamped logs, and the events2 lines in the transcripts.
cat "$fixtures"/*.log \
    | while IFS= read -r line; do printf '%s\n' "$line" | seed "$corpus/events2_line"; done
grep -hE '^(exists|create|change|destroy|call|response) ' "$fixtures"/transcript-*.txt \
    | while IFS= read -r line; do printf '%s\n' "$line" | seed "$corpus/events2_line"; done

# /proc/drbd: each `version: 8.4.11 (api…` line with the `srcversion:` and indented lines
# after it (the dumps the fixture tests parse), NUL-separated.
awk '
    /^version: 8\.4\.11 \(api/ { if (inside) printf "%c", 0; inside = 1; print; next }
    inside && (/^srcversion:/ || /^[ \t]/) { print; next }
    inside { printf "%c", 0; inside = 0 }
    END { if (inside) printf "%c", 0 }
' "$fixtures"/transcript-*.txt \
    | while IFS= read -r -d '' dump; do printf '%s' "$dump" | seed "$corpus/proc_drbd"; done

# config: the example configuration.
seed "$corpus/config" <resources/tandem.toml

# drbdadm: the role/dstate/cstate words and the failure messages in the transcripts.
grep -h '^cstate=' "$fixtures"/transcript-*.txt | tr ' ' '\n' | cut -d= -f2 \
    | while IFS= read -r word; do printf '%s\n' "$word" | seed "$corpus/drbdadm_output"; done
awk '/terminated with exit code/ { print prev; print; printf "%c", 0 } { prev = $0 }' \
    "$fixtures"/transcript-*.txt \
    | while IFS= read -r -d '' stderr; do printf '%s' "$stderr" | seed "$corpus/drbdadm_output"; done

# proxy_packet: a framed COM_QUERY and a framed OK packet.
printf '\x09\x00\x00\x00\x03SELECT 1' | seed "$corpus/proxy_packet"
printf '\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00' | seed "$corpus/proxy_packet"

for target in "${targets[@]}"; do
    echo "== seeds: $target: $(find "$corpus/$target" -type f | wc -l) corpus files"
done

# --- build and run -----------------------------------------------------------------------
echo "== building fuzz targets (${FUZZ[*]}, ASan)"
# Built up front so that compile time is not counted in the fuzzing time; a build error
# stops the script here (set -e).
for target in "${targets[@]}"; do
    "${FUZZ[@]}" build --fuzz-dir "$fuzz_dir" --target-dir "$target_dir" "$target"
done
failed=()
summaries=()
for target in "${targets[@]}"; do
    log="$log_dir/$target.log"
    echo "== fuzzing $target for ${secs}s (log: ${log#"$repo_root"/})"
    start=$(date +%s)
    status=0
    "${FUZZ[@]}" run --fuzz-dir "$fuzz_dir" --target-dir "$target_dir" "$target" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=30 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
    if [[ -z $runs ]]; then
        runs=$(sed -nE 's/^Done ([0-9]+) runs in .*/\1/p' "$log" | tail -1)
    fi
    fuzz_secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -1)
    files=$(find "$fuzz_dir/corpus/$target" -type f | wc -l)
    if [[ $status -eq 0 ]]; then
        line="$target: ok, ${runs:-?} executions in ${fuzz_secs:-$elapsed} s (wall ${elapsed} s), corpus $files files"
    else
        failed+=("$target")
        artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
        panic=$(grep -m1 -A1 "panicked at" "$log" | tr '\n' ' ' || true)
        if [[ -n $artifact ]]; then
            what="CRASH: ${panic:-$(grep -m1 'ERROR: libFuzzer' "$log" || true)} input ${artifact#"$repo_root"/}"
        elif grep -qE 'could not compile|failed to build fuzz script' "$log"; then
            what="BUILD FAILED (the crate did not compile when cargo fuzz run rebuilt it)"
        else
            what="FAILED"
        fi
        line="$target: $what (exit $status), ${runs:-?} executions in ${elapsed} s wall, see ${log#"$repo_root"/}"
        echo "---- last lines of $log"
        tail -n 60 "$log"
        echo "----"
    fi
    echo "$line"
    summaries+=("$line")
done

echo "== summary (${secs}s per target)"
printf '%s\n' "${summaries[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== FAILED: ${failed[*]} (crashing inputs are in tests/fuzz/artifacts/<target>/)" >&2
    exit 1
fi
