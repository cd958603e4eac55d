#!/bin/sh
# scripts/livemerge-qsd --config FILE: what a configuration turns into, and
# every refusal, each naming the file and the line, before the daemon runs.
#
# The "daemon" here is a stand-in that records its arguments (QSD=), so the
# test sees exactly what the launcher would exec; the configurations in
# qsd-config/ are started with the real daemon by test-qsd-config.
#
#   test-launcher-config.sh LAUNCHER        TAP on stdout
set -u
launcher=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

# The stand-in daemon: one argument per line into $tmp/argv.
cat > "$tmp/qsd" <<'STUB'
#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done > "${0%/*}/argv"
STUB
chmod +x "$tmp/qsd"

run_launcher() {
    rm -f "$tmp/argv"
    QSD=$tmp/qsd "$launcher" "$@" > "$tmp/out" 2>&1
}

# expect_args NAME EXPECTED-ARGV-LINES LAUNCHER-ARGS...
expect_args() {
    name=$1 expected=$2
    shift 2
    if ! run_launcher "$@"; then
        not_ok "$name" "launcher failed: $(cat "$tmp/out")"
    elif [ "$(cat "$tmp/argv")" != "$expected" ]; then
        not_ok "$name" "expected:" "$expected" "got:" "$(cat "$tmp/argv")"
    else
        ok "$name"
    fi
}

# expect_refusal NAME MESSAGE-PART CONFIG-TEXT: the config is refused with a
# message holding MESSAGE-PART, and the daemon never started.
expect_refusal() {
    name=$1 part=$2
    printf '%s' "$3" > "$tmp/bad.conf"
    if run_launcher --config "$tmp/bad.conf"; then
        not_ok "refuses $name" "launcher accepted it"
    elif [ -e "$tmp/argv" ]; then
        not_ok "refuses $name" "the daemon was started"
    elif ! grep -qF -- "$part" "$tmp/out"; then
        not_ok "refuses $name" "message lacks '$part':" "$(cat "$tmp/out")"
    else
        ok "refuses $name: $(cat "$tmp/out")"
    fi
}

# ---- what a configuration turns into
printf '%s\n' \
    '# a disk' \
    '' \
    '   # an indented comment' \
    '--blockdev driver=file,node-name=f0,filename=${LM_DIR}/disk one.img  ' \
    '  --daemonize' \
    "--object secret,id=s0,data=it's" \
    '--pidfile ${LM_DIR}/${LM_NAME}.pid' > "$tmp/good.conf"
printf '%s' '--trace enable=nbd_*' >> "$tmp/good.conf"   # no final newline
LM_DIR=/srv/x LM_NAME=q LM_EMPTY=
export LM_DIR LM_NAME LM_EMPTY
expect_args "options, values with blanks and quotes, \${VAR}, no final newline" \
"--blockdev
driver=file,node-name=f0,filename=/srv/x/disk one.img
--daemonize
--object
secret,id=s0,data=it's
--pidfile
/srv/x/q.pid
--trace
enable=nbd_*" --config "$tmp/good.conf"

printf '%s\n' '--object iothread,id=io0' > "$tmp/one.conf"
expect_args "--config FILE and --config=FILE expand in place among raw args" \
"--chardev
a
--object
iothread,id=io0
--monitor
b
--object
iothread,id=io0" --chardev a --config "$tmp/one.conf" --monitor b "--config=$tmp/one.conf"

printf '%s\n' '--blockdev node-name=${LM_EMPTY}x' > "$tmp/empty.conf"
expect_args "a variable set to the empty string expands to nothing" \
"--blockdev
node-name=x" --config "$tmp/empty.conf"

# ---- refusals, each with the line number
expect_refusal "a line that is not an option" "bad.conf:3: 'driver=file' is not an option" \
    '# ok
--object iothread,id=io0
driver=file
'
expect_refusal "an unknown option" "bad.conf:2: '--blockdevs' is not a qemu-storage-daemon option" \
    '
--blockdevs driver=file
'
expect_refusal "an option without its value" "bad.conf:1: option '--blockdev' needs a value" \
    '--blockdev
'
expect_refusal "a value for --daemonize" "bad.conf:2: option '--daemonize' takes no value" \
    '# x
--daemonize yes
'
expect_refusal "an undefined variable" "bad.conf:4: variable 'LM_SURELY_UNSET' is not set" \
    '#
#
--object iothread,id=io0
--pidfile ${LM_SURELY_UNSET}/p
'
expect_refusal "\$NAME without braces" "bad.conf:1: '\$HOME/p': only \${NAME} is expanded" \
    '--pidfile $HOME/p'
expect_refusal "a command substitution" "bad.conf:1: '\$(id -u)': only" \
    '--pidfile /run/$(id -u)'
expect_refusal "a default-value expansion" "bad.conf:1: '\${HOME:-/x}' is not \${NAME}" \
    '--pidfile ${HOME:-/x}'
expect_refusal "a positional parameter" "bad.conf:1: '\${1}' is not \${NAME}" \
    '--pidfile ${1}'
expect_refusal "an unclosed brace" "bad.conf:1: '\${HOME/p': only" \
    '--pidfile ${HOME/p'
expect_refusal "a lone dollar" "bad.conf:1: '\$': only" \
    '--pidfile /p$'
expect_refusal "an empty name" "bad.conf:2: '\${}' is not" \
    '--object iothread,id=io0
--pidfile ${}/p'
expect_refusal "an error after good lines names the later line" "bad.conf:5:" \
    '--object iothread,id=io0
--object iothread,id=io1
# x

nbd-server x
'

rm -f "$tmp/argv"
if QSD=$tmp/qsd "$launcher" --config "$tmp/missing.conf" > "$tmp/out" 2>&1 ||
   [ -e "$tmp/argv" ] || ! grep -qF "missing.conf' cannot be read" "$tmp/out"; then
    not_ok "refuses a missing config file" "$(cat "$tmp/out")"
else
    ok "refuses a missing config file"
fi
rm -f "$tmp/argv"
if QSD=$tmp/qsd "$launcher" --monitor x --config > "$tmp/out" 2>&1 ||
   [ -e "$tmp/argv" ] || ! grep -qF -- "--config needs a FILE" "$tmp/out"; then
    not_ok "refuses --config without FILE" "$(cat "$tmp/out")"
else
    ok "refuses --config without FILE"
fi

echo "1..$n"
exit $failed
