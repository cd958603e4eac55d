# Shared by scripts/bootstrap, scripts/unpack-qsd and scripts/test:
# identifying a qemu-storage-daemon build, Debian's archive, the header
# cache.  Sourced, not run; the caller sets `prog` (its name in messages).
#
# The cache ($LIVEMERGE_CACHE, default /var/cache/livemerge) holds, per
# daemon build, qemu-<Debian version>/ (":" of the epoch as "_": QEMU's
# configure refuses colons in paths) with
#   fetch/ build/        the QEMU source and its generated headers
#   ready                the daemon's GNU build-id once the headers exist
#   meson-options        the -D options that build the plugin against them
# and by-build-id/<build-id> -> that directory; unpacked daemons
# (scripts/unpack-qsd) live in qsd-<Debian version>/root/.

cache=${LIVEMERGE_CACHE:-/var/cache/livemerge}
system_qsd=/usr/bin/qemu-storage-daemon
multiarch=x86_64-linux-gnu
# The suite of the other QEMU this Debian release can run
backports_suite=bookworm-backports
# Where the Debian packaging of an upstream series comes from when the
# daemon's own source package is not on the mirror (backports keep only
# the binaries of their latest build): the release the backport was
# built from.
donor_suites="trixie trixie-updates trixie-security"

log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "'$*' needs root; run as root"
    fi
}

apt_updated=
apt_update() {
    [ -n "$apt_updated" ] && return
    as_root apt-get update -q >&2
    apt_updated=1
}

# The mirror the system's own bookworm entry uses
bookworm_mirror() {
    apt-get indextargets --format '$(SITE)' 'Release: bookworm' \
        'Target-Of: deb' 2>/dev/null | head -1
}

# deb-src for Debian's archive (apt-get source), and bookworm-backports
# (deb + deb-src; apt pins backports below the release, so nothing is
# upgraded to it unless asked with -t bookworm-backports)
ensure_apt_sources() {
    local mirror changed=
    if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list \
             /etc/apt/sources.list.d/; then
        log "adding a deb-src entry for Debian's archive"
        as_root tee /etc/apt/sources.list.d/livemerge-deb-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        changed=1
    fi
    if ! apt-get indextargets --format '$(RELEASE)' 2>/dev/null |
            grep -qx "$backports_suite"; then
        mirror=$(bookworm_mirror)
        mirror=${mirror:-http://deb.debian.org/debian}
        log "adding $backports_suite (deb, deb-src) from $mirror"
        as_root tee /etc/apt/sources.list.d/livemerge-backports.sources >/dev/null <<EOF
Types: deb deb-src
URIs: $mirror
Suites: $backports_suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        changed=1
    fi
    if [ -n "$changed" ]; then
        apt_updated=
        apt_update
    fi
}

# "10.0.2" from "1:10.0.2+ds-2+deb13u1~bpo12+1"
upstream_of() {
    local v=${1#*:}
    v=${v%-*}
    printf '%s\n' "${v%%+*}"
}

# "10.0" from "10.0.2"
series_of() {
    printf '%s\n' "$1" | cut -d. -f1,2
}

elf_build_id() {
    readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: *//p' | head -1
}

# Identify the daemon at $1: sets qsd_path, qsd_build_id, qsd_version
# (the Debian version of its build), qsd_upstream, qsd_series,
# qsd_package (the package owning it, empty for an unpacked daemon).
identify_daemon() {
    local banner owner
    qsd_path=$(readlink -f -- "$1") || die "daemon '$1' not found"
    [ -x "$qsd_path" ] || die "daemon '$1' is not an executable"
    qsd_build_id=$(elf_build_id "$qsd_path")
    [ -n "$qsd_build_id" ] || die "daemon '$1' has no GNU build-id"
    # "qemu-storage-daemon version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)"
    banner=$(QEMU_MODULE_DIR=/nonexistent "$qsd_path" --version 2>/dev/null |
                 head -1) || true
    qsd_package=
    if owner=$(dpkg -S "$qsd_path" 2>/dev/null); then
        # From QEMU 8.0 on the daemon is in qemu-utils, before in
        # qemu-system-common: ask, do not assume
        qsd_package=${owner%%:*}
        qsd_version=$(dpkg-query -W -f='${Version}' "$qsd_package")
    else
        # An unpacked daemon: its --version names its Debian build
        qsd_version=$(printf '%s\n' "$banner" | sed -n 's/.*(Debian \([^)]*\)).*/\1/p')
        [ -n "$qsd_version" ] ||
            die "daemon '$1' does not name its Debian build in --version ('$banner')"
    fi
    qsd_upstream=$(printf '%s\n' "$banner" | sed -n 's/.* version \([0-9][0-9.]*\).*/\1/p')
    qsd_upstream=${qsd_upstream:-$(upstream_of "$qsd_version")}
    qsd_series=$(series_of "$qsd_upstream")
}

# The cache directory of the daemon identify_daemon found
daemon_cache_dir() {
    printf '%s/qemu-%s\n' "$cache" "${qsd_version//:/_}"
}

# The QEMU series this source tree supports (filter/qemu-series)
supported_series() {
    grep -vE '^[[:space:]]*(#|$)' "$top/filter/qemu-series"
}

is_supported_series() {
    supported_series | grep -qxF "$1"
}

# The meson build directory for the daemon identify_daemon found: build/
# for the system's daemon, build/qemu-<build-id>/ for any other
build_dir_for_daemon() {
    if [ "$qsd_build_id" = "$(elf_build_id "$system_qsd")" ]; then
        printf '%s/build\n' "$top"
    else
        printf '%s/build/qemu-%s\n' "$top" "$qsd_build_id"
    fi
}

# QEMU_MODULE_DIR for an unpacked daemon (<root>/usr/bin/qemu-storage-daemon):
# its own modules, not the system's
unpacked_module_dir() {
    local root
    root=$(dirname -- "$(dirname -- "$(dirname -- "$qsd_path")")")
    if [ -z "$qsd_package" ] && [ -d "$root/usr/lib/$multiarch/qemu" ]; then
        printf '%s/usr/lib/%s/qemu\n' "$root" "$multiarch"
    fi
}
