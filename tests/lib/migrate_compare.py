#!/usr/bin/env python3
"""migrate_compare.py: check converted popfetch accounts against what mpop
or fetchmail themselves say their settings are.

    migrate_compare.py mpop [--show-config] RESOLVED PRETEND_DIR
    migrate_compare.py fetchmail [--show-config] RESOLVED CONFIGDUMP

RESOLVED is the output of "migrate-driver resolve FILE" ("ACCOUNT key
value" lines, a password as "fnv-XXXXXXXX"), or with --show-config that
of "popfetch -C FILE --show-config -a" (with a line "- default NAME"
added), where the password is masked (so only whether there is one is
compared) and source_address, proxy and tunnel are compared too. PRETEND_DIR holds one file
per mpop account, named after it, with the output of "mpop --pretend
ACCOUNT". CONFIGDUMP is the output of "fetchmail --configdump" (Python
source). Each setting the original program uses is turned into the
popfetch setting that must result, by the programs' documented rules,
not by the converter's code; an MDA command is compared by the argument
vector the shell would build from it for a sample sender. Prints every
difference and exits 1 when there is one.
"""

import os
import re
import shlex
import sys

SENDER = "sender@example.org"


def fnv(s):
    """FNV-1a of a password, as migrate-driver prints it."""
    h = 2166136261
    for b in s.encode("latin-1"):
        h = ((h ^ b) * 16777619) & 0xffffffff
    return "fnv-%08x" % h


def read_resolved(path):
    """Return {account: {key: value}} and the default account name."""
    accts, default = {}, None
    with open(path, encoding="latin-1") as f:
        for line in f:
            name, key, value = line.rstrip("\n").split(" ", 2)
            if name == "-" and key == "default":
                default = value
            else:
                accts.setdefault(name, {})[key] = value
    return accts, default


def show_value(rest):
    """The value of a --show-config line "key VALUE  # origin"."""
    if rest.startswith('"'):
        out, i = "", 1
        while rest[i] != '"':
            if rest[i] == "\\":
                i += 1
            out += rest[i]
            i += 1
        return out
    return rest.split("  # ", 1)[0]


def read_show_config(path):
    """--show-config output in the form read_resolved() returns."""
    accts, default, cur = {}, None, None
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"# account (\S+) \(", line)
            if m:
                cur = accts.setdefault(m.group(1), {})
                continue
            if line.startswith("- default "):
                default = line.split(" ", 2)[2]
                continue
            if cur is None or not line or line.startswith("#"):
                continue
            key, _, rest = line.partition(" ")
            cur[key] = show_value(rest)
    out = {}
    for name, a in accts.items():
        r = {k: a.get(k, "-") for k in (
            "host", "port", "user", "tls", "ca_file", "fingerprint", "cert",
            "key", "tls_min", "insecure", "auth", "password_command",
            "timeout", "no_received", "keep", "max_size", "kill_size",
            "limit", "source_address", "proxy", "tunnel")}
        r["password"] = "set" if "password" in a else "-"
        r["all"] = a.get("all",
                         "on" if a.get("only_new") == "off" else "off")
        r["delivery"] = "none -"
        for kind in ("maildir", "mbox", "mda"):
            if kind in a:
                r["delivery"] = "%s %s" % (kind, a[kind])
        if a.get("stdout") == "on":
            r["delivery"] = "stdout -"
        out[name] = r
    return out, default


SHOW = False  # --show-config: masked passwords, the reach keys too


def popfetch_argv(cmd):
    """The words /bin/sh makes of popfetch's MDA command."""
    out, i = "", 0
    while i < len(cmd):
        if cmd.startswith("%F", i):
            out += "'" + SENDER.replace("'", "'\\''") + "'"
            i += 2
        elif cmd.startswith("%%", i):
            out += "%"
            i += 2
        else:
            out += cmd[i]
            i += 1
    return shlex.split(out)


def compare(name, want, got, errors):
    """Record every key of want whose value got does not have."""
    for key, value in want.items():
        if SHOW and key == "password" and value.startswith("fnv-") and \
                got.get(key) == "set":
            continue  # masked by --show-config
        if got.get(key) != value:
            errors.append("%s: %s is %r, want %r" %
                          (name, key, got.get(key), value))


def mpop_size(v):
    """mpop's size argument in bytes, or None for off."""
    if v in (None, "off"):
        return None
    m = re.fullmatch(r"(\d+)( bytes)?", v)
    return int(m.group(1)) if m else None


def mpop_want(p):
    """The popfetch settings an mpop --pretend listing implies."""
    w = {"host": p["host"], "port": p["port"]}
    w["user"] = "-" if p["user"] == "(not set)" else p["user"]
    if p["tls"] != "on":
        w["tls"] = "off"
    else:
        w["tls"] = "starttls" if p["tls_starttls"] == "on" else "on"
    trust = p["tls_trust_file"]
    w["ca_file"] = "-" if trust in ("system", "(not set)") else trust
    w["insecure"] = "on" if p["tls_certcheck"] == "off" else "off"
    w["auth"] = "auto" if p["auth"] == "choose" else p["auth"].lower()
    # --pretend runs passwordeval and shows its result as the password:
    # "*" with passwordeval set is checked in run_mpop
    ev = p["passwordeval"]
    if p["password"] == "(not set)":
        w["password"] = "-"
        w["password_command"] = "-" if ev == "(not set)" else ev
    elif ev == "(not set)":
        w["password_command"] = "-"
    t = p["timeout"]
    w["timeout"] = "86400" if t == "off" else t.split()[0]
    w["keep"] = p["keep"]
    w["all"] = "off" if p["only_new"] == "on" else "on"
    w["no_received"] = "off" if p["received_header"] == "on" else "on"
    kill, skip = mpop_size(p["killsize"]), mpop_size(p["skipsize"])
    if p["keep"] == "on" and kill is not None:
        skip = kill if skip is None else min(skip, kill)
        kill = None
    w["kill_size"] = str(kill or 0)
    w["max_size"] = str(skip or 0)
    if SHOW:
        sip, ph = p.get("source ip"), p.get("proxy host")
        w["source_address"] = "-" if sip in (None, "(not set)") else sip
        w["tunnel"] = "-"
        w["proxy"] = "-"
        if ph not in (None, "(not set)"):
            # mpop lets the SOCKS proxy resolve the server's name
            w["proxy"] = "socks5h://%s:%s" % (
                "[%s]" % ph if ":" in ph else ph, p["proxy port"])
    return w


def check_mpop_delivery(name, p, got, errors):
    """maildir/mbox paths as given; an MDA by its argument vector."""
    method, _, arg = p["delivery"].partition(" ")
    kind, _, path = got["delivery"].partition(" ")
    if method in ("maildir", "mbox"):
        if (kind, path) != (method, arg):
            errors.append("%s: delivery %r, want %s %s" %
                          (name, got["delivery"], method, arg))
    elif method == "mda":
        want = shlex.split(arg.replace("%F", SENDER))
        if kind != "mda" or popfetch_argv(path) != want:
            errors.append("%s: MDA %r runs %r, mpop runs %r" %
                          (name, path, popfetch_argv(path), want))
    elif kind != "none":  # exchange: nothing popfetch can do
        errors.append("%s: delivery %r for mpop's %r" %
                      (name, got["delivery"], p["delivery"]))


def read_accounts(path):
    """RESOLVED, in either form."""
    return read_show_config(path) if SHOW else read_resolved(path)


def run_mpop(resolved, pretend_dir):
    """Compare every mpop account listed in pretend_dir."""
    accts, default = read_accounts(resolved)
    errors = []
    for acct in sorted(os.listdir(pretend_dir)):
        p = {}
        with open(os.path.join(pretend_dir, acct), encoding="latin-1") as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition(" = ")
                if sep:
                    p[key] = value
        name = acct
        if name not in accts and acct == "default" and default:
            name = default  # "account default : X" became "default X"
        if name not in accts:
            errors.append("%s: no such popfetch account" % acct)
            continue
        got = accts[name]
        compare(acct, mpop_want(p), got, errors)
        ev = p["passwordeval"]
        if p["password"] != "(not set)" and got["password"] == "-" and \
                got["password_command"] != ev:
            errors.append("%s: neither the password nor passwordeval" %
                          acct)
        check_mpop_delivery(acct, p, accts[name], errors)
    return errors


def fetchmail_want(s, u, invisible):
    """The popfetch settings of one fetchmail server and user."""
    proto = s["protocol"].upper()
    w = {"host": s["via"] or s["pollname"], "user": u["remote"]}
    w["port"] = s["service"] or ("995" if u["ssl"] else "110")
    if u["ssl"]:
        w["tls"] = "on"
    elif u["sslproto"] == "":
        w["tls"] = "off"
    else:
        w["tls"] = "starttls"
    sp = (u["sslproto"] or "").lower()
    w["tls_min"] = "1.3" if sp in ("tls1.3", "tls1.3+") else "1.2"
    w["insecure"] = "off" if u["sslcertck"] else "on"
    w["ca_file"] = u["sslcertfile"] or "-"
    auth = {"any": "auto", "password": "user", "cram-md5": "cram-md5"}
    w["auth"] = "apop" if proto == "APOP" else auth[s["auth"]]
    w["password"] = fnv(u["password"]) if u["password"] else "-"
    w["timeout"] = str(s["timeout"] or 86400)
    w["keep"] = "on" if u["keep"] else "off"
    w["all"] = "on" if u["fetchall"] else "off"
    w["no_received"] = "on" if invisible else "off"
    lim = u["limit"] or 0
    w["kill_size"] = str(lim if u["limitflush"] else 0)
    w["max_size"] = str(0 if u["limitflush"] else lim)
    w["limit"] = str(u["fetchlimit"] or 0)
    if SHOW:
        w["source_address"] = "-"
        w["proxy"] = "-"
    return w


def check_fetchmail_plugin(name, s, got, errors):
    """plugin and tunnel: the same words for a sample host and port
    (fetchmail splits at blanks, without a shell; popfetch quotes %h and
    %p and runs /bin/sh -c)."""
    host, port = s["via"] or s["pollname"], got["port"]
    plugin = s.get("plugin")
    if not plugin:
        if got["tunnel"] != "-":
            errors.append("%s: tunnel %r without a plugin" %
                          (name, got["tunnel"]))
        return
    want = plugin.replace("%h", host).replace("%p", port).split()
    cmd, i, out = got["tunnel"], 0, ""
    while i < len(cmd):
        if cmd.startswith("%h", i) or cmd.startswith("%p", i):
            out += "'%s'" % (host if cmd[i + 1] == "h" else port)
            i += 2
        elif cmd.startswith("%%", i):
            out += "%"
            i += 2
        else:
            out += cmd[i]
            i += 1
    if cmd == "-" or shlex.split(out) != want:
        errors.append("%s: tunnel %r runs %r, fetchmail's plugin %r" %
                      (name, cmd, out, want))


def check_fetchmail_delivery(name, u, got, errors):
    """An MDA by its argument vector; no MDA: no popfetch delivery."""
    kind, _, path = got["delivery"].partition(" ")
    if not u["mda"]:
        if kind != "none":
            errors.append("%s: delivery %r without an MDA in fetchmail" %
                          (name, got["delivery"]))
        return
    # fetchmail quotes %F and %T (%s is an old name of %T) itself
    local = "'%s'" % u["localnames"][0].replace("'", "")
    cmd = u["mda"].replace("%F", "'%s'" % SENDER)
    cmd = cmd.replace("%T", local).replace("%s", local)
    want = shlex.split(cmd)
    if kind != "mda" or popfetch_argv(path) != want:
        errors.append("%s: MDA %r runs %r, fetchmail runs %r" %
                      (name, path, popfetch_argv(path), want))


def run_fetchmail(resolved, dump):
    """Compare every POP3 user of every fetchmail server."""
    accts, _ = read_accounts(resolved)
    env = {"TRUE": 1, "FALSE": 0}
    with open(dump, encoding="latin-1") as f:
        src = "".join(l for l in f if not l.startswith("fetchmail:"))
    exec(src, env)  # the dump is Python source by design
    rc = env["fetchmailrc"]
    errors = []
    for s in rc["servers"]:
        for u in s["users"]:
            name = s["pollname"]
            if len(s["users"]) > 1:
                name = "%s-%s" % (name, u["remote"])
            if s["protocol"].upper() not in ("POP3", "APOP"):
                if name in accts:
                    errors.append("%s: a %s entry was converted" %
                                  (name, s["protocol"]))
                continue
            if name not in accts:
                errors.append("%s: no such popfetch account" % name)
                continue
            compare(name, fetchmail_want(s, u, rc["invisible"]),
                    accts[name], errors)
            check_fetchmail_delivery(name, u, accts[name], errors)
            if SHOW:
                check_fetchmail_plugin(name, s, accts[name], errors)
    return errors


def main():
    global SHOW
    if len(sys.argv) == 5 and sys.argv[2] == "--show-config":
        SHOW = True
        del sys.argv[2]
    if len(sys.argv) != 4 or sys.argv[1] not in ("mpop", "fetchmail"):
        sys.exit(__doc__)
    if sys.argv[1] == "mpop":
        errors = run_mpop(sys.argv[2], sys.argv[3])
    else:
        errors = run_fetchmail(sys.argv[2], sys.argv[3])
    for e in errors:
        print("migrate_compare: " + e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
