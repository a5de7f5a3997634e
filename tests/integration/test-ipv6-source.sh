#!/bin/bash
# IPv6 literals and the source address, against a Dovecot on 127.0.0.1
# and ::1 (its certificate holds IP:127.0.0.1 and IP:::1):
# - -H ::1 and -H [::1] with implicit TLS (the IP SAN matched, no SNI),
#   config "host [::1]:PORT" and "host [::1]" with "port": every message
#   once, Dovecot's log showing rip=::1;
# - --source-address 127.0.0.2 (a second loopback address, no setup on
#   Linux): Dovecot logs rip=127.0.0.2; "source_address" in the config too;
# - a name with an IPv6 and an IPv4 address (the hostshim) from an IPv4
#   source: the IPv6 address is skipped, not fatal; from ::1 the other
#   way round;
# - no address of the source's family: 75, one line; an address that is
#   not ours: 75, one line; a malformed one or a bad host: 78 before
#   connecting, naming the config line;
# - "proxy" set in defaults and removed with proxy "" in the account;
#   proxy and tunnel together are refused (78).
. "$(dirname "$0")/../lib/common.sh"
. "$PF_LIB/reach.sh"
pf_init
reach_init
_dc_have_ipv6 || fail "::1 cannot be bound here (the reach tests need IPv6 on lo)"
pf_server
SHIM=$(reach_shim)

# rip_count ADDR: Dovecot's logins from ADDR so far.
rip_count() {
	grep -c "Login: user=<$DC_USER>.*rip=$1," "$DC_LOG" || true
}

pf_mailgen --count 10 --plain --seed 1
PF_HOST=::1 pf_run v6 --maildir "$T/m1"
assert_rc v6 0
assert_empty "$T/v6.err" "stderr of -H ::1"
verify --maildir "$T/m1" || fail "-H ::1: the Maildir does not hold the corpus"
[ "$(rip_count ::1)" -ge 1 ] || fail "Dovecot saw no login from ::1"

pf_mailgen --count 3 --plain --seed 2
PF_HOST="[::1]" pf_run v6b -vv --maildir "$T/m2"
assert_rc v6b 0
[ "$(maildir_count "$T/m2")" -eq 3 ] || fail "-H [::1]: not 3 messages"
grep -q "TLS handshake with \[::1\]:$DC_POP3S_PORT" "$T/v6b.err" ||
    fail "the trace does not show the bracketed address"

# The config file: host [::1]:PORT, and host [::1] with port.
cat >"$T/config" <<EOF
defaults
  user $DC_USER
  password_command cat $DC_PASS_FILE
  ca_file $DC_CA
  state_dir $T/state
  proxy socks5h://127.0.0.1:1
account withport
  host [::1]:$DC_POP3S_PORT
  proxy ""
  maildir $T/m3
account separate
  host [::1]
  port $DC_POP3S_PORT
  proxy ""
  maildir $T/m4
account src
  host 127.0.0.1
  port $DC_POP3S_PORT
  source_address 127.0.0.2
  proxy ""
  maildir $T/m5
account both
  host 127.0.0.1
  tunnel socat - TCP:%h:%p
  maildir $T/m5
EOF
chmod 600 "$T/config"
pf_mailgen --count 2 --plain --seed 3 --start 100
pf_run_raw cfg1 -C "$T/config" withport
assert_rc cfg1 0
[ "$(maildir_count "$T/m3")" -eq 2 ] || fail "host [::1]:PORT: not 2 messages"
pf_mailgen --count 2 --plain --seed 4 --start 200
pf_run_raw cfg2 -C "$T/config" separate
assert_rc cfg2 0
[ "$(maildir_count "$T/m4")" -eq 2 ] || fail "host [::1] + port: not 2 messages"

# Source address 127.0.0.2, on the command line and in the config.
before=$(rip_count 127.0.0.2)
pf_mailgen --count 2 --plain --seed 5 --start 300
PF_HOST=127.0.0.1 pf_run src --source-address 127.0.0.2 --maildir "$T/m5"
assert_rc src 0
[ "$(maildir_count "$T/m5")" -eq 2 ] || fail "--source-address: not 2 messages"
[ "$(rip_count 127.0.0.2)" -gt "$before" ] ||
    fail "Dovecot did not see the login from 127.0.0.2"
before=$(rip_count 127.0.0.2)
pf_run_raw cfg3 -C "$T/config" src
assert_rc cfg3 0
[ "$(rip_count 127.0.0.2)" -gt "$before" ] ||
    fail "source_address in the config was not used"

# localhost with both families (the hostshim answers ::1 first).
pf_mailgen --count 1 --plain --seed 6 --start 400
before=$(rip_count 127.0.0.2)
LD_PRELOAD=$SHIM PF_HOSTS="localhost=::1,127.0.0.1" \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    pf_run dual4 -vv --source-address 127.0.0.2 --maildir "$T/m6"
assert_rc dual4 0
[ "$(rip_count 127.0.0.2)" -gt "$before" ] || fail "the IPv4 address was not used"
grep -q "connecting to ::1" "$T/dual4.err" && fail "an IPv6 address was tried from an IPv4 source"
pf_mailgen --count 1 --plain --seed 7 --start 500
before=$(rip_count ::1)
LD_PRELOAD=$SHIM PF_HOSTS="localhost=127.0.0.1,::1" \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    pf_run dual6 --source-address ::1 --maildir "$T/m6"
assert_rc dual6 0
[ "$(rip_count ::1)" -gt "$before" ] || fail "the IPv6 address was not used"
[ "$(maildir_count "$T/m6")" -eq 2 ] || fail "the dual-stack runs did not fetch"

# Failures before or at connect, one line each, nothing fetched.
n=$(dovecot_count_messages)
PF_HOST=127.0.0.1 pf_run nofamily --source-address ::1 --maildir "$T/m7"
assert_rc nofamily 75
assert_one_line nofamily
grep -q "cannot connect to '127.0.0.1:$DC_POP3S_PORT' from '::1': it has no IPv6 address" \
    "$T/nofamily.err" || fail "the family mismatch is not explained"
PF_HOST=127.0.0.1 pf_run notours --source-address 192.0.2.1 --maildir "$T/m7"
assert_rc notours 75
assert_one_line notours
grep -q "cannot bind to source address '192.0.2.1'" "$T/notours.err" ||
    fail "the bind failure is not explained"
printf 'account a\n  host 127.0.0.1\n  source_address mail.example.org\n' \
    >"$T/config-badaddr"
printf 'account a\n  host [::1\n' >"$T/config-badhost"
pf_run_raw badaddr -C "$T/config-badaddr"
assert_rc badaddr 78
assert_one_line badaddr
grep -q "config-badaddr:3: source_address: invalid source address 'mail.example.org'" \
    "$T/badaddr.err" || fail "a host name as source address is not refused"
pf_run_raw badhost -C "$T/config-badhost"
assert_rc badhost 78
assert_one_line badhost
grep -q "config-badhost:2: host: invalid host '\[::1'" "$T/badhost.err" ||
    fail "an unclosed bracket is not refused"
pf_run_raw both -C "$T/config" both
assert_rc both 78
assert_one_line both
grep -q "proxy and tunnel cannot be used together" "$T/both.err" ||
    fail "proxy with tunnel is not refused"
[ "$(dovecot_count_messages)" -eq "$n" ] || fail "messages vanished"
[ "$(maildir_count "$T/m7")" -eq 0 ] || fail "a failed run delivered"
pass
