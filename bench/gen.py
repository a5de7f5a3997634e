#!/usr/bin/env python3
"""gen.py: write one benchmark workload into a Maildir, deterministically.

    gen.py --maildir DIR --manifest FILE --count N --size BYTES
           [--kind text|attach] [--seed S]

Every message is exactly BYTES long (LF line ends, as Dovecot stores
mail): an ordinary header block with a unique "X-Bench-Id: N", then for
--kind text lines of words (every 50th line starts with a dot, so clients
must undo dot-stuffing), for --kind attach a short text part and a base64
attachment of random bytes (76-column lines), padded to the exact size.
The same seed and arguments always give the same bytes. File names carry
",S=size,W=wire size" so Dovecot need not read a file to size it.

The manifest (JSON) lists per message its id, length and the SHA-256 of
the bytes a client must deliver (the file itself: it ends in LF and has no
CR), for check.py.
"""

import argparse
import base64
import hashlib
import json
import os
import random

BASE_TIME = 1700000000
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu mail pop fetch message "
         "server client maildir mbox deliver delete keep retry").split()


def text_pool(rng, nbytes):
    """Return about nbytes of word lines; every 50th line starts with '.'."""
    out = []
    total = 0
    k = 0
    while total < nbytes:
        n = rng.randint(4, 12)
        line = " ".join(rng.choice(WORDS) for _ in range(n))
        k += 1
        if k % 50 == 0:
            line = "." + line
        b = line.encode() + b"\n"
        out.append(b)
        total += len(b)
    return b"".join(out)


def header(mid, size):
    """An ordinary header block, blank line included."""
    return (b"Return-Path: <sender%d@example.org>\n" % (mid % 7) +
            b"From: Sender %d <sender%d@example.org>\n" % (mid % 7, mid % 7) +
            b"To: <alice@example.org>\n"
            b"Subject: benchmark message %d (%d bytes)\n" % (mid, size) +
            b"Date: Tue, 2 Jan 2024 10:%02d:%02d +0000\n" % (mid % 60,
                                                              mid * 7 % 60) +
            b"Message-ID: <bench-%d@example.org>\n" % mid +
            b"X-Bench-Id: %d\n" % mid +
            b"MIME-Version: 1.0\n")


def pad(msg, size):
    """Cut or pad msg (ending in LF) to exactly size bytes, ending in LF."""
    if len(msg) >= size:
        msg = msg[:size - 1]
        return msg + b"\n"
    need = size - len(msg)
    filler = b""
    while need > 0:
        # Lines of at most 76 bytes plus LF; a 1-byte remainder is "\n".
        n = min(need, 77)
        filler += (b"x" * (n - 1)) + b"\n"
        need -= n
    return msg + filler


def text_message(pool, rng, mid, size):
    """A plain text message of exactly size bytes."""
    h = header(mid, size) + b"Content-Type: text/plain\n\n"
    want = max(size - len(h), 1)
    start = rng.randrange(0, max(len(pool) - want, 1))
    start = pool.find(b"\n", start) + 1
    return pad(h + pool[start:start + want], size)


def attach_message(pool, rng, mid, size):
    """A MIME message with a base64 attachment, exactly size bytes."""
    h = header(mid, size) + (b"Content-Type: multipart/mixed; "
                             b"boundary=\"b%d\"\n\n" % mid)
    text = (b"--b%d\nContent-Type: text/plain\n\n" % mid + pool[:2000] +
            b"\n--b%d\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\n\n" % mid)
    tail = b"\n--b%d--\n" % mid
    room = size - len(h) - len(text) - len(tail)
    raw = rng.randbytes(max(room * 3 // 4 - 64, 3))
    enc = base64.encodebytes(raw)
    body = h + text + enc[:max(room - 80, 0)].rsplit(b"\n", 1)[0] + b"\n"
    body = pad(body, size - len(tail))
    return body + tail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--kind", choices=("text", "attach"), default="text")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    pool = text_pool(rng, 256 * 1024)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    manifest = {"seed": args.seed, "count": args.count, "size": args.size,
                "kind": args.kind, "messages": []}
    for k in range(args.count):
        mid = k + 1
        if args.kind == "text":
            msg = text_message(pool, rng, mid, args.size)
        else:
            msg = attach_message(pool, rng, mid, args.size)
        assert len(msg) == args.size and b"\r" not in msg
        wire = len(msg) + msg.count(b"\n")
        name = "%d.M%dP%d.bench,S=%d,W=%d" % (BASE_TIME + mid, mid,
                                              args.seed, len(msg), wire)
        with open(os.path.join(args.maildir, "new", name), "wb") as f:
            f.write(msg)
        manifest["messages"].append({
            "id": mid, "length": len(msg),
            "sha256": hashlib.sha256(msg).hexdigest()})
    with open(args.manifest, "w") as f:
        json.dump(manifest, f)
        f.write("\n")


if __name__ == "__main__":
    main()
