#!/bin/bash
# A dotlock from before the last boot is stale at once (docs/faults.md
# #80): whoever wrote it cannot be alive, whatever pid it names. The lock
# here names pid 1 (alive) and is 2 s old:
#  A. an ordinary run finds it held: exit 75 after --lock-wait, the lock
#     stays;
#  B. a run in a time namespace whose boot was 1 s ago (unshare --time
#     --boottime) sees a lock from before the boot: removed, and every
#     message is delivered.
# Needs root and time namespaces (Linux 5.6): without them the test says
# "skipped" and exits 0.
. "$(dirname "$0")/../lib/common.sh"
if [ "$(id -u)" -ne 0 ]; then
	note "skipped: needs root (unshare --time)"
	exit 0
fi
if ! unshare --time --boottime 0 true 2>/dev/null; then
	note "skipped: no time namespaces here (kernel or container)"
	exit 0
fi
pf_init
pf_server
pf_mailgen --count 3 --plain --seed 141
MBOX=$T/mbox
printf '1 %s\n' "$(hostname)" >"$MBOX.lock"
sleep 2

# A. held
pf_run held --mbox "$MBOX" --lock-wait 1
assert_rc held 75
[ -e "$MBOX.lock" ] || fail "A: the lock of a live process was removed"

# B. the same lock, seen just after a (namespaced) boot
cat >"$T/booted-now" <<WRAP
#!/bin/sh
up=\$(cut -d. -f1 /proc/uptime)
exec unshare --time --boottime -\$((up - 1)) "$POPFETCH" "\$@"
WRAP
chmod +x "$T/booted-now"
POPFETCH=$T/booted-now pf_run boot --mbox "$MBOX" --lock-wait 1
assert_rc boot 0
[ ! -e "$MBOX.lock" ] || fail "B: the lock from before the boot is still there"
[ "$(grep -c '^From ' "$MBOX")" -eq 3 ] || fail "B: not every message arrived"
pass
