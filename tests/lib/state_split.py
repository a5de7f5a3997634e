#!/usr/bin/env python3
"""state_split.py: split a manifest by the sizes the server reports.

    state_split.py --manifest M --port P --user U --password-file F
                   --ca-file CA --small OUT1 --large OUT2

Asks the server (POP3 over implicit TLS on localhost:P) for LIST, maps
message n to the manifest's message at position n-1 (Dovecot numbers a
fresh mailgen corpus in manifest order; checked by the count), picks a
threshold in the middle of the widest gap between sizes near the median
(so no message is within a few bytes of it), writes the messages at or
below it to OUT1 and the others to OUT2 (manifest format), and prints the
threshold.
"""

import argparse
import json
import poplib
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    for a in ("manifest", "port", "user", "password-file", "ca-file",
              "small", "large"):
        ap.add_argument("--" + a, required=True)
    args = ap.parse_args()
    with open(args.manifest) as f:
        man = json.load(f)
    msgs = man["messages"]
    ctx = ssl.create_default_context(cafile=args.ca_file)
    pop = poplib.POP3_SSL("localhost", int(args.port), context=ctx,
                          timeout=30)
    with open(args.password_file) as f:
        pw = f.readline().rstrip("\n")
    pop.user(args.user)
    pop.pass_(pw)
    _, lines, _ = pop.list()
    pop.quit()
    sizes = {}
    for ln in lines:
        n, s = ln.split()
        sizes[int(n)] = int(s)
    if len(sizes) != len(msgs):
        sys.exit("state_split.py: server has %d messages, manifest %d"
                 % (len(sizes), len(msgs)))
    order = sorted(sizes.values())
    lo, hi = len(order) // 4, 3 * len(order) // 4
    best = max(range(lo, hi), key=lambda i: order[i + 1] - order[i])
    if order[best + 1] - order[best] < 4:
        sys.exit("state_split.py: no gap between sizes")
    thr = (order[best] + order[best + 1]) // 2
    small = [m for i, m in enumerate(msgs) if sizes[i + 1] <= thr]
    large = [m for i, m in enumerate(msgs) if sizes[i + 1] > thr]
    for path, part in ((args.small, small), (args.large, large)):
        with open(path, "w") as f:
            json.dump({"seed": man.get("seed"), "messages": part}, f)
    print(thr)


if __name__ == "__main__":
    main()
