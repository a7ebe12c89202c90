#!/bin/sh
# The VM lab's power fence, in the role fence_xvm plays for KVM clusters: tandemd runs it in a
# guest (engine.power_fence_command) to have the OTHER guest powered off. A guest cannot reach
# the host, so it asks the lab harness through its 9p-shared directory and waits for the answer:
#   guest writes  DIR/fence.request   (its content does not matter)
#   host  writes  DIR/fence.done      ("0" once the peer's qemu is gone for good, else a reason)
# Usage: power-fence.sh RUN_DIR   (the lab's run directory; DIR is RUN_DIR/$(uname -n))
# Shell builtins where it can: every process started under TCG costs tens of ms, and this
# script is on the failover's critical path (only `sleep` runs as a process, while waiting).
set -eu
read -r host </proc/sys/kernel/hostname
dir=$1/$host
[ -d "$dir" ] || { echo "power-fence: $dir is not this guest's lab directory" >&2; exit 1; }
# A stale answer from an earlier fence must not be taken for this one's.
[ ! -e "$dir/fence.done" ] || rm -f "$dir/fence.done"
: >"$dir/fence.request"
# The harness's fence service answers within 10 ms of seeing the request (the 9p share adds
# its own latency); 30 s without an answer is a failed fence.
i=0
while [ ! -e "$dir/fence.done" ]; do
    i=$((i + 1))
    [ "$i" -lt 1500 ] || { echo "power-fence: no answer from the lab harness in 30 s" >&2; exit 1; }
    sleep 0.02
done
read -r answer <"$dir/fence.done" || :
[ "$answer" = 0 ] || { echo "power-fence: $answer" >&2; exit 1; }
echo "power-fence: the peer is powered off"
