#!/bin/bash
# The Debian package end to end: build it from this source tree with
# dpkg-buildpackage (against the header cache scripts/bootstrap prepared),
# check it with lintian and its Depends on the daemon's package, install
# it, run the demo against the installed launcher and plugin only, purge
# it and check nothing it installed is left.
#
#   test-package.sh SOURCE-ROOT DEMO-PROGRAM
#
# Needs root (dpkg -i); exit 77 (skipped) without it or when a livemerge
# package is installed already (this test must not replace it).
set -euo pipefail
src=$1
demo=$2
pkg=livemerge
# Built from the one source package, installed and purged together
pkgs=(livemerge liblivemerge0 liblivemerge-dev)
qsd=/usr/bin/qemu-storage-daemon

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "installing a package needs root"
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        skip "package $p is installed already"
    fi
done

work=$(mktemp -d /tmp/livemerge-package.XXXXXX)
installed=
cleanup() {
    if [ -n "$installed" ]; then
        dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A copy of the tree: dpkg-buildpackage writes its results beside it
mkdir "$work/src"
git -C "$src" ls-files -co --exclude-standard -z |
    (cd "$src" && xargs -0 cp --parents -t "$work/src")
echo "# dpkg-buildpackage -us -uc -b"
(cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; fail "dpkg-buildpackage failed"; }
deb=$(ls "$work"/${pkg}_*_amd64.deb)
debs=()
for p in "${pkgs[@]}"; do
    debs+=("$(ls "$work"/"${p}"_*_amd64.deb)")
done

echo "# lintian"
lintian --fail-on error,warning "$work"/*.changes ||
    fail "lintian reports the package"

# Depends: exactly the version of the package that ships the daemon
owner=$(dpkg -S "$qsd" | cut -d: -f1)
want="$owner (= $(dpkg-query -W -f='${Version}' "$owner"))"
depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
grep -qF "$want" <<<"$depends" || fail "Depends lacks '$want'"

echo "# dpkg -i ${pkgs[*]}"
installed=1
dpkg -i "${debs[@]}" || fail "dpkg -i failed"
files=$(dpkg -L "${pkgs[@]}" | while read -r f; do [ -d "$f" ] || echo "$f"; done)

# The installed launcher preloads the installed plugin (printenv exits 1:
# the daemon's path it is given is no variable)
preload=$(env -u LIVEMERGE_PLUGIN LIVEMERGE_QSD_WRAPPER="printenv LD_PRELOAD" \
              /usr/bin/livemerge-qsd || true)
echo "# livemerge-qsd preloads $preload"
[ "$preload" = /usr/lib/x86_64-linux-gnu/livemerge/livemerge.so ] ||
    fail "the installed launcher preloads '$preload'"

# The demo program alone, outside any build tree, with the installed
# launcher (which loads the installed plugin) and CLI
echo "# demo against /usr/bin/livemerge-qsd and /usr/bin/livemerge"
cp "$demo" "$work/livemerge-demo"
(cd "$work" && env -u LIVEMERGE_PLUGIN -u QSD -u QEMU_MODULE_DIR \
     LIVEMERGE_LAUNCHER=/usr/bin/livemerge-qsd LIVEMERGE_CLI=/usr/bin/livemerge \
     ./livemerge-demo --size 32 --seconds 1) || fail "the demo failed"

echo "# dpkg --purge ${pkgs[*]}"
dpkg --purge "${pkgs[@]}" || fail "dpkg --purge failed"
installed=
for p in "${pkgs[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        fail "$p is still installed"
    fi
done
for f in $files; do
    [ ! -e "$f" ] || fail "$f is left after the purge"
done
echo "PASS: built, lintian-clean, installed, demo passed, purged"
