#!/usr/bin/env python3
"""state_tool.py: read and rewrite popfetch state files in tests.

    state_tool.py FILE dump              one line per live record: KIND UID
                                         SIZE FIRST_SEEN (after the journal)
    state_tool.py FILE age DAYS [UID...] move first_seen of the records (all,
                                         or the UIDs given) DAYS days back
    state_tool.py FILE damage HOW        garbage | badcrc-mid | version |
                                         empty | torn

The format (src/state.c): a header line "popfetch-state 1 <account>", then
records "D|K <uid> <size> <first_seen>", "F <uid>" (forget) and
"L <time>", each line followed by " " and the zlib CRC-32 of the text
before it as 8 lower-case hex digits, then "\\n". "age" rewrites the file
with every line's CRC recomputed, so popfetch must accept the result; a
wrong CRC here makes the test fail with exit 65.
"""

import sys
import zlib


def seal(text):
    """Return the line for text, with its CRC and newline."""
    return b"%s %08x\n" % (text, zlib.crc32(text) & 0xffffffff)


def lines(path):
    """Return the file's lines (text without CRC); check every CRC."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for n, raw in enumerate(data.split(b"\n")[:-1], 1):
        text, _, crc = raw.rpartition(b" ")
        if b"%08x" % (zlib.crc32(text) & 0xffffffff) != crc:
            sys.exit("state_tool.py: line %d: bad CRC" % n)
        out.append(text)
    return out


def live(texts):
    """Replay the journal: {uid: [kind, uid, size, first_seen]}."""
    recs = {}
    for t in texts[1:]:
        f = t.split(b" ")
        if f[0] in (b"D", b"K"):
            recs[f[1]] = f
        elif f[0] == b"F":
            recs.pop(f[1], None)
    return recs


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "dump":
        for f in live(lines(path)).values():
            print(b" ".join(f).decode("latin-1"))
    elif cmd == "age":
        texts = lines(path)
        back = int(float(args[0]) * 86400)
        want = {a.encode() for a in args[1:]}
        out = [seal(texts[0])]
        for t in texts[1:]:
            f = t.split(b" ")
            if f[0] in (b"D", b"K") and (not want or f[1] in want):
                f[3] = b"%d" % (int(f[3]) - back)
                t = b" ".join(f)
            out.append(seal(t))
        with open(path, "wb") as f:
            f.write(b"".join(out))
    elif cmd == "damage":
        with open(path, "rb") as f:
            data = f.read()
        texts = lines(path)
        how = args[0]
        if how == "garbage":
            data = b"\x00\x01 this is not a state file \xff\n" * 3
        elif how == "badcrc-mid":
            # Change a digit of a record in the middle, keep its CRC.
            k = len(texts) // 2
            assert k >= 1 and len(texts) >= 3, "too few records"
            bad = texts[k].replace(b" ", b" 9", 1)
            ls = [seal(t) for t in texts]
            ls[k] = bad + ls[k][len(texts[k]):]
            data = b"".join(ls)
        elif how == "version":
            f = texts[0].split(b" ")
            f[1] = b"99"
            data = b"".join([seal(b" ".join(f))] +
                            [seal(t) for t in texts[1:]])
        elif how == "empty":
            data = b""
        elif how == "torn":
            # Half of one more record, as a kill during an append leaves.
            data += seal(b"D torn-uid-000 1234 1700000000")[:15]
        else:
            sys.exit("state_tool.py: unknown damage %r" % how)
        with open(path, "wb") as f:
            f.write(data)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
