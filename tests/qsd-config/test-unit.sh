#!/bin/sh
# The systemd template unit livemerge-qsd@.service passes
# systemd-analyze verify, as the template and as an instance, without a
# single warning.  UNIT is the unit configured with this tree's paths
# (verify checks that the programs it runs exist); the installed unit is
# the same template with the installed paths.
#
#   test-unit.sh UNIT        TAP on stdout
set -u
unit=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

verify_as() {
    n=$((n + 1))
    cp "$unit" "$tmp/$1"
    if (cd "$tmp" && systemd-analyze verify "$tmp/$1") > "$tmp/out" 2>&1 &&
       [ ! -s "$tmp/out" ]; then
        echo "ok $n - systemd-analyze verify $1"
    else
        failed=1
        echo "not ok $n - systemd-analyze verify $1"
        sed 's/^/# /' "$tmp/out"
    fi
}

command -v systemd-analyze >/dev/null || {
    echo "Bail out! systemd-analyze not installed (package systemd: scripts/bootstrap)"
    exit 1
}
verify_as 'livemerge-qsd@.service'
verify_as 'livemerge-qsd@vhost-user-blk.service'
echo "1..$n"
exit $failed
