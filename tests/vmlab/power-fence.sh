#!/bin/sh
# The VM lab's power fence, in the role fence_xvm plays for KVM clusters: tandemd runs it in a
# guest (engine.power_fence_command) to have the OTHER guest powered off. A guest cannot reach
# the host, so it asks the lab harness through its 9p-shared directory and waits for the answer:
#   guest writes  DIR/fence.request   (its content does not matter)
#   host  writes  DIR/fence.done      ("0" once the peer's qemu is gone for good, else a reason)
# Usage: power-fence.sh RUN_DIR          (the lab's run directory; DIR is RUN_DIR/$(uname -n))
#        power-fence.sh RUN_DIR status   (engine.power_status_command: is the OTHER guest's
#                                         qemu running? exit 0 on, 2 off, 1 no answer; the
#                                         fence agents' status convention)
# Shell builtins where it can: every process started under TCG costs tens of ms, and this
# script is on the failover's critical path (only `sleep` runs as a process, while waiting).
set -eu
read -r host </proc/sys/kernel/hostname
dir=$1/$host
[ -d "$dir" ] || { echo "power-fence: $dir is not this guest's lab directory" >&2; exit 1; }
# Creates DIR/$1. Over the 9p share a create right after the host removed or renamed a file
# in DIR has failed with ENOENT (a stale directory entry in the guest); it succeeds when
# retried. `true`, not `:`: a failed redirection on a special builtin ends the script.
request() {
    j=0
    until true 2>/dev/null >"$dir/$1"; do
        j=$((j + 1))
        [ "$j" -lt 50 ] || { echo "power-fence: cannot create $dir/$1" >&2; exit 1; }
        sleep 0.02
    done
}
# Asks the harness: removes a stale DIR/$1.done, writes DIR/$1.request, and waits at most $2
# seconds for DIR/$1.done (polled every 20 ms), whose first line it leaves in $answer.
ask() {
    [ ! -e "$dir/$1.done" ] || rm -f "$dir/$1.done"
    request "$1.request"
    i=0
    while [ ! -e "$dir/$1.done" ]; do
        i=$((i + 1))
        [ "$i" -lt $(($2 * 50)) ] || { echo "power-$1: no answer from the lab harness in $2 s" >&2; exit 1; }
        sleep 0.02
    done
    read -r answer <"$dir/$1.done" || :
}
if [ "${2:-}" = status ]; then
    ask status 5
    case $answer in
        on) echo "power-status: the peer is on"; exit 0 ;;
        off) echo "power-status: the peer is off"; exit 2 ;;
        *) echo "power-status: $answer" >&2; exit 1 ;;
    esac
fi
# The harness's fence service answers within 10 ms of seeing the request (the 9p share adds
# its own latency); 30 s without an answer is a failed fence.
ask fence 30
[ "$answer" = 0 ] || { echo "power-fence: $answer" >&2; exit 1; }
echo "power-fence: the peer is powered off"
