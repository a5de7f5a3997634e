#!/usr/bin/env python3
"""test_plfs.py: the model of plfs, checked through real system calls.

    PLFS=build/tests/plfs python3 tests/powerloss/test_plfs.py [-v] [NAME...]

Each test mounts a fresh plfs over a temp backing directory, does file
system calls on the mount, cuts the power and looks at what is left. These
are the facts the crash trials rely on: unsynced data and unsynced names
are gone after a cut, synced ones stay, fsync(dirfd) arrives as fsyncdir,
and the pages and meta modes leave what they promise. Needs root or a
user allowed to mount FUSE (/dev/fuse, fusermount3).
"""

import ctypes
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

PLFS = os.environ.get("PLFS", "")
PAGE = 4096


def write_file(path, data, sync=False, flags=0):
    """Create or truncate path, write data, fsync when asked."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def sync_dir(path, datasync=False):
    """fsync (or fdatasync) a directory through an O_DIRECTORY fd."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (os.fdatasync if datasync else os.fsync)(fd)
    finally:
        os.close(fd)


class Mount:
    """One plfs: backing dir b/, mount point m/, shadow s/, socket."""

    def __init__(self, top, opts=""):
        self.top = top
        self.b = os.path.join(top, "b")
        self.m = os.path.join(top, "m")
        self.ctlpath = os.path.join(top, "ctl")
        self.trace = os.path.join(top, "trace")
        self.proc = None
        os.makedirs(self.b, exist_ok=True)
        os.makedirs(self.m, exist_ok=True)
        self.opts = opts

    def start(self):
        o = "ctl=%s,shadow=%s,trace=%s" % (
            self.ctlpath, os.path.join(self.top, "s"), self.trace)
        if self.opts:
            o += "," + self.opts
        self.err = open(os.path.join(self.top, "plfs.err"), "wb")
        self.proc = subprocess.Popen([PLFS, "-o", o, self.b, self.m],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("plfs exited: " + self.errors())
            r = subprocess.run([PLFS, "ctl", self.ctlpath, "status"],
                               capture_output=True)
            if r.returncode == 0 and os.path.ismount(self.m):
                return self
            time.sleep(0.05)
        raise RuntimeError("plfs did not come up: " + self.errors())

    def errors(self):
        with open(os.path.join(self.top, "plfs.err"), "rb") as f:
            return f.read().decode(errors="replace")

    def ctl(self, *words):
        r = subprocess.run([PLFS, "ctl", self.ctlpath] +
                           [str(w) for w in words],
                           capture_output=True, timeout=60)
        out = r.stdout.decode().strip()
        if r.returncode != 0:
            raise RuntimeError("plfs ctl %s: %s" % (" ".join(
                str(w) for w in words), out or r.stderr.decode()))
        return out

    def cut(self, mode="strict", seed=0):
        out = self.ctl("cut", mode, seed)
        assert out.startswith("ok cut"), out
        return out

    def status(self):
        out = self.ctl("status").split()
        return dict(w.split("=", 1) for w in out[1:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.path.ismount(self.m):
            subprocess.run(["fusermount3", "-u", "-z", self.m])
        if self.proc is not None:
            self.err.close()

    def p(self, *parts):
        return os.path.join(self.m, *parts)


class PlfsTest(unittest.TestCase):
    """Base: a fresh temp dir; prepare() fills the backing dir first."""

    opts = ""

    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="plfs-test.")
        self.fs = Mount(self.top, self.opts)
        self.prepare(self.fs.b)
        self.fs.start()
        self.m = self.fs.p

    def tearDown(self):
        self.fs.stop()
        shutil.rmtree(self.top, ignore_errors=True)

    def prepare(self, backing):
        """Files present at mount time are durable."""
        os.makedirs(os.path.join(backing, "d"))
        os.makedirs(os.path.join(backing, "e"))
        with open(os.path.join(backing, "old"), "wb") as f:
            f.write(b"old content\n")

    def assertGone(self, *parts):
        self.assertFalse(os.path.lexists(self.m(*parts)),
                         "%s survived the cut" % "/".join(parts))


class Points(PlfsTest):
    """Durability points reach the file system and are counted."""

    def trace_kinds(self):
        with open(self.fs.trace) as f:
            return [ln.split()[2] for ln in f]

    def test_fsync_of_a_directory_arrives_as_fsyncdir(self):
        sync_dir(self.m("d"))
        sync_dir(self.m("d"), datasync=True)
        fd = os.open(self.m("e"), os.O_RDONLY)  # no O_DIRECTORY
        os.fsync(fd)
        os.close(fd)
        self.assertEqual(self.fs.status()["points"], "3")
        self.assertEqual(self.trace_kinds(), ["fsyncdir"] * 3)

    def test_each_kind_is_one_point(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        os.link(self.m("old"), self.m("d", "hard"))
        os.rename(self.m("d", "hard"), self.m("e", "moved"))
        sync_dir(self.m("e"))
        os.close(os.open(self.m("new"), os.O_CREAT | os.O_WRONLY, 0o600))
        os.unlink(self.m("new"))
        self.assertEqual(self.trace_kinds(), ["fsync", "fdatasync", "link",
                                              "rename", "fsyncdir"])
        self.assertEqual(self.fs.status()["points"], "5")

    def test_close_is_not_a_point(self):
        write_file(self.m("old"), b"x")
        self.assertEqual(self.fs.status()["points"], "0")


class FileData(PlfsTest):
    """A file's data is durable at fsync or fdatasync, not before."""

    def test_write_without_fsync_is_lost(self):
        write_file(self.m("old"), b"new content\n")
        self.assertEqual(read_file(self.m("old")), b"new content\n")
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_write_with_fsync_stays(self):
        write_file(self.m("old"), b"new content\n", sync=True)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"new content\n")

    def test_write_with_fdatasync_stays(self):
        fd = os.open(self.m("old"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"datasync")
        os.fdatasync(fd)
        os.close(fd)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"datasync")

    def test_writes_after_the_fsync_are_lost(self):
        fd = os.open(self.m("old"), os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"first")
        os.fsync(fd)
        os.write(fd, b" second")
        os.close(fd)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"first")

    def test_ftruncate_without_fsync_is_undone(self):
        fd = os.open(self.m("old"), os.O_WRONLY)
        os.ftruncate(fd, 3)
        os.close(fd)
        os.truncate(self.m("old"), 2)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_ftruncate_with_fsync_stays(self):
        fd = os.open(self.m("old"), os.O_WRONLY)
        os.ftruncate(fd, 3)
        os.fsync(fd)
        os.ftruncate(fd, 100)  # an extension, not synced
        os.close(fd)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old")

    def test_o_trunc_without_fsync_is_undone(self):
        fd = os.open(self.m("old"), os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        self.assertEqual(os.path.getsize(self.m("old")), 0)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_o_append_without_fsync_is_undone(self):
        fd = os.open(self.m("old"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"appended\n")
        os.close(fd)
        self.assertEqual(read_file(self.m("old")),
                         b"old content\nappended\n")
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_o_append_with_fdatasync_stays(self):
        fd = os.open(self.m("old"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"one\n")
        os.fdatasync(fd)
        os.write(fd, b"two\n")
        os.close(fd)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\none\n")

    def test_inode_number_survives_a_cut(self):
        ino = os.stat(self.m("old")).st_ino
        write_file(self.m("old"), b"unsynced")
        self.fs.cut()
        self.assertEqual(os.stat(self.m("old")).st_ino, ino)

    def test_mtime_goes_back_with_the_data(self):
        mtime = os.stat(self.m("old")).st_mtime_ns
        time.sleep(0.02)
        write_file(self.m("old"), b"unsynced")
        self.fs.cut()
        self.assertEqual(os.stat(self.m("old")).st_mtime_ns, mtime)

    def test_read_sees_the_volatile_view(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.pwrite(fd, b"NEW", 0)
        self.assertEqual(os.pread(fd, 11, 0), b"NEW content")
        os.close(fd)


class Names(PlfsTest):
    """A namespace change is durable at fsync of its parent directory."""

    def test_new_file_without_dir_fsync_is_gone(self):
        write_file(self.m("d", "f"), b"data", sync=True)
        self.fs.cut()
        self.assertGone("d", "f")

    def test_new_file_with_file_and_dir_fsync_stays(self):
        write_file(self.m("d", "f"), b"data", sync=True)
        sync_dir(self.m("d"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("d", "f")), b"data")

    def test_new_file_with_dir_fsync_only_comes_back_empty(self):
        write_file(self.m("d", "f"), b"data")
        sync_dir(self.m("d"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("d", "f")), b"")

    def test_fsync_of_another_directory_does_not_help(self):
        write_file(self.m("d", "f"), b"data", sync=True)
        sync_dir(self.m("e"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertGone("d", "f")

    def test_unlink_without_dir_fsync_is_undone(self):
        os.unlink(self.m("old"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_unlink_with_dir_fsync_stays(self):
        os.unlink(self.m("old"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertGone("old")

    def test_writes_to_an_unlinked_open_file(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.unlink(self.m("old"))
        os.pwrite(fd, b"OLD", 0)
        os.close(fd)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_fsync_of_an_unlinked_open_file_still_counts(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.unlink(self.m("old"))
        os.pwrite(fd, b"OLD", 0)
        os.fsync(fd)
        os.close(fd)
        self.fs.cut()  # the unlink was never durable: the name is back
        self.assertEqual(read_file(self.m("old")), b"OLD content\n")

    def test_an_unlinked_open_file_still_works(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.unlink(self.m("old"))
        self.assertEqual(os.fstat(fd).st_size, 12)
        self.assertEqual(os.pread(fd, 3, 0), b"old")
        self.assertNotIn("old", os.listdir(self.m()))
        os.close(fd)

    def test_unlink_of_an_open_file_with_dir_fsync_stays(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        os.unlink(self.m("old"))
        sync_dir(self.m())
        self.fs.cut()
        os.close(fd)
        self.assertEqual(sorted(os.listdir(self.m())), ["d", "e"])

    def test_replacing_an_open_file_is_one_change(self):
        """libfuse hides the open target first; meta cuts must still see
        one rename: the name means the old or the new file, never none."""
        seen = set()
        for seed in range(1, 16):
            fd = os.open(self.m("old"), os.O_RDONLY)
            write_file(self.m("tmp"), b"new", sync=True)
            os.rename(self.m("tmp"), self.m("old"))
            self.fs.cut("meta", seed)
            os.close(fd)
            self.assertTrue(os.path.exists(self.m("old")), "seed %d" % seed)
            seen.add(read_file(self.m("old")))
            write_file(self.m("old"), b"old content\n", sync=True)
            sync_dir(self.m())
        self.assertEqual(seen, {b"old content\n", b"new"})

    def test_rename_without_dir_fsync_is_undone(self):
        os.rename(self.m("old"), self.m("d", "renamed"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")
        self.assertGone("d", "renamed")

    def test_rename_in_one_dir_with_dir_fsync_stays(self):
        os.rename(self.m("old"), self.m("renamed"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertGone("old")
        self.assertEqual(read_file(self.m("renamed")), b"old content\n")

    def test_rename_with_only_the_destination_synced_leaves_two_names(self):
        os.rename(self.m("old"), self.m("d", "renamed"))
        sync_dir(self.m("d"))
        self.fs.cut()
        a, b = os.stat(self.m("old")), os.stat(self.m("d", "renamed"))
        self.assertEqual((a.st_ino, a.st_nlink), (b.st_ino, 2))

    def test_rename_with_only_the_source_synced_leaves_none(self):
        os.rename(self.m("old"), self.m("d", "renamed"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertGone("old")
        self.assertGone("d", "renamed")

    def test_replace_by_rename_needs_the_dir_fsync(self):
        write_file(self.m("tmp"), b"replacement", sync=True)
        os.rename(self.m("tmp"), self.m("old"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"old content\n")
        self.assertGone("tmp")

    def test_replace_by_rename_with_dir_fsync(self):
        write_file(self.m("tmp"), b"replacement", sync=True)
        os.rename(self.m("tmp"), self.m("old"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"replacement")
        self.assertGone("tmp")

    def test_replace_by_rename_without_file_fsync_leaves_it_empty(self):
        write_file(self.m("tmp"), b"replacement")
        os.rename(self.m("tmp"), self.m("old"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"")

    def test_rename_exchange_is_durable_per_directory(self):
        write_file(self.m("d", "x"), b"x", sync=True)
        sync_dir(self.m("d"))
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        if libc.renameat2(at_fdcwd, self.m("old").encode(), at_fdcwd,
                          self.m("d", "x").encode(), rename_exchange) != 0:
            self.fail("renameat2: %s" % os.strerror(ctypes.get_errno()))
        self.assertEqual(read_file(self.m("old")), b"x")
        sync_dir(self.m("d"))  # only d/x now names the old file
        self.fs.cut()
        self.assertEqual(read_file(self.m("d", "x")), b"old content\n")
        self.assertEqual(read_file(self.m("old")), b"old content\n")

    def test_link_without_dir_fsync_is_undone(self):
        os.link(self.m("old"), self.m("d", "hard"))
        self.fs.cut()
        self.assertGone("d", "hard")
        self.assertEqual(os.stat(self.m("old")).st_nlink, 1)

    def test_link_with_dir_fsync_stays_a_hard_link(self):
        os.link(self.m("old"), self.m("d", "hard"))
        sync_dir(self.m("d"))
        write_file(self.m("old"), b"unsynced")
        self.fs.cut()
        a, b = os.stat(self.m("old")), os.stat(self.m("d", "hard"))
        self.assertEqual((a.st_ino, a.st_nlink), (b.st_ino, 2))
        self.assertEqual(read_file(self.m("d", "hard")), b"old content\n")

    def test_maildir_delivery_pattern(self):
        """tmp/ file, fsync, link into new/, unlink, fsync new/."""
        for sub in ("tmp", "new"):
            os.mkdir(self.m("d", sub))
        sync_dir(self.m("d"))
        write_file(self.m("d", "tmp", "m1"), b"message", sync=True)
        os.link(self.m("d", "tmp", "m1"), self.m("d", "new", "m1"))
        os.unlink(self.m("d", "tmp", "m1"))
        sync_dir(self.m("d", "new"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("d", "new", "m1")), b"message")
        self.assertGone("d", "tmp", "m1")
        self.assertEqual(os.stat(self.m("d", "new", "m1")).st_nlink, 1)

    def test_symlink_needs_the_dir_fsync(self):
        os.symlink("old", self.m("d", "s1"))
        os.symlink("target", self.m("e", "s2"))
        sync_dir(self.m("e"))
        self.fs.cut()
        self.assertGone("d", "s1")
        self.assertEqual(os.readlink(self.m("e", "s2")), "target")

    def test_mknod_fifo_needs_the_dir_fsync(self):
        os.mkfifo(self.m("d", "fifo"))
        os.mkfifo(self.m("e", "fifo"))
        sync_dir(self.m("e"))
        self.fs.cut()
        self.assertGone("d", "fifo")
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.m("e", "fifo")).st_mode))

    def test_mkdir_needs_the_parent_fsync(self):
        os.mkdir(self.m("d", "sub"))
        write_file(self.m("d", "sub", "f"), b"deep", sync=True)
        sync_dir(self.m("d", "sub"))
        self.fs.cut()
        self.assertGone("d", "sub")

    def test_mkdir_with_parent_fsync(self):
        os.mkdir(self.m("d", "sub"))
        write_file(self.m("d", "sub", "f"), b"deep", sync=True)
        sync_dir(self.m("d", "sub"))
        sync_dir(self.m("d"))
        self.fs.cut()
        self.assertEqual(read_file(self.m("d", "sub", "f")), b"deep")

    def test_rmdir_without_parent_fsync_is_undone(self):
        os.rmdir(self.m("d"))
        self.fs.cut()
        self.assertTrue(os.path.isdir(self.m("d")))

    def test_directory_rename_keeps_its_content(self):
        write_file(self.m("d", "f"), b"in d", sync=True)
        sync_dir(self.m("d"))
        os.rename(self.m("d"), self.m("e", "d2"))
        sync_dir(self.m("e"))
        sync_dir(self.m())
        self.fs.cut()
        self.assertEqual(read_file(self.m("e", "d2", "f")), b"in d")
        self.assertGone("d")

    def test_o_tmpfile_is_not_supported(self):
        """libfuse 3.14 has no tmpfile call: O_TMPFILE gets EOPNOTSUPP,
        and popfetch falls back to a named temp file (sink_tmpfile)."""
        with self.assertRaises(OSError) as cm:
            os.open(self.m("d"), os.O_TMPFILE | os.O_RDWR, 0o600)
        self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)


class Cuts(PlfsTest):
    """The cut itself: handles, repeated cuts, locks."""

    def test_a_handle_from_before_the_cut_fails(self):
        fd = os.open(self.m("old"), os.O_RDWR)
        self.fs.cut()
        with self.assertRaises(OSError) as cm:
            os.write(fd, b"after the power is gone")
        self.assertEqual(cm.exception.errno, errno.EIO)
        os.close(fd)

    def test_second_cut_starts_from_the_first(self):
        write_file(self.m("old"), b"v2", sync=True)
        self.fs.cut()
        write_file(self.m("old"), b"v3")
        write_file(self.m("d", "f"), b"f", sync=True)
        self.fs.cut()
        self.assertEqual(read_file(self.m("old")), b"v2")
        self.assertGone("d", "f")

    def test_points_count_from_the_cut(self):
        write_file(self.m("old"), b"x", sync=True)
        self.fs.cut()
        self.assertEqual(self.fs.status()["points"], "0")
        self.assertEqual(self.fs.status()["cuts"], "1")

    def test_fcntl_locks_work_across_processes(self):
        import fcntl
        fd = os.open(self.m("old"), os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = subprocess.run([sys.executable, "-c", "import fcntl, os, sys\n"
                            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                            "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
                            self.m("old")], capture_output=True)
        os.close(fd)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"Resource temporarily unavailable", r.stderr)

    def test_untouched_tree_survives_intact(self):
        self.fs.cut()
        self.assertEqual(sorted(os.listdir(self.m())), ["d", "e", "old"])
        self.assertEqual(read_file(self.m("old")), b"old content\n")


CHILD = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"one"); os.fsync(fd)
os.write(fd, b" two"); os.fsync(fd)
os.write(fd, b" three"); os.fsync(fd)
print("survived"); sys.stdout.flush()
"""


class Freeze(PlfsTest):
    """Armed at point N, the N-th durability call freezes until a cut."""

    opts = "freeze_point=2"

    def run_child(self, after_freeze):
        child = subprocess.Popen([sys.executable, "-c", CHILD,
                                  self.m("old")], stdout=subprocess.PIPE)
        out = self.fs.ctl("wait", 20)
        self.assertTrue(out.startswith("frozen"), out)
        after_freeze(child)
        child.wait(20)
        printed = child.stdout.read()
        child.stdout.close()
        return child, out, printed

    def test_freeze_then_kill_then_cut(self):
        def kill_and_cut(child):
            child.send_signal(signal.SIGKILL)
            self.fs.cut()
        child, out, printed = self.run_child(kill_and_cut)
        self.assertIn("point=2", out)
        self.assertIn("kind=fsync", out)
        self.assertEqual(child.returncode, -signal.SIGKILL)
        self.assertEqual(printed, b"")  # it never ran past the freeze
        # the first fsync took effect, the frozen second one did not
        self.assertEqual(read_file(self.m("old")), b"one")

    def test_frozen_call_fails_with_eio_after_the_cut(self):
        child = subprocess.Popen(
            [sys.executable, "-c", "import os, sys\n"
             "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
             "os.fsync(fd)\n"
             "try:\n os.fsync(fd)\nexcept OSError as e:\n"
             " print(e.errno); sys.exit(3)\n", self.m("old")],
            stdout=subprocess.PIPE)
        self.assertTrue(self.fs.ctl("wait", 20).startswith("frozen"))
        self.fs.cut()
        out = child.communicate(timeout=20)[0]
        self.assertEqual(child.returncode, 3)
        self.assertEqual(out.strip(), str(errno.EIO).encode())

    def test_wait_without_a_freeze_times_out(self):
        self.assertTrue(self.fs.ctl("wait", 1).startswith("running"))


class FreezeOp(PlfsTest):
    """Armed at op N: the N-th modifying call of any kind freezes."""

    opts = "freeze_op=3"

    def test_freeze_at_the_third_op(self):
        child = subprocess.Popen([sys.executable, "-c", CHILD,
                                  self.m("old")])
        out = self.fs.ctl("wait", 20)
        # O_TRUNC open, write "one", then the fsync: op 3, point 1
        self.assertIn("op=3", out)
        self.assertIn("point=1", out)
        child.kill()
        self.fs.cut()
        child.wait(20)
        self.assertEqual(read_file(self.m("old")), b"old content\n")


class Pages(PlfsTest):
    """pages: unsynced data survives per 4 KiB page, at random."""

    def prepare(self, backing):
        with open(os.path.join(backing, "j"), "wb") as f:
            f.write(b"J" * PAGE)

    def test_pages_survive_independently(self):
        outcomes = set()
        torn = []
        for seed in range(1, 41):
            fd = os.open(self.m("j"), os.O_WRONLY | os.O_APPEND)
            for k in range(4):
                os.write(fd, bytes([ord("a") + k]) * PAGE)
            os.close(fd)
            self.fs.cut("pages", seed)
            data = read_file(self.m("j"))
            self.assertEqual(data[:PAGE], b"J" * PAGE)  # synced: stays
            self.assertEqual(len(data) % PAGE, 0)
            pages = []
            for k in range(len(data) // PAGE - 1):
                page = data[PAGE * (k + 1):PAGE * (k + 2)]
                want = bytes([ord("a") + k]) * PAGE
                self.assertIn(page, (want, b"\0" * PAGE))
                pages.append(page == want)
            outcomes.add(tuple(pages))
            # a later page kept after an earlier one lost: a torn append
            if any(not a and b for a, b in zip(pages, pages[1:])):
                torn.append(seed)
            os.truncate(self.m("j"), PAGE)
            fd = os.open(self.m("j"), os.O_WRONLY)
            os.fsync(fd)
            os.close(fd)
        self.assertGreater(len(outcomes), 5)
        self.assertTrue(torn, "no seed tore an append")

    def test_the_same_seed_gives_the_same_result(self):
        results = []
        for _ in range(2):
            fd = os.open(self.m("j"), os.O_WRONLY | os.O_APPEND)
            os.write(fd, bytes(range(256)) * 64)
            os.close(fd)
            self.fs.cut("pages", 7)
            results.append(read_file(self.m("j")))
        self.assertEqual(results[0], results[1])

    def test_strict_keeps_no_page(self):
        fd = os.open(self.m("j"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"x" * (3 * PAGE))
        os.close(fd)
        self.fs.cut("strict", 5)
        self.assertEqual(read_file(self.m("j")), b"J" * PAGE)


class Meta(PlfsTest):
    """meta: a prefix of the unsynced namespace changes survives."""

    def prepare(self, backing):
        os.makedirs(os.path.join(backing, "d"))

    def test_a_prefix_in_time_order_survives(self):
        lengths = set()
        names = ["n%d" % i for i in range(6)]
        for seed in range(1, 31):
            for n in names:
                write_file(self.m("d", n), n.encode(), sync=True)
            self.fs.cut("meta", seed)
            left = sorted(os.listdir(self.m("d")))
            self.assertEqual(left, names[:len(left)])
            for n in left:  # the data was synced, so it is there
                self.assertEqual(read_file(self.m("d", n)), n.encode())
            lengths.add(len(left))
            for n in left:
                os.unlink(self.m("d", n))
            sync_dir(self.m("d"))
        self.assertGreater(len(lengths), 3)

    def test_surviving_name_of_unsynced_file_is_empty(self):
        for seed in range(1, 20):
            write_file(self.m("d", "lock"), b"12345 host\n")
            self.fs.cut("meta", seed)
            if os.path.exists(self.m("d", "lock")):
                self.assertEqual(read_file(self.m("d", "lock")), b"")
                return
        self.fail("no seed kept the name")


if __name__ == "__main__":
    if not PLFS or not os.access(PLFS, os.X_OK):
        sys.exit("test_plfs.py: set PLFS to the plfs binary")
    if not os.path.exists("/dev/fuse"):
        sys.exit("test_plfs.py: no /dev/fuse: FUSE is not available here")
    unittest.main()
