#!/usr/bin/env python3
"""verify.py: check what popfetch delivered against a mailgen.py manifest.

    verify.py --manifest M [--manifest M2]...
              (--maildir DIR | --mbox FILE | --stream FILE | --pop3 HOST:PORT)
              [--allow-missing-from-server-dir SERVER_MAILDIR]
              [--no-received] [--check-senders] [--quiet]
    --pop3 also takes --user U --password-file F --ca-file CA [--plain]

Exit 0 only when every manifest message was delivered exactly once and
byte-exact; otherwise the problems are listed on stderr and the exit
status is 1 (2 for a usage or parse error).

Delivered bytes: popfetch puts one header field in front of each message,
"Received: from ... (popfetch VERSION)" possibly folded. Exactly one
leading field that starts with "Received: from " and contains "(popfetch"
is removed, with its continuation lines (lines that start with a space
or a tab). Each message must have it (a missing one is reported) unless
--no-received is given, in which case none may have it.

Rules:
  lost       a manifest message neither delivered nor still on the server
  duplicate  a manifest message delivered more than once
  unknown    a delivered message that matches no manifest message; when it
             carries "X-Mailgen-Id: N", the first differing offset against
             message N is reported (a corrupt delivery)
Without --allow-missing-from-server-dir every manifest message must be
delivered exactly once. With it, a message still in SERVER_MAILDIR (new/
or cur/, recognised by content through mailgen.expected()) and not
delivered is fine: a message is OK when delivered once, or not delivered
but still on the server.

Maildir: every file in new/ and cur/ is one message; a file in tmp/ is an
error (popfetch must never leave a partial message behind).

mbox and --stream (mboxrd, as popfetch writes it): the file is split by
hand at every line that starts with "From " (mboxrd quotes every such
body line, so each one is a separator); the separator must follow a blank
line (except the first, at offset 0), each message must end with "\\n"
followed by that blank line, and the From line must read
"From SENDER DAY MON DD HH:MM:SS YYYY". Python's mailbox.mbox parses the
same file as a cross-check: it must find the same number of messages, and
its get_bytes() (which does no unquoting) must equal each raw chunk. Then
each line matching ^>+From  loses one '>' (mboxrd unquoting, done here
because mailbox.mbox does not do it). --check-senders compares SENDER
with the manifest's envelope sender when that one has no space or
control character (for others the form is popfetch's choice).

--pop3 fetches every message with a minimal POP3 client of its own (no
DELE) and checks it as if popfetch had delivered it without a Received
field: a self-test of the fixture, independent of popfetch.
"""

import argparse
import hashlib
import json
import mailbox
import os
import re
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailgen import expected  # noqa: E402

# "From " SENDER " " asctime: the date is the last 24 bytes, so a sender
# with spaces in it (a hostile Return-Path) still parses.
FROM_LINE = re.compile(
    rb"^From (\S.*?) (Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    rb"[ \d]\d \d\d:\d\d:\d\d \d{4}$")
SIMPLE_SENDER = re.compile(r"^[!-~]+$")


class Problems:
    """Collect problems; print them at the end."""

    def __init__(self):
        self.items = []

    def add(self, text):
        self.items.append(text)


def strip_received(data, where, need, probs):
    """Remove popfetch's Received field from the front of data."""
    if data.startswith(b"Received: from "):
        end = data.find(b"\n")
        while end != -1 and data[end + 1:end + 2] in (b" ", b"\t"):
            end = data.find(b"\n", end + 1)
        if end == -1:
            probs.add("%s: Received field never ends" % where)
            return data
        field = data[:end + 1]
        if b"(popfetch" in field:
            if not need:
                probs.add("%s: has a Received field despite --no-received"
                          % where)
            return data[end + 1:]
    if need:
        probs.add("%s: no popfetch Received field at the start" % where)
    return data


def read_maildir(path, probs):
    """Return [(where, bytes)] for the Maildir's new/ and cur/."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            probs.add("maildir: '%s' is missing" % d)
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out.append(("%s/%s" % (sub, name), f.read()))
    tmp = os.path.join(path, "tmp")
    if os.path.isdir(tmp) and os.listdir(tmp):
        probs.add("maildir: tmp/ is not empty: %s" %
                  ", ".join(sorted(os.listdir(tmp))[:5]))
    return out


def read_mboxrd(path, probs):
    """Split an mboxrd file; return [(where, bytes, sender)]."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return []
    if not data.startswith(b"From "):
        probs.add("mbox: does not start with a From line")
        return []
    # Offsets of every line that starts with "From ".
    starts = [0] + [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    out = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(data)
        chunk = data[s:e]
        nl = chunk.find(b"\n")
        fromline, body = chunk[:nl], chunk[nl + 1:]
        where = "mbox message %d (offset %d)" % (k + 1, s)
        m = FROM_LINE.match(fromline)
        if m is None:
            probs.add("%s: bad From line %r" % (where, fromline[:100]))
            sender = None
        else:
            sender = m.group(1).decode("latin-1")
        if not body.endswith(b"\n\n"):
            probs.add("%s: not followed by a blank line" % where)
        else:
            body = body[:-1]
        out.append((where, body, sender))
    # Cross-check with the standard library's parser.
    box = mailbox.mbox(path, create=False)
    keys = box.keys()
    if len(keys) != len(out):
        probs.add("mbox: mailbox.mbox finds %d messages, the split %d"
                  % (len(keys), len(out)))
    else:
        # get_bytes() stops before the blank line that ends each message;
        # some Python versions keep it after the last message.
        for k, (key, (where, body, _)) in enumerate(zip(keys, out)):
            got = box.get_bytes(key)
            if got != body and not (k == len(out) - 1 and
                                    got == body + b"\n"):
                probs.add("%s: mailbox.mbox reads it differently" % where)
    box.close()
    res = []
    for where, body, sender in out:
        unq = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        res.append((where, unq, sender))
    return res


def pop3_fetch(args):
    """Fetch every message with a tiny POP3 client; return [(where, b)]."""
    host, _, port = args.pop3.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    if not args.plain:
        ctx = ssl.create_default_context(cafile=args.ca_file)
        sock = ctx.wrap_socket(sock, server_hostname=host)
    f = sock.makefile("rb")

    def status(cmd):
        if cmd is not None:
            sock.sendall(cmd.encode() + b"\r\n")
        line = f.readline()
        if not line.startswith(b"+OK"):
            sys.exit("verify.py: pop3: %r -> %r" % (cmd, line))
        return line
    with open(args.password_file) as pf:
        password = pf.readline().rstrip("\n")
    status(None)
    status("USER " + args.user)
    status("PASS " + password)
    count = int(status("STAT").split()[1])
    out = []
    for n in range(1, count + 1):
        status("RETR %d" % n)
        parts = []
        while True:
            line = f.readline()
            if not line.endswith(b"\r\n"):
                sys.exit("verify.py: pop3: line without CRLF in RETR %d" % n)
            if line == b".\r\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            parts.append(line[:-2] + b"\n")
        out.append(("pop3 message %d" % n, b"".join(parts)))
    status("QUIT")
    sock.close()
    return out


def server_hashes(path):
    """Return the expected-delivery hashes of messages still on the server."""
    found = set()
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                found.add(hashlib.sha256(expected(f.read())).hexdigest())
    return found


def first_diff(a, b):
    """Return the first offset where a and b differ."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", action="append", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--maildir")
    src.add_argument("--mbox")
    src.add_argument("--stream")
    src.add_argument("--pop3")
    ap.add_argument("--allow-missing-from-server-dir", metavar="DIR")
    ap.add_argument("--no-received", action="store_true")
    ap.add_argument("--check-senders", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--ca-file")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--originals", metavar="DIR",
                    help="server Maildir copy, to show diffs of corrupt "
                    "messages (optional)")
    args = ap.parse_args()

    manifest = []
    for m in args.manifest:
        with open(m) as f:
            manifest.extend(json.load(f)["messages"])
    by_hash = {m["sha256"]: m for m in manifest}
    by_id = {m["id"]: m for m in manifest if m["id"]}

    probs = Problems()
    need_received = not args.no_received
    if args.maildir:
        items = [(w, b, None) for w, b in read_maildir(args.maildir, probs)]
    elif args.mbox or args.stream:
        items = read_mboxrd(args.mbox or args.stream, probs)
    else:
        items = [(w, b, None) for w, b in pop3_fetch(args)]
        need_received = False

    delivered = {}
    unknown = 0
    for where, data, sender in items:
        body = strip_received(data, where, need_received, probs)
        h = hashlib.sha256(body).hexdigest()
        m = by_hash.get(h)
        if m is None:
            unknown += 1
            mm = re.search(rb"(?m)^X-Mailgen-Id: (\d+)$", body)
            what = "%s: unknown message (%d bytes)" % (where, len(body))
            if mm and int(mm.group(1)) in by_id:
                ref = by_id[int(mm.group(1))]
                what += ("; corrupt copy of message id %s (%s, %d bytes "
                         "expected)" % (ref["id"], ref["kind"],
                                        ref["length"]))
                if args.originals:
                    p = None
                    for sub in ("new", "cur"):
                        for name in os.listdir(os.path.join(
                                args.originals, sub)):
                            if name.split(":")[0] == ref["file"]:
                                p = os.path.join(args.originals, sub, name)
                    if p:
                        with open(p, "rb") as f:
                            exp = expected(f.read())
                        off = first_diff(exp, body)
                        what += "; first difference at offset %d: " \
                            "expected %r, got %r" % (
                                off, exp[max(0, off - 10):off + 20],
                                body[max(0, off - 10):off + 20])
            probs.add(what)
            continue
        delivered.setdefault(h, []).append(where)
        # Only a sender without spaces or controls has one obvious form.
        if args.check_senders and sender is not None and \
                SIMPLE_SENDER.match(m["sender"]) and \
                sender != m["sender"]:
            probs.add("%s: From line sender %r, expected %r (id %s)"
                      % (where, sender, m["sender"], m["id"]))

    on_server = set()
    if args.allow_missing_from_server_dir:
        on_server = server_hashes(args.allow_missing_from_server_dir)

    lost = dup = kept = 0
    for m in manifest:
        got = delivered.get(m["sha256"], [])
        if len(got) > 1:
            dup += 1
            probs.add("duplicate: id %s (%s) delivered %d times: %s"
                      % (m["id"], m["kind"], len(got), ", ".join(got[:4])))
        elif not got:
            if m["sha256"] in on_server:
                kept += 1
            else:
                lost += 1
                how = "not delivered and not on the server" \
                    if args.allow_missing_from_server_dir else "not delivered"
                probs.add("lost: id %s (%s, %d bytes) %s"
                          % (m["id"], m["kind"], m["length"], how))

    ok = not probs.items
    summary = ("verify: %d expected, %d delivered, %d still on server only, "
               "%d lost, %d duplicated, %d unknown" %
               (len(manifest), len(delivered), kept, lost, dup, unknown))
    for p in probs.items[:50]:
        print("verify: " + p, file=sys.stderr)
    if len(probs.items) > 50:
        print("verify: ... %d more problems" % (len(probs.items) - 50),
              file=sys.stderr)
    if not ok or not args.quiet:
        print(summary, file=sys.stderr if not ok else sys.stdout)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
