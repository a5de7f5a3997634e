#!/bin/bash
# An mbox append that was complete but not synced when popfetch died
# (docs/faults.md #95): the next run reads the whole batch back, from the
# page cache, and must make it durable before it records the messages
# and deletes them on the server.
#  1. A run is killed at the fault point mbox_before_sync: the batch is
#     appended, the mbox not yet fsynced.
#  2. The next run, with every fsync of the mbox failing
#     (LD_PRELOAD shim), exits 74 and deletes nothing: it did not confirm
#     an append it could not make durable. (Before the fix it confirmed
#     without any fsync and emptied the server.)
#  3. A run without the shim confirms the batch, deletes, and the mbox
#     holds every message once.
# Needs a binary with fault hooks (-DPOPFETCH_FAULT=ON: the ASan tree);
# elsewhere it says so and passes.
. "$(dirname "$0")/../lib/common.sh"
pf_init

if ! "$POPFETCH" --version 2>/dev/null | grep -q 'fault-injection'; then
	note "SKIPPED: no fault hooks in this binary (build with" \
	    "-DPOPFETCH_FAULT=ON)"
	pass
fi
SHIM=${FAULTSHIM:-$PF_BUILDDIR/tests/libfaultshim.so}
[ -f "$SHIM" ] || fail "no fault shim at '$SHIM' (build the faultshim target)"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

pf_server
pf_mailgen --count 12 --plain --size 200:4000 --seed 95
L=$T/local
mkdir -p "$L"

POPFETCH_FAULT_AT=mbox_before_sync:1 pf_run killed --mbox "$L/mbox"
[ "$PF_RC" -eq 137 ] || { show killed; fail "run 1: exit $PF_RC, want 137"; }
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] ||
    fail "run 1 deleted messages before the mbox was synced"
[ -s "$L/mbox" ] || fail "run 1 appended nothing before the fault point"

FAULTSHIM_OP=fsync FAULTSHIM_N=1+ FAULTSHIM_ERRNO=EIO \
    FAULTSHIM_PATH_PREFIX=$L/mbox FAULTSHIM_LOG=$T/fault.log LD_PRELOAD=$SHIM \
    pf_run nosync --mbox "$L/mbox"
[ "$PF_RC" -eq 74 ] || { show nosync; fail "run 2: exit $PF_RC, want 74"; }
grep -q "cannot sync mbox" "$T/nosync.err" ||
    { show nosync; fail "run 2 did not say the mbox could not be synced"; }
grep -q "fsync" "$T/fault.log" || fail "the shim failed no fsync"
[ "$(dovecot_count_messages)" -eq "$PF_NMSG" ] ||
    fail "run 2 deleted messages whose append it could not sync"

pf_run clean --mbox "$L/mbox"
[ "$PF_RC" -eq 0 ] || { show clean; fail "run 3: exit $PF_RC, want 0"; }
[ "$(dovecot_count_messages)" -eq 0 ] || fail "run 3 left messages"
verify --mbox "$L/mbox" || fail "the mbox does not hold each message once"
pass
