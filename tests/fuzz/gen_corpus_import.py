#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/import (run by hand, never by
CTest): small layer tarballs the import takes (ustar, GNU, pax with xattrs
and nanosecond mtimes, hard links, symlinks, devices, whiteouts, gzip and
zstd) and the hostile ones it refuses or contains (.., absolute names, hard
links to missing entries or outside, a path under a symlink, duplicates, a
truncated archive, garbage sizes, a gzip of garbage). Each is under 8 KiB:
the archive ends with its two zero blocks, without the rest of tarfile's
10 KiB record.

  python3 tests/fuzz/gen_corpus_import.py [DIR]   (default: corpus/import)

zstd seeds need the zstd program; without it they are left out.
"""
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile

R, D, L, S = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE


def entry(name, kind=R, data=b"", link="", mode=0o644, uid=0, gid=0, pax=None,
          dev=(0, 0), mtime=1600000000):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode, ti.uid, ti.gid = kind, link, mode, uid, gid
    ti.mtime, ti.size = mtime, len(data) if kind == R else 0
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = pax
    return ti, data


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if ti.type == R else None)
        end = t.offset   # after the last member's data, before the end blocks
    return buf.getvalue()[:end] + b"\0" * 1024


def fix_checksum(b):
    b = bytearray(b)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % (sum(b[:512]) & 0o777777)
    return bytes(b)


def seeds():
    rootfs = [
        entry("./", D, mode=0o755),
        entry("bin/", D, mode=0o755),
        entry("bin/sh", data=b"\x7fELF" + bytes(range(64)) * 4, mode=0o755),
        entry("bin/su", data=b"setuid", mode=0o4755, uid=0),
        entry("bin/ash", S, link="sh", mode=0o777),
        entry("bin/link", L, link="bin/sh"),
        entry("dev/", D, mode=0o755),
        entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        entry("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0), gid=6),
        entry("tmp/", D, mode=0o1777),
        entry("tmp/fifo", tarfile.FIFOTYPE, mode=0o644),
        entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n", uid=1234, gid=5678),
        entry("empty", data=b""),
    ]
    xattrs = [
        entry("ping", data=b"ping" * 100, mode=0o755, pax={
            "SCHILY.xattr.user.comment": "pings",
            "SCHILY.xattr.security.capability":
                "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12,
            "SCHILY.xattr.trusted.overlay.opaque": "y",
            "mtime": "1577934245.123456789"}),
        entry("dir/", D, mode=0o2775, pax={"SCHILY.xattr.user.d": "v"}),
    ]
    zeros = [entry("zeros", data=b"\0" * 40000 + b"tail" + b"\0" * 30000)]
    out = {
        "ok_pax_rootfs.tar": tar(rootfs[:8]),
        "ok_ustar.tar": tar(rootfs[6:], tarfile.USTAR_FORMAT),
        "ok_gnu.tar": tar(rootfs[1:6] + [entry("g/" + "l" * 150 + "/x", data=b"x")],
                          tarfile.GNU_FORMAT),
        "ok_pax_xattrs.tar": tar(xattrs),
        "ok_zeros_chunks.tar.gz": gzip.compress(tar(zeros), mtime=0),
        "ok_whiteouts.tar": tar([
            entry("a/", D, mode=0o755), entry("a/.wh.gone"), entry("a/keep", data=b"k"),
            entry("b/.wh..wh..opq"), entry("b/new", data=b"n"), entry(".wh..wh.plnk/x"),
            entry("c", data=b"file"), entry("c/", D)]),
        "ok_rootfs.tar.gz": gzip.compress(tar(rootfs, tarfile.GNU_FORMAT), mtime=0),
        "ok_empty": b"",
        "bad_dotdot.tar": tar([entry("../x", data=b"e")]),
        "bad_dotdot_mid.tar": tar([entry("a/", D), entry("a/../../x", data=b"e")]),
        "ok_absolute.tar": tar([entry("/etc/x", data=b"c"), entry("//y/./z", data=b"z")]),
        "bad_link_missing.tar": tar([entry("b", L, link="nothere")]),
        "bad_link_escape.tar": tar([entry("b", L, link="../../etc/passwd")]),
        "bad_link_dir.tar": tar([entry("d/", D), entry("b", L, link="d")]),
        "bad_symlink_parent.tar": tar([entry("a", S, link="/etc", mode=0o777),
                                       entry("a/passwd", data=b"root::0:0")]),
        "ok_duplicates.tar": tar([entry("f", data=b"first"), entry("f", data=b"second"),
                                  entry("d/", D), entry("d/x"), entry("d", data=b"now a file")]),
    }
    big = tar([entry("big", data=bytes(range(256)) * 24)])
    out["bad_truncated.tar"] = big[:3000]
    one = bytearray(tar([entry("f", data=b"hello")], tarfile.USTAR_FORMAT))
    one[124:136] = b"77777777777\0"
    out["bad_hugesize.tar"] = fix_checksum(one[:512]) + bytes(one[512:])
    one[124:136] = b"\xff" * 12
    out["bad_negsize.tar"] = fix_checksum(one[:512]) + bytes(one[512:])
    out["bad_garbage.tar.gz"] = gzip.compress(bytes((i * 37 + 11) % 251 for i in range(3000)),
                                              mtime=0)
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "import")
    os.makedirs(d, exist_ok=True)
    out = seeds()
    if shutil.which("zstd"):
        for name in ("ok_rootfs.tar", "ok_pax_xattrs.tar"):
            src = out["ok_pax_rootfs.tar" if name == "ok_rootfs.tar" else name]
            out[name + ".zst"] = subprocess.run(["zstd", "-q", "-c", "-19"], input=src,
                                                stdout=subprocess.PIPE, check=True).stdout
    for name, data in sorted(out.items()):
        assert len(data) < 8192, (name, len(data))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{len(out)} seeds in {d}")


if __name__ == "__main__":
    main()
