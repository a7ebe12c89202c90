#!/bin/sh
# The VM lab's power fence, in the role fence_xvm plays for KVM clusters: tandemd runs it in a
# guest (engine.power_fence_command) to have the OTHER guest powered off. A guest cannot reach
# the host, so it asks the lab harness through its 9p-shared directory and waits for the answer:
#   guest writes  DIR/fence.request   (atomically; the time of asking)
#   host  writes  DIR/fence.done      ("0" once the peer's qemu is gone for good, else a reason)
# Usage: power-fence.sh RUN_DIR   (the lab's run directory; DIR is RUN_DIR/$(uname -n))
set -eu
dir=$1/$(uname -n)
[ -d "$dir" ] || { echo "power-fence: $dir is not this guest's lab directory" >&2; exit 1; }
rm -f "$dir/fence.done"
date +%s.%N >"$dir/fence.request.tmp" && mv "$dir/fence.request.tmp" "$dir/fence.request"
# The harness answers within its poll interval; 30 s without an answer is a failed fence.
i=0
while [ ! -e "$dir/fence.done" ]; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || { echo "power-fence: no answer from the lab harness in 30 s" >&2; exit 1; }
    sleep 0.1
done
answer=$(cat "$dir/fence.done")
rm -f "$dir/fence.done"
[ "$answer" = 0 ] || { echo "power-fence: $answer" >&2; exit 1; }
echo "power-fence: the peer is powered off"
