#!/usr/bin/env python3
"""ux_syslog.py: a minimal syslog sink on a unix datagram socket.

    ux_syslog.py SOCKET OUTFILE

Binds SOCKET (mode 0666), then appends every datagram it receives to
OUTFILE as one line (trailing newlines and NULs removed), flushing each
one. Creates OUTFILE.ready once it listens. SIGTERM stops it.
"""

import os
import signal
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with open(out + ".ready", "w"):
        pass
    with open(out, "ab") as f:
        while True:
            data = s.recv(65536)
            f.write(data.rstrip(b"\n\0").replace(b"\n", b" ") + b"\n")
            f.flush()


if __name__ == "__main__":
    main()
