#!/bin/bash
# Run test programs with every daemon they start under valgrind memcheck,
# and fail on any memcheck error or leak that involves the plugin.
#
#   check-plugin.sh TEST-PROGRAM [ARGS...] [-- TEST-PROGRAM [ARGS...]]...
#
# Uninitialised-value checking is off: Debian's daemon does not register
# its coroutine stacks with valgrind, so every coroutine (QEMU's own as
# much as ours) would be reported.  Addressability errors and leaks are
# checked in full; tests/valgrind/qsd.supp holds the stock daemon's own
# stack-switch reports.
set -uo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
logs=$(mktemp -d /tmp/livemerge-valgrind.XXXXXX)
export LIVEMERGE_QSD_WRAPPER="valgrind --tool=memcheck --undef-value-errors=no
  --suppressions=$here/qsd.supp --leak-check=full
  --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite
  --num-callers=30 --log-file=$logs/qsd.%p.log"

status=0
run() {
    echo "# under valgrind: $*"
    "$@" || status=1
}
args=()
for a in "$@"; do
    if [ "$a" = "--" ]; then
        run "${args[@]}"
        args=()
    else
        args+=("$a")
    fi
done
[ ${#args[@]} -gt 0 ] && run "${args[@]}"

# A memcheck record is the run of lines between two empty "==PID== " lines.
# Counted as the plugin's:
#  - a leak whose allocation the plugin made (a plugin frame comes before
#    any frame of the daemon's own code),
#  - a bad access to the heap ("alloc'd"/"free'd" block) with a plugin
#    frame anywhere.
# Accesses to coroutine stacks ("rw- anonymous segment", "thread N's
# stack") are what memcheck makes of stack switches it was not told about,
# in QEMU's code as in ours, and are not counted.
daemons=$(ls "$logs" | wc -l)
plugin_records=$(awk '
    function plugin_frame(line) {
        return line ~ /livemerge|copy-engine|commit-job|copy-job|stream-job|mirror-job|job-group|pacing|qmp-args|qmp-stream|qmp-mirror|qmp-group|write-tracker|filter-driver|filter-graph|dirty-map|qmp-commit|qmp-filter|qmp-commands|load-guard|plugin\.c/
    }
    /^==[0-9]+== *$/ {
        if ((leak && leak_is_plugin) || (heap && has_plugin))
            print rec
        rec = ""; leak = heap = bad = has_plugin = leak_is_plugin = decided = 0
        next
    }
    {
        rec = rec "\n" $0
        if ($0 ~ /lost in loss record/) leak = 1
        if ($0 ~ /(Invalid|Mismatched|overlap)/) bad = 1
        if ($0 ~ /alloc.d|free.d/ && bad) heap = 1
        if (plugin_frame($0)) {
            has_plugin = 1
            if (!decided) { leak_is_plugin = 1; decided = 1 }
        } else if ($0 ~ /in \/usr\/bin\/qemu-storage-daemon/) {
            decided = 1
        }
    }' "$logs"/*.log)
if [ -n "$plugin_records" ]; then
    echo "memcheck found errors in the plugin:"
    echo "$plugin_records"
    status=1
fi
echo "# $daemons daemons ran under valgrind; logs in $logs"
[ "$daemons" -gt 0 ] || { echo "no daemon ran under valgrind"; status=1; }
[ $status -eq 0 ] && rm -rf "$logs"
exit $status
