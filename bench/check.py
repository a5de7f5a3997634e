#!/usr/bin/env python3
"""check.py: check a benchmark delivery against a gen.py manifest.

    check.py --manifest M (--maildir DIR [--maildir DIR...] | --mbox FILE)

Client-neutral: each client may put header fields of its own in front of
a message (popfetch, mpop and fetchmail each add a Received: field), so a
delivered message is accepted when it is such a block of header lines
(no blank line) followed by exactly the manifest's bytes. The message is
found by its "X-Bench-Id: N" field. Every manifest message must be there
exactly once in each target, nothing else may be, and a Maildir's tmp/
must be empty.
mbox (mboxrd): split at "From " lines that follow a blank line; the body
before that blank line is the message (gen.py writes no "From " lines in
bodies, so no quoting is involved). Exit 0 when all is well, else 1 with
the problems on stderr.
"""

import argparse
import hashlib
import json
import os
import re
import sys

ID_RE = re.compile(rb"(?m)^X-Bench-Id: (\d+)$")
PREFIX_RE = re.compile(rb"\A(?:[!-9;-~]+:[^\n]*\n|[ \t][^\n]*\n)*\Z")


def maildir_items(path, probs):
    """Yield (where, bytes) for each message file of a Maildir."""
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            probs.append("'%s' is missing" % d)
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                yield "%s/%s" % (sub, name), f.read()
    tmp = os.path.join(path, "tmp")
    if os.path.isdir(tmp) and os.listdir(tmp):
        probs.append("tmp/ is not empty")


def mbox_items(path, probs):
    """Yield (where, bytes) for each message of an mboxrd file."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"From "):
        probs.append("mbox does not start with a From line")
        return
    starts = [0] + [m.start() + 2 for m in re.finditer(rb"\n\nFrom ", data)]
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(data)
        chunk = data[s:e]
        nl = chunk.find(b"\n")
        body = chunk[nl + 1:]
        if not body.endswith(b"\n\n"):
            probs.append("mbox message %d: no blank line after it" % (k + 1))
        yield "mbox message %d" % (k + 1), body[:-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--maildir", action="append",
                   help="may be repeated: each Maildir must hold the "
                   "whole manifest")
    g.add_argument("--mbox")
    args = ap.parse_args()
    with open(args.manifest) as f:
        man = {m["id"]: m for m in json.load(f)["messages"]}
    probs = []
    for target in args.maildir or [None]:
        check(man, target, args.mbox, probs)
    for p in probs[:20]:
        print("check: " + p, file=sys.stderr)
    if probs:
        print("check: %d problems" % len(probs), file=sys.stderr)
        sys.exit(1)


def check(man, maildir, mbox, probs):
    """Append to probs what is wrong with one delivery target."""
    seen = {}
    items = maildir_items(maildir, probs) if maildir else \
        mbox_items(mbox, probs)
    for where, data in items:
        m = ID_RE.search(data)
        ref = man.get(int(m.group(1))) if m else None
        if ref is None:
            probs.append("%s: unknown message (%d bytes)" % (where, len(data)))
            continue
        n = ref["length"]
        head, tail = data[:-n], data[-n:]
        if len(data) < n or \
                hashlib.sha256(tail).hexdigest() != ref["sha256"]:
            probs.append("%s: message %d is not byte-exact (%d bytes, "
                         "%d expected + prefix)" % (where, ref["id"],
                                                    len(data), n))
        elif not PREFIX_RE.match(head):
            probs.append("%s: message %d has a bad prefix %r"
                         % (where, ref["id"], head[:200]))
        seen[ref["id"]] = seen.get(ref["id"], 0) + 1
    for mid in man:
        if seen.get(mid, 0) != 1:
            probs.append("%s: message %d delivered %d times"
                         % (maildir or mbox, mid, seen.get(mid, 0)))


if __name__ == "__main__":
    main()
