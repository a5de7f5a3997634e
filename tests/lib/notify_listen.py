#!/usr/bin/env python3
"""notify_listen.py: a stand-in for systemd's notification socket.

    notify_listen.py ADDRESS OUTFILE

Binds a Unix datagram socket at ADDRESS (a path, or '@name' for an
abstract name), then appends every datagram received to OUTFILE, one per
line, until killed. OUTFILE.ready is created once the socket is bound.
"""
import socket
import sys


def main():
    addr, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
    open(out + ".ready", "w").close()
    with open(out, "a") as f:
        while True:
            msg = s.recv(4096)
            f.write(msg.decode("utf-8", "replace").replace("\n", " ") + "\n")
            f.flush()


if __name__ == "__main__":
    main()
