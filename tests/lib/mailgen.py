#!/usr/bin/env python3
"""mailgen.py: write a deterministic test corpus into a server Maildir.

    mailgen.py --maildir DIR --manifest FILE [--seed S] [--count N] [--big]
               [--start K] [--demo] [--plain] [--size MIN:MAX]

Writes N messages into DIR/new/ (the Maildir Dovecot serves) and a JSON
manifest that lists, per message, the SHA-256 and length of the bytes
popfetch must deliver for it (without the Received: field popfetch adds).
The same seed always gives the same bytes.

What Dovecot 2.3.19 serves for a Maildir file (checked with a raw POP3
session, RETR of each case; see tests/lib/README.md):
  - a bare LF is sent as CRLF; a CRLF already in the file is sent as is
    (not doubled); a bare CR (also "\\r\\r\\n", and a CR at the very end)
    is sent unchanged;
  - a file that lacks a final newline gets CRLF added before the ".";
  - an empty file is sent as one empty line ("+OK 0 octets", CRLF, "."),
    although LIST says 0 octets: a client delivers a single "\\n";
  - NUL and 8-bit bytes, and lines of 80,000+ bytes, pass unchanged;
  - lines starting with "." are dot-stuffed; nothing else is altered
    ("From " lines are not quoted; Return-Path is not touched).
So the bytes a client delivers after CRLF->LF and dot-unstuffing are
expected(file) = file with CRLF replaced by LF, plus "\\n" when the result
does not end with one. expected() below is that rule; verify.py uses it
too, to recognise messages still on the server.

By default (--count 500) the corpus holds every nasty case below, spread
over the corpus at seeded positions, and ordinary messages for the rest;
--big adds a 5 MB message with a base64 attachment at position count/3.
--plain leaves the nasty cases out; --size MIN:MAX sets the size of the
ordinary messages. --demo writes about 20 readable messages instead.
Every message except the empty one carries "X-Mailgen-Id: <id>", so all
expected hashes differ (checked) and verify.py can name a corrupt one.
"""

import argparse
import base64
import email.header
import hashlib
import json
import os
import random
import re
import sys

BASE_TIME = 1600000000


def expected(raw):
    """Return what a POP3 client must deliver for a Maildir file's bytes."""
    out = raw.replace(b"\r\n", b"\n")
    if not out.endswith(b"\n"):
        out += b"\n"
    return out


def wire_length(raw):
    """Return the RETR body size on the wire, terminator included."""
    data = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    if not data.endswith(b"\n"):
        data += b"\r\n"
    stuffed = re.sub(rb"(?m)^\.", b"..", data)
    return len(stuffed) + 3


def envelope_sender(raw):
    """The envelope sender popfetch should derive (%F, docs/contract.md §4)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^Return-Path:[ \t]*<([^>\n]*)>", head)
    if m is None or m.group(1) == b"":
        return "MAILER-DAEMON"
    return m.group(1).decode("latin-1")


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu mail pop fetch message "
         "server client maildir mbox deliver delete keep retry").split()

SENDERS = ("alice@example.org", "bob@example.net", "carol@example.com",
           "dave+list@example.org", "eve@sub.example.net")


def header(rng, mid, subject, sender=None, extra=b""):
    """Build an ordinary header block (without the blank line)."""
    if sender is None:
        sender = rng.choice(SENDERS)
    day = 1 + mid % 28
    h = (b"Return-Path: <" + sender.encode() + b">\n"
         b"From: <" + sender.encode() + b">\n"
         b"To: <alice@example.org>\n"
         b"Subject: " + subject + b"\n"
         b"Date: Mon, %d Jan 2024 10:%02d:%02d +0000\n" % (day, mid % 60,
                                                           (mid * 7) % 60) +
         b"Message-ID: <mailgen-%d@example.org>\n" % mid +
         b"X-Mailgen-Id: %d\n" % mid)
    return h + extra


def text_lines(rng, nbytes):
    """Return roughly nbytes of random text lines ending in LF."""
    out = []
    total = 0
    while total < nbytes:
        n = rng.randint(3, 14)
        line = " ".join(rng.choice(WORDS) for _ in range(n)).encode() + b"\n"
        out.append(line)
        total += len(line)
    return b"".join(out)


def ordinary(rng, mid, sizes):
    """An everyday message: text, sometimes a small base64 part."""
    size = rng.randint(*sizes)
    h = header(rng, mid, b"ordinary message %d" % mid)
    if rng.random() < 0.2:
        blob = bytes(rng.getrandbits(8) for _ in range(max(size // 2, 16)))
        enc = base64.encodebytes(blob)
        body = (b"MIME-Version: 1.0\n"
                b"Content-Type: multipart/mixed; boundary=\"b%d\"\n\n" % mid +
                b"--b%d\nContent-Type: text/plain\n\n" % mid +
                text_lines(rng, size // 2) +
                b"--b%d\nContent-Type: application/octet-stream\n"
                b"Content-Transfer-Encoding: base64\n\n" % mid + enc +
                b"--b%d--\n" % mid)
        return h + body
    return h + b"\n" + text_lines(rng, size)


def big(rng, mid):
    """A 5 MB message with a base64 attachment."""
    blob = rng.randbytes(3_800_000) if hasattr(rng, "randbytes") else \
        bytes(rng.getrandbits(8) for _ in range(3_800_000))
    h = header(rng, mid, b"big attachment %d" % mid)
    return (h + b"MIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"big\"\n\n"
            b"--big\nContent-Type: text/plain\n\nsee attachment\n"
            b"--big\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\n\n" +
            base64.encodebytes(blob) + b"--big--\n")


def nasty_cases(rng, next_id):
    """Return [(kind, bytes)] for every nasty case; ids from next_id()."""
    cases = []

    def add(kind, make):
        cases.append((kind, make(next_id())))

    cases.append(("empty", b""))
    add("no-final-newline", lambda i: header(rng, i, b"no final newline") +
        b"\nthe last line has no newline")
    add("headers-only-no-newline", lambda i: header(
        rng, i, b"only headers")[:-1])
    add("no-separator", lambda i: b"X-Mailgen-Id: %d\nthis is not a header"
        b" line\nnor is this\n" % i)
    add("nul-bytes", lambda i: header(rng, i, b"nul \x00 in subject") +
        b"\nnul\x00inside\n\x00\x00\n\x00 at start\nend\x00")
    add("bare-cr", lambda i: header(rng, i, b"bare cr") +
        b"\nbare\rcr inside\nline ends cr lf\r\ncr cr lf\r\r\n\r\n"
        b"\rstarts with cr\nends with cr\r")
    add("crlf-file", lambda i: header(rng, i, b"crlf file").replace(
        b"\n", b"\r\n") + b"\r\nthis file has CRLF\r\nline ends\r\n.\r\n")
    add("dots", lambda i: header(rng, i, b"dots") +
        b"\n.\n..\n...\n.x\n..x\n. space\n.\r\n.\n\nlast line is a dot\n.")
    add("dot-last-with-newline", lambda i: header(rng, i, b"dot last") +
        b"\nbody\n.\n")
    add("dot-only-body", lambda i: header(rng, i, b"dot only") + b"\n.\n")
    add("from-lines", lambda i: header(rng, i, b"from lines") +
        b"\nFrom the start\nFrom x Mon Jan  1 00:00:00 2024\n>From one\n"
        b">>From two\n>>>From three\n>>>>From four\nFrom\nFromage\n"
        b" From indented\n>From\n>>From: not quoted\nFrom \n")
    add("from-first-body-line", lambda i: header(rng, i, b"from first") +
        b"\nFrom here on\n")
    add("from-envelope-first-line", lambda i: b"From someone@example.org "
        b"Mon Jan  1 00:00:00 2024\n" + header(rng, i, b"envelope") +
        b"\nbody\n")
    add("received-first", lambda i: b"Received: from mx.example.org by "
        b"pop.example.org with ESMTP\n\tid 1; Mon, 1 Jan 2024 00:00:00 "
        b"+0000\n" + header(rng, i, b"own received") + b"\nbody\n")
    add("eight-bit", lambda i: header(rng, i, b"\xe9t\xe9 \xff\xfe") +
        b"\n\xc3\xa9t\xc3\xa9 utf-8\n\xff\xfe\x80\x81 not utf-8\n" +
        bytes(range(128, 256)) + b"\n" + bytes(range(1, 32)).replace(
            b"\n", b"").replace(b"\r", b"") + b"\n")
    add("long-line-12k", lambda i: header(rng, i, b"12k line") + b"\n" +
        b"L" * 12000 + b"\nshort\n" + b".M" * 6000 + b"\n")
    add("long-line-100k", lambda i: header(rng, i, b"100k line") + b"\n" +
        bytes(rng.choice(b"abcdefgh ") for _ in range(100_000)) + b"\n")
    add("long-header", lambda i: header(rng, i, b"long header") +
        b"X-Long: " + b"h" * 20000 + b"\n\nbody\n")

    # A CR at the 4 KiB and 8 KiB buffer boundaries, and a CRLF split
    # across one: where offsets 4095 and 8191 of the file fall.
    def boundary(i):
        h = header(rng, i, b"buffer boundaries") + b"\n"
        body = bytearray(b"b" * 9000)
        for off in (4095, 8191):
            body[off - len(h)] = 0x0D
        body[6000 - len(h)] = 0x0D
        body[6001 - len(h)] = 0x0A
        for k in range(100, 9000, 777):
            body[k] = 0x0A
        return h + bytes(body) + b"\n"
    add("buffer-boundaries", boundary)
    add("terminator-in-body", lambda i: header(rng, i, b"fake terminator") +
        b"\nline\n.\nmore after a lone dot\n\r\n.\r\nand after crlf dot\n")

    # Envelope senders, for mbox From lines and the MDA's %F.
    add("return-path-empty", lambda i: header(
        rng, i, b"bounce", sender="") + b"\nbounce\n")
    add("return-path-missing", lambda i: re.sub(
        rb"(?m)^Return-Path:.*\n", b"", header(rng, i, b"no return path")) +
        b"\nno return-path\n")
    add("return-path-hostile-subst", lambda i: header(
        rng, i, b"hostile", sender="$(touch pwned)@example.org") +
        b"\nhostile sender\n")
    add("return-path-hostile-quote", lambda i: header(
        rng, i, b"hostile quote", sender="'; touch pwned; '@example.org") +
        b"\nquote in sender\n")
    add("return-path-hostile-backtick", lambda i: header(
        rng, i, b"hostile backtick", sender="`touch pwned`\"x\"@example.org")
        + b"\nbacktick in sender\n")
    return cases


DEMO = [
    ("alice@example.org", "Welcome to popfetch",
     "Hi!\n\nThis message came from a throwaway Dovecot server over\n"
     "implicit TLS, and popfetch stored it in a Maildir.\n"),
    ("bob@example.net", "Lunch on Friday?",
     "Are you free for lunch on Friday? The usual place at noon.\n"),
    ("carol@example.com", "Quarterly report",
     "The quarterly report is attached in spirit.\n\nNumbers look good.\n"),
    ("dave@example.org", "Re: build failure",
     "> the build fails on ARM\n\nFixed in the latest commit, thanks.\n"),
    ("eve@example.net", "Photos from the trip",
     "I will upload the photos tonight.\n"),
    ("frank@example.com", "Meeting notes",
     "1. Ship it\n2. Write the docs\n3. Celebrate\n"),
    ("grace@example.org", "Question about POP3",
     "Does UIDL really keep track of what I already downloaded?\n"),
    ("heidi@example.net", "Invoice 2024-017",
     "Please find invoice 2024-017 below.\n\nTotal: 42.00 EUR\n"),
    ("ivan@example.com", "Book club",
     "Next month we read 'The Mythical Man-Month'.\n"),
    ("judy@example.org", "Happy birthday!",
     "Many happy returns of the day!\n"),
    ("mallory@example.net", "From the archives",
     "From the archives: a line starting with From stays intact.\n"),
    ("niaj@example.com", "Dots",
     "A line with a single dot follows.\n.\nDot-stuffing is undone.\n"),
    ("olivia@example.org", "Caf\u00e9 opening",
     "The new caf\u00e9 opens on Monday. \u00c0 bient\u00f4t!\n"),
    ("peggy@example.net", "Server maintenance",
     "The mail server will be down on Sunday 02:00-04:00 UTC.\n"),
    ("rupert@example.com", "Recipe",
     "Flour, water, salt, yeast. Patience.\n"),
    ("sybil@example.org", "Conference talk accepted",
     "Your talk 'Reliable mail fetching' has been accepted.\n"),
    ("trent@example.net", "Password reset (not really)",
     "Nobody will ever ask you for your password by mail.\n"),
    ("victor@example.com", "Weekend plans",
     "Hiking if the weather holds.\n"),
    ("walter@example.org", "Release 0.1.0",
     "popfetch 0.1.0 is out. No loss, no duplicates.\n"),
    ("", "Delivery status notification",
     "This is a bounce: its Return-Path is empty, so the sender is\n"
     "MAILER-DAEMON.\n"),
]


def demo_messages():
    """Return [(kind, bytes)] of readable messages for scripts/demo."""
    out = []
    for n, (sender, subject, body) in enumerate(DEMO, 1):
        frm = sender if sender else "mailer-daemon@example.org"
        subject = email.header.Header(subject, "utf-8").encode() \
            if not subject.isascii() else subject
        msg = ("Return-Path: <%s>\nFrom: %s\nTo: you@example.org\n"
               "Subject: %s\nDate: Mon, %d Jan 2024 09:%02d:00 +0000\n"
               "Message-ID: <demo-%d@example.org>\nX-Mailgen-Id: %d\n"
               "MIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=utf-8\n\n%s"
               % (sender, frm, subject, n, n, n, n, body))
        out.append(("demo", msg.encode("utf-8")))
    return out


def parse_size(text):
    """Parse MIN:MAX for --size."""
    a, _, b = text.partition(":")
    lo, hi = int(a), int(b or a)
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError("bad size range %r" % text)
    return lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--start", type=int, default=1,
                    help="first message id (to add a second batch)")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--plain", action="store_true",
                    help="ordinary messages only")
    ap.add_argument("--size", type=parse_size, default=(200, 20000),
                    help="ordinary message size range MIN:MAX")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    counter = [args.start - 1]

    def next_id():
        counter[0] += 1
        return counter[0]

    if args.demo:
        msgs = demo_messages()
        counter[0] = args.start - 1 + len(msgs)
    else:
        fixed = [] if args.plain else nasty_cases(rng, next_id)
        if args.big:
            fixed.append(("big-5mb", big(rng, next_id())))
        if len(fixed) > args.count:
            sys.exit("mailgen.py: --count %d is below the %d fixed cases"
                     % (args.count, len(fixed)))
        n_ord = args.count - len(fixed)
        msgs = [("ordinary", ordinary(rng, next_id(), args.size))
                for _ in range(n_ord)]
        bigmsg = [m for m in fixed if m[0] == "big-5mb"]
        rest = [m for m in fixed if m[0] != "big-5mb"]
        for m in rest:
            msgs.insert(rng.randint(0, len(msgs)), m)
        for m in bigmsg:
            msgs.insert(args.count // 3, m)

    newdir = os.path.join(args.maildir, "new")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    seen = {}
    manifest = {"seed": args.seed, "messages": []}
    for pos, (kind, raw) in enumerate(msgs):
        m = re.search(rb"(?m)^X-Mailgen-Id: (\d+)$", raw)
        mid = int(m.group(1)) if m else 0
        # The name's time part orders the messages: Dovecot gives UIDs in
        # name order when it first scans new/.
        name = "%d.M%dP%d.mailgen" % (BASE_TIME + args.start + pos,
                                      args.start + pos, args.seed)
        exp = expected(raw)
        digest = hashlib.sha256(exp).hexdigest()
        if digest in seen:
            sys.exit("mailgen.py: messages %s and %s would be identical"
                     % (seen[digest], name))
        seen[digest] = name
        with open(os.path.join(newdir, name), "wb") as f:
            f.write(raw)
        manifest["messages"].append({
            "id": mid, "pos": pos, "kind": kind, "file": name,
            "sha256": digest, "length": len(exp),
            "wire_length": wire_length(raw),
            "sender": envelope_sender(raw),
            "subject": (re.search(rb"(?mi)^Subject: (.*)$", raw) or
                        re.match(rb"()", b"")).group(1).decode("latin-1"),
        })
    with open(args.manifest, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
