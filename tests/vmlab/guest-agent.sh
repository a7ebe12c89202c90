#!/bin/sh
# The VM lab's only way into a guest. virtme-ng runs it as the guest's command (`vng -e`); when
# it exits, the guest powers off.
#
# Usage (inside the guest): guest-agent.sh DIR NODE TOKEN TOOLS
#   DIR    a directory shared read-write with the host over 9p (the same path on both sides)
#   NODE   the host name this guest must have (virtme-ng --name)
#   TOKEN  the lab instance's token, which must be on the kernel command line
#   TOOLS  a directory to put first in PATH (the lab's kmod tools)
#
# Protocol, all through DIR:
#   host writes  req/SEQ-TIMEOUT.sh   (atomically: written elsewhere, then renamed); SEQ grows
#   agent writes res/SEQ.out and res/SEQ.err, then res/SEQ.rc (the exit code, one write)
#   host reads the three files once res/SEQ.rc holds a number, then removes them and the request
#   agent writes ready (the boot id) once it serves, refused (a reason) if it will not
#   host writes  poweroff              the agent exits and the guest powers off
# A request runs under `timeout`, so a hung command cannot wedge the agent; exit code 124 or 137
# then tells the host it was killed. Every exec costs ~40 ms under TCG, so the loop itself runs
# none but a static busybox sleep, and polls fast only right after a request.
set -u
DIR=$1 NODE=$2 TOKEN=$3 TOOLS=$4
export PATH="$TOOLS:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/root LANG=C LC_ALL=C

# Refuse to serve anywhere but in the lab guest it was started for: the host has neither this
# kernel command line token nor this host name.
case " $(cat /proc/cmdline) " in
*" tandem_vmlab=$TOKEN "*) ;;
*)
    echo "not a tandem VM-lab guest of lab $TOKEN (kernel command line)" >"$DIR/refused"
    exit 1
    ;;
esac
if [ "$(uname -n)" != "$NODE" ]; then
    echo "host name is $(uname -n), not $NODE" >"$DIR/refused"
    exit 1
fi

mkdir -p "$DIR/req" "$DIR/res"
cat /proc/sys/kernel/random/boot_id >"$DIR/ready.tmp" && mv "$DIR/ready.tmp" "$DIR/ready"

last=0 idle=0
while [ ! -e "$DIR/poweroff" ]; do
    idle=$((idle + 1))
    for request in "$DIR"/req/*.sh; do
        [ -e "$request" ] || continue
        name=${request##*/}
        name=${name%.sh}
        seq=${name%%-*}
        limit=${name#*-}
        [ "$seq" -gt "$last" ] || continue
        last=$seq idle=0
        timeout -k 2 "$limit" sh "$request" >"$DIR/res/$seq.out" 2>"$DIR/res/$seq.err" </dev/null
        echo $? >"$DIR/res/$seq.rc"
    done
    if [ "$idle" -lt 100 ]; then busybox sleep 0.02; else busybox sleep 0.2; fi
done
sync
