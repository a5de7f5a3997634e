#!/usr/bin/env python3
"""deliver_check.py: read back what popfetch delivered with other programs.

    deliver_check.py python-mbox MBOX OUTDIR
    deliver_check.py formail MBOX FMDIR OUTDIR
    deliver_check.py procmail STREAM PMDIR OUTDIR
    deliver_check.py senders MANIFEST FILE [--extra EXTRA_JSON]
    deliver_check.py server MANIFEST SERVER_MAILDIR VLOG [--deleted A-B]
    deliver_check.py server-prefix MANIFEST SERVER_MAILDIR MAXBYTES OUT
    deliver_check.py hostile SERVER_MAILDIR EXTRA_JSON

Every reader writes the messages it finds, one file each, into OUTDIR/new/
(a Maildir shape), so that verify.py --maildir OUTDIR checks them against
the manifest byte for byte. It prints "N messages" and exits 1 on any
difference it can see itself.

python-mbox: Python's mailbox.mbox reads MBOX. It does not undo mboxrd
quoting, so exactly one '>' is removed here from each line matching
^>+From (mboxrd). Whether mailbox.mbox keeps the blank line that ends the
last message differs between Python versions; it is probed on a tiny
mbox and, when kept, removed.

formail: FMDIR holds what `formail -s sh -c 'cat > FMDIR/$FILENO'` wrote
for MBOX. formail passes each message on with its From_ line and with the
blank line that separates it from the next one. It also changes one
thing: when the header does not end with an empty line (the first line
that is neither a field nor a continuation is not empty), formail inserts
one empty line there. Each formail output must equal the message as split
here at "\\nFrom " lines with only that insertion; the From_ line, the
separator blank line and that inserted line are then removed, and one
'>' comes off ^>+From lines.

procmail: STREAM is what popfetch --stdout wrote; PMDIR is the Maildir
that `formail -s procmail -m RC` (DEFAULT=PMDIR/) filled from it.
procmail's Maildir delivery drops the From_ line formail passes and adds
nothing; the separator blank line and formail's inserted line stay. Each
file is matched to its stream message by X-Mailgen-Id (the one message
without it, the empty one, by elimination) and must equal it exactly with
those two; then they are removed and the message unquoted as above.

senders: FILE has one line per delivered message, in POP3 order: the
envelope sender the MDA received (%F or $SENDER, or procmail's From_
line). The expected value is the manifest sender when that is a plain
address (printable ASCII, no space), else MAILER-DAEMON (the sink refuses
anything else: src/mboxrd.c, mboxrd_sender). --extra adds the
hostile messages written by the hostile command, after the manifest ones.

server: VLOG is popfetch -v output. The messages it marked for deletion
must be exactly those of the manifest no longer on the server (POP3
message number = manifest position + 1 on a fresh corpus), and with
--deleted A-B exactly the numbers A..B (0-0 for none).

server-prefix: without a -v log: the messages gone from the server must
be the first k of the manifest (k may be 0) and their delivered lengths
must add up to at most MAXBYTES; the others must each be on the server
once. Prints k and writes a manifest of the others to OUT.

hostile: writes messages with shell-hostile Return-Paths that have no
space (so the sink passes them on, shell-quoted) into SERVER_MAILDIR/new
after mailgen's, and the list of expected senders into EXTRA_JSON.
"""

import hashlib
import json
import mailbox
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailgen import expected  # noqa: E402

FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
UNQUOTE = re.compile(rb"(?m)^>(>*From )")
SIMPLE = re.compile(r"^[!-~]+$")


def die(msg):
    print("deliver_check: " + msg, file=sys.stderr)
    sys.exit(1)


def out_dir(path):
    """Create a Maildir-shaped output directory; return its new/."""
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return os.path.join(path, "new")


def write_all(outdir, msgs):
    new = out_dir(outdir)
    for k, data in enumerate(msgs):
        with open(os.path.join(new, "%06d" % k), "wb") as f:
            f.write(data)
    print("%d messages" % len(msgs))


def unquote(data):
    """Undo mboxrd quoting: one '>' off each ^>+From line."""
    return UNQUOTE.sub(rb"\1", data)


def split_mbox(data):
    """Split an mboxrd file at "From " lines: [(from_line, rest)]."""
    if not data:
        return []
    if not data.startswith(b"From "):
        die("the mbox does not start with a From line")
    starts = [0] + [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    out = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(data)
        chunk = data[s:e]
        nl = chunk.find(b"\n")
        out.append((chunk[:nl + 1], chunk[nl + 1:]))
    return out


def formail_insert_at(body):
    """Offset where formail inserts an empty line in body, or None."""
    off = 0
    while off < len(body):
        nl = body.find(b"\n", off)
        line = body[off:] if nl == -1 else body[off:nl + 1]
        if line == b"\n":
            return None
        if not (FIELD.match(line) or line[:1] in (b" ", b"\t")):
            return off
        off += len(line)
    return None


def strip_separator(body, where):
    if not body.endswith(b"\n\n"):
        die("%s: not followed by a blank line" % where)
    return body[:-1]


def cmd_python_mbox(mbox, outdir):
    # Probe whether this Python keeps the last message's blank line.
    with tempfile.NamedTemporaryFile(suffix=".mbox") as t:
        t.write(b"From a Mon Jan  1 00:00:00 2024\nA: b\n\nx\n\n")
        t.flush()
        probe = mailbox.mbox(t.name, create=False)
        keeps = probe.get_bytes(probe.keys()[0]).endswith(b"x\n\n")
        probe.close()
    box = mailbox.mbox(mbox, create=False)
    keys = box.keys()
    msgs = []
    for k, key in enumerate(keys):
        data = box.get_bytes(key)
        if keeps and k == len(keys) - 1:
            data = strip_separator(data, "last message")
        msgs.append(unquote(data))
    box.close()
    write_all(outdir, msgs)


def cmd_formail(mbox, fmdir, outdir):
    with open(mbox, "rb") as f:
        parts = split_mbox(f.read())
    names = sorted(os.listdir(fmdir), key=int)
    if len(names) != len(parts):
        die("formail found %d messages, the mbox holds %d" %
            (len(names), len(parts)))
    msgs = []
    fixes = 0
    for k, (name, (fromline, body)) in enumerate(zip(names, parts)):
        with open(os.path.join(fmdir, name), "rb") as f:
            got = f.read()
        want = fromline + body
        at = formail_insert_at(body)
        if at is not None:
            fixes += 1
            pos = len(fromline) + at
            want = want[:pos] + b"\n" + want[pos:]
        if got != want:
            die("formail message %s (mbox message %d) differs from the "
                "mbox beyond formail's documented header fix" % (name, k + 1))
        # Now take formail's own bytes back to the message.
        if at is not None:
            pos = len(fromline) + at
            got = got[:pos] + got[pos + 1:]
        if not got.startswith(fromline):
            die("formail message %s lost its From_ line" % name)
        got = strip_separator(got[len(fromline):], "formail " + name)
        msgs.append(unquote(got))
    print("formail inserted a header separator in %d messages" % fixes)
    write_all(outdir, msgs)


def mailgen_id(data):
    m = re.search(rb"(?m)^X-Mailgen-Id: (\d+)$", data)
    return int(m.group(1)) if m else None


def cmd_procmail(stream, pmdir, outdir):
    with open(stream, "rb") as f:
        parts = split_mbox(f.read())
    by_id = {}
    for fromline, body in parts:
        # The stream's own copy, as procmail must have stored it.
        want = body
        at = formail_insert_at(body)
        if at is not None:
            want = body[:at] + b"\n" + body[at:]
        key = mailgen_id(unquote(body))
        if key in by_id:
            die("two stream messages with X-Mailgen-Id %s" % key)
        by_id[key] = (want, at)
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(pmdir, sub)
        files += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    if len(files) != len(parts):
        die("procmail stored %d messages, the stream holds %d" %
            (len(files), len(parts)))
    msgs = []
    for p in files:
        with open(p, "rb") as f:
            got = f.read()
        key = mailgen_id(unquote(got))
        if key not in by_id:
            die("procmail file %s matches no stream message" % p)
        want, at = by_id.pop(key)
        if got != want:
            die("procmail file %s (X-Mailgen-Id %s) differs from the "
                "stream message" % (p, key))
        if at is not None:
            got = got[:at] + got[at + 1:]
        msgs.append(unquote(strip_separator(got, p)))
    write_all(outdir, msgs)


def expect_sender(s):
    return s if SIMPLE.match(s) and len(s) < 512 else "MAILER-DAEMON"


def cmd_senders(manifest, path, extra):
    with open(manifest) as f:
        want = [expect_sender(m["sender"]) for m in json.load(f)["messages"]]
    if extra:
        with open(extra) as f:
            want += json.load(f)
    with open(path, "rb") as f:
        got = f.read().decode("latin-1").split("\n")
    if got and got[-1] == "":
        got.pop()
    bad = 0
    for k, (w, g) in enumerate(zip(want, got)):
        if w != g:
            bad += 1
            print("deliver_check: message %d: sender %r, expected %r"
                  % (k + 1, g, w), file=sys.stderr)
    if len(got) != len(want):
        die("%d senders recorded, %d expected" % (len(got), len(want)))
    if bad:
        die("%d senders differ" % bad)
    print("%d senders as expected (%d MAILER-DAEMON)" %
          (len(want), want.count("MAILER-DAEMON")))


def cmd_server(manifest, maildir, vlog, deleted_range):
    with open(manifest) as f:
        msgs = json.load(f)["messages"]
    with open(vlog, "rb") as f:
        text = f.read().decode("latin-1")
    deleted = set(int(n) for n in re.findall(
        r"message (\d+) \(uid [^)]*\) marked for deletion", text))
    on_server = server_counts(maildir)
    bad = 0
    for m in msgs:
        n = m["pos"] + 1
        here = on_server.get(m["sha256"], 0)
        if n in deleted and here:
            bad += 1
            print("deliver_check: message %d marked deleted but still on "
                  "the server" % n, file=sys.stderr)
        if n not in deleted and here != 1:
            bad += 1
            print("deliver_check: message %d not marked deleted but on the "
                  "server %d times" % (n, here), file=sys.stderr)
    if deleted_range is not None:
        a, _, b = deleted_range.partition("-")
        want = set(range(int(a), int(b) + 1)) if int(a) > 0 else set()
        if deleted != want:
            bad += 1
            print("deliver_check: deleted %s, expected %s" %
                  (sorted(deleted), sorted(want)), file=sys.stderr)
    if bad:
        die("the server does not hold what the -v output says")
    print("%d deleted, %d still on the server" %
          (len(deleted), len(msgs) - len(deleted)))


def server_counts(maildir):
    on_server = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                h = hashlib.sha256(expected(f.read())).hexdigest()
            on_server[h] = on_server.get(h, 0) + 1
    return on_server


def cmd_server_prefix(manifest, maildir, maxbytes, out):
    with open(manifest) as f:
        man = json.load(f)
    msgs = man["messages"]
    on_server = server_counts(maildir)
    here = [on_server.get(m["sha256"], 0) for m in msgs]
    k = 0
    while k < len(msgs) and here[k] == 0:
        k += 1
    if any(n != 1 for n in here[k:]):
        die("after the first %d gone, messages %s are not on the server "
            "exactly once" % (k, [m["pos"] + 1 for m, n in
                                  zip(msgs[k:], here[k:]) if n != 1][:10]))
    total = sum(m["length"] for m in msgs[:k])
    if total > int(maxbytes):
        die("the %d messages deleted hold %d bytes, more than the %s "
            "that can have been written" % (k, total, maxbytes))
    man["messages"] = msgs[k:]
    with open(out, "w") as f:
        json.dump(man, f)
    print(k)


# Hostile Return-Paths without spaces: the sink passes them on (quoted).
# Each tries to create a file whose name starts with "pwned".
HOSTILE = [
    "$(touch${IFS}pwned-subst)@example.org",
    "`touch${IFS}pwned-backtick`@example.org",
    "';touch${IFS}pwned-quote;'@example.org",
    "\"$(touch${IFS}pwned-dq)\"@example.org",
    "x;touch${IFS}pwned-semi;@example.org",
    "a|touch${IFS}pwned-pipe|@example.org",
    "it's'\\''$(touch${IFS}pwned-esc)@example.org",
    "%F%%F$SENDER@example.org",
]


def cmd_hostile(maildir, extra):
    senders = []
    for k, s in enumerate(HOSTILE):
        raw = ("Return-Path: <%s>\nFrom: hostile@example.org\n"
               "Subject: hostile %d\nX-Hostile: %d\n\nbody %d\n"
               % (s, k, k, k)).encode()
        # Sorts after mailgen's names, so these come last in POP3 order.
        name = "%d.Mhostile%dP0.deliver" % (1900000000 + k, k)
        with open(os.path.join(maildir, "new", name), "wb") as f:
            f.write(raw)
        senders.append(s)
    # A Return-Path without <> is taken up to the first space.
    raw = (b"Return-Path: $(touch${IFS}pwned-bare)@example.org trailing\n"
           b"Subject: bare\n\nbody\n")
    with open(os.path.join(maildir, "new",
                           "1900000100.Mhostilebare.deliver"), "wb") as f:
        f.write(raw)
    senders.append("$(touch${IFS}pwned-bare)@example.org")
    with open(extra, "w") as f:
        json.dump(senders, f)
    print("%d hostile messages" % len(senders))


def main():
    a = sys.argv[1:]
    if not a:
        die("usage: see the header of this file")
    cmd = a.pop(0)
    opt = {}
    for name in ("--extra", "--deleted"):
        if name in a:
            i = a.index(name)
            opt[name] = a[i + 1]
            del a[i:i + 2]
    if cmd == "python-mbox" and len(a) == 2:
        cmd_python_mbox(*a)
    elif cmd == "formail" and len(a) == 3:
        cmd_formail(*a)
    elif cmd == "procmail" and len(a) == 3:
        cmd_procmail(*a)
    elif cmd == "senders" and len(a) == 2:
        cmd_senders(a[0], a[1], opt.get("--extra"))
    elif cmd == "server" and len(a) == 3:
        cmd_server(a[0], a[1], a[2], opt.get("--deleted"))
    elif cmd == "server-prefix" and len(a) == 4:
        cmd_server_prefix(*a)
    elif cmd == "hostile" and len(a) == 2:
        cmd_hostile(*a)
    else:
        die("bad arguments; see the header of this file")


if __name__ == "__main__":
    main()
