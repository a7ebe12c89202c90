#!/usr/bin/env bash
# VM-lab setup (Debian 12, root). Idempotent: a second run checks and returns in about a second.
#
# Everything comes from the package registries:
#   - apt installs (all --no-install-recommends) of what the guests run from the shared root:
#     drbd-utils, busybox-static (virtme-ng's initramfs), MariaDB, iproute2, e2fsprogs;
#   - Debian's kernel image and qemu-system-x86 7.2, fetched with `apt-get download` and unpacked
#     with `dpkg-deb -x` into the cache, NOT installed (installing the kernel pulls udev and
#     initramfs-tools; installing qemu 7.2 would remove a newer qemu-utils through a Breaks);
#   - virtme-ng, pinned, from PyPI into a venv in the cache.
# The kernel version is whatever linux-image-amd64 points to today (apt-cache), never a
# hard-coded version that may vanish from the archive.
#
# Output: $TANDEM_VMLAB_CACHE (default /var/lib/tandem-vmlab) with lab.env, which the Rust
# harness (tests/vmlab/) and the demo (tests/lab/demo.sh) read. It lives outside the work tree,
# so a fresh clone on a machine that already has it sets up in about a second. Not under
# /var/cache or /tmp: virtme-ng hides those behind tmpfs in the guests, which run the kmod tools
# from here.
set -euo pipefail

CACHE=${TANDEM_VMLAB_CACHE:-/var/lib/tandem-vmlab}
# The version the lab was proven with; virtme-ng changes its command line between releases.
VIRTME_NG_VERSION=1.42
APT_PACKAGES=(drbd-utils busybox-static mariadb-server mariadb-client iproute2 e2fsprogs
              util-linux procps python3-venv iputils-ping)

die() {
    echo "vmlab setup: FAILED: $*" >&2
    exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # two setups at once (two checkouts) must not unpack into each other

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -q)
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        echo "== apt-get update"
        "${APT[@]}" update >/dev/null || die "apt-get update failed (no access to Debian's archive?)"
        apt_updated=1
    fi
}

# 1. Host packages the guests use through the shared root.
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    apt_update
    echo "== apt-get install --no-install-recommends ${missing[*]}"
    "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
fi

# 2. The kernel version: what linux-image-amd64 depends on today.
kernel_abi() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }'
}
KVER=$(kernel_abi)
if [ -z "$KVER" ]; then
    apt_update
    KVER=$(kernel_abi)
fi
[ -n "$KVER" ] || die "apt-cache cannot resolve linux-image-amd64 to a kernel version"

SYSROOT=$CACHE/sysroot
DEBS=$CACHE/debs
mkdir -p "$SYSROOT" "$DEBS" "$CACHE/bin"

# fetch_and_unpack STAMP PACKAGE...: apt-get download + dpkg-deb -x, once per stamp.
fetch_and_unpack() {
    local stamp=$CACHE/$1
    shift
    [ -e "$stamp" ] && return 0
    local t0
    t0=$(now)
    echo "== apt-get download $*"
    rm -f "$DEBS"/*.deb
    (cd "$DEBS" && "${APT[@]}" -o APT::Sandbox::User=root download "$@" >/dev/null) || {
        apt_update
        (cd "$DEBS" && "${APT[@]}" -o APT::Sandbox::User=root download "$@" >/dev/null) ||
            die "apt-get download $* failed: qemu or the kernel cannot be fetched"
    }
    for deb in "$DEBS"/*.deb; do
        dpkg-deb -x "$deb" "$SYSROOT" || die "dpkg-deb -x $deb failed"
    done
    rm -f "$DEBS"/*.deb
    touch "$stamp"
    echo "   fetched and unpacked in $(since "$t0") s"
}

# 3. qemu 7.2 with the libraries this host lacks (from a simulated install), and kmod
#    (depmod/modprobe: the guests load drbd.ko with it; the host has no module support).
qemu_packages() {
    {
        "${APT[@]}" -s install --no-install-recommends qemu-system-x86 kmod 2>/dev/null |
            awk '/^Inst / { print $2 }'
        printf '%s\n' qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu kmod
    } | sort -u
}
if [ ! -e "$CACHE/qemu.done" ]; then
    apt-cache policy qemu-system-x86 | grep -q 'Candidate: [0-9]' || apt_update
    mapfile -t QEMU_PKGS < <(qemu_packages)
    fetch_and_unpack qemu.done "${QEMU_PKGS[@]}"
fi
fetch_and_unpack "kernel-$KVER.done" "linux-image-$KVER"

QEMU_BIN=$SYSROOT/usr/bin/qemu-system-x86_64
cat >"$CACHE/bin/qemu-system-x86_64" <<EOF
#!/bin/sh
# qemu 7.2 unpacked from Debian's packages (tests/vmlab/setup.sh); not installed.
export LD_LIBRARY_PATH=$SYSROOT/usr/lib/x86_64-linux-gnu:$SYSROOT/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
exec $QEMU_BIN -L $SYSROOT/usr/share/qemu -L $SYSROOT/usr/share/seabios -L $SYSROOT/usr/lib/ipxe/qemu "\$@"
EOF
chmod +x "$CACHE/bin/qemu-system-x86_64"
for tool in depmod modprobe modinfo lsmod insmod rmmod; do
    ln -sfn "$SYSROOT/bin/kmod" "$CACHE/bin/$tool"
done
missing_libs=$(LD_LIBRARY_PATH=$SYSROOT/usr/lib/x86_64-linux-gnu:$SYSROOT/lib/x86_64-linux-gnu \
    ldd "$QEMU_BIN" 2>&1 | grep 'not found' || true)
[ -z "$missing_libs" ] || die "qemu lacks libraries: $missing_libs"
QEMU_VERSION=$("$CACHE/bin/qemu-system-x86_64" --version | head -1) || die "qemu does not run"

# 4. Modules: depmod, then the point of it all: the kernel must ship drbd.ko.
KERNEL=$SYSROOT/boot/vmlinuz-$KVER
MODULES=$SYSROOT/lib/modules/$KVER
[ -f "$KERNEL" ] || die "$KERNEL is missing after unpacking linux-image-$KVER"
[ -e "$MODULES/modules.dep" ] || "$CACHE/bin/depmod" -b "$SYSROOT" "$KVER"
DRBD_KO=$(find "$MODULES" -name 'drbd.ko*' -print -quit)
[ -n "$DRBD_KO" ] || die "linux-image-$KVER has no drbd.ko: the VM lab needs Debian's in-tree \
DRBD 8.4 module; pick a kernel that ships it (TANDEM_VMLAB_CACHE, apt-cache policy linux-image-amd64)"
DRBD_VERSION=$("$CACHE/bin/modinfo" -b "$SYSROOT" -k "$KVER" -F version drbd)

# 5. virtme-ng in a venv (Debian's python3, so a pyenv or conda in PATH does not matter).
VNG=$CACHE/venv/bin/vng
if ! "$VNG" --version 2>/dev/null | grep -q "$VIRTME_NG_VERSION"; then
    t0=$(now)
    echo "== pip install virtme-ng==$VIRTME_NG_VERSION (venv)"
    rm -rf "$CACHE/venv"
    /usr/bin/python3 -m venv "$CACHE/venv" || die "python3 -m venv failed"
    "$CACHE/venv/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION" ||
        die "pip install virtme-ng==$VIRTME_NG_VERSION failed"
    echo "   installed in $(since "$t0") s"
fi
"$VNG" --version >/dev/null || die "vng does not run"

# 6. A MariaDB datadir made once on the host (under 1 s here, ~19 s under TCG); the guests copy
#    it onto their DRBD filesystem instead of running mariadb-install-db.
#    Its redo log is 8 MiB (not 96) so that it fits the lab's small DRBD disks; the servers in the
#    guests must run with the same --innodb-log-file-size.
TEMPLATE=$CACHE/mariadb-template-8M
if [ ! -e "$TEMPLATE.done" ]; then
    rm -rf "$TEMPLATE"
    mariadb-install-db --no-defaults --user=mysql --datadir="$TEMPLATE" \
        --auth-root-authentication-method=socket --skip-test-db --innodb-log-file-size=8M \
        >"$CACHE/mariadb-install-db.log" 2>&1 ||
        die "mariadb-install-db failed; see $CACHE/mariadb-install-db.log"
    touch "$TEMPLATE.done"
fi

# KEY='value' lines: sourced by the demo, read by the Rust harness (tests/vmlab/env.rs).
{
    printf "KVER='%s'\n" "$KVER"
    printf "KERNEL='%s'\n" "$KERNEL"
    printf "MODULES='%s'\n" "$MODULES"
    printf "DRBD_KO='%s'\n" "$DRBD_KO"
    printf "DRBD_VERSION='%s'\n" "$DRBD_VERSION"
    printf "QEMU='%s'\n" "$CACHE/bin/qemu-system-x86_64"
    printf "QEMU_VERSION='%s'\n" "$QEMU_VERSION"
    printf "VNG='%s'\n" "$VNG"
    printf "BUSYBOX='%s'\n" /bin/busybox
    printf "TOOLS='%s'\n" "$CACHE/bin"
    printf "MARIADB_TEMPLATE='%s'\n" "$TEMPLATE"
    printf "MARIADB_LOG_FILE_SIZE='%s'\n" 8M
} >"$CACHE/lab.env.tmp"
mv "$CACHE/lab.env.tmp" "$CACHE/lab.env"
echo "vmlab setup: ready in $(since "$T_START") s: kernel $KVER (drbd $DRBD_VERSION), $QEMU_VERSION, \
virtme-ng $VIRTME_NG_VERSION; cache $CACHE"
