#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotent; Debian 12, root) and
# runs every test layer that exists. Usage: bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, all with --no-install-recommends (drbd-utils would pull exim4 otherwise).
PACKAGES=(drbd-utils mariadb-server mariadb-client iproute2 e2fsprogs iputils-arping iputils-ping
          busybox-static util-linux procps python3)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

echo "== layers 1 and 3: unit tests, parsers on real DRBD captures, config, rendering via drbdadm,"
echo "   and the host lab (namespaces, loop disks, real mounts, MariaDB and netlink)"
cargo test --all-targets --locked
