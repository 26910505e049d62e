#!/usr/bin/env python3
"""Tarball helpers of layer_cli.sh (python3 tarfile only).

  layer_tar.py compare A.tar B.tar   entry by entry: names, types, modes,
                                     owners, mtimes (ns), sizes, content
                                     hashes, link targets, hard-link groups,
                                     device numbers, xattrs (pax headers);
                                     prints each difference, exit 1 if any
  layer_tar.py hostile DIR           writes the hostile archives to DIR
  layer_tar.py whiteouts FILE        a layer with OCI whiteouts and an
                                     opaque directory
  layer_tar.py flip FILE OFFSET      inverts the byte at OFFSET of FILE
  layer_tar.py names FILE            prints the normalised entry names
"""
import gzip
import hashlib
import io
import os
import sys
import tarfile

XATTR = "SCHILY.xattr."


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def mtime_of(m):
    """The mtime as (seconds, ns) from the pax header when there is one."""
    s = m.pax_headers.get("mtime")
    if s is None:
        return (int(m.mtime), 0)
    sec, _, frac = s.partition(".")
    return (int(sec), int((frac + "000000000")[:9]))


def load(path):
    """name -> description, and the hard-link groups, of a tarball."""
    ents, links = {}, {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            name = norm(m.name)
            d = {
                "type": m.type if not m.islnk() else b"0",
                "mode": m.mode,
                "uid": m.uid,
                "gid": m.gid,
                "mtime": mtime_of(m),
                "xattrs": {k[len(XATTR):]: v for k, v in m.pax_headers.items()
                           if k.startswith(XATTR)},
            }
            if m.issym():
                d["target"] = m.linkname
            if m.ischr() or m.isblk():
                d["dev"] = (m.devmajor, m.devminor)
            if m.isreg() and not m.islnk():
                h = hashlib.sha256()
                f = t.extractfile(m)
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
                d["size"] = m.size
                d["sha256"] = h.hexdigest()
            if m.islnk():
                links.setdefault(norm(m.linkname), set()).add(name)
                d["link"] = norm(m.linkname)
            ents[name] = d
    # A hard link's attributes are its group's first entry's.
    for name, d in ents.items():
        if "link" in d and d["link"] in ents:
            first = ents[d["link"]]
            for k in ("mode", "uid", "gid", "mtime", "xattrs", "size", "sha256", "type"):
                if k in first:
                    d[k] = first[k]
            del d["link"]
    groups = set()
    for first, names in links.items():
        groups.add(frozenset(names | {first}))
    return ents, groups


def compare(a, b):
    ea, ga = load(a)
    eb, gb = load(b)
    bad = 0
    for name in sorted(set(ea) | set(eb)):
        if name == "" and (name not in ea or name not in eb):
            continue    # a tarball need not have a root entry
        if name not in ea or name not in eb:
            print(f"{name!r}: only in {a if name in ea else b}")
            bad += 1
            continue
        keys = set(ea[name]) | set(eb[name])
        if os.path.basename(name).startswith(".wh."):
            keys = {"type", "size"}   # a marker's attributes mean nothing
        for k in sorted(keys):
            if ea[name].get(k) != eb[name].get(k):
                print(f"{name!r}: {k}: {ea[name].get(k)!r} != {eb[name].get(k)!r}")
                bad += 1
    if ga != gb:
        print(f"hard-link groups differ: {sorted(map(sorted, ga))} != {sorted(map(sorted, gb))}")
        bad += 1
    print(f"{len(ea)} entries, {len(ga)} hard-link groups, {bad} differences")
    return 1 if bad else 0


def add(t, name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644, size=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.linkname = link
    ti.mtime = 1600000000
    ti.size = len(data) if size is None else size
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            add(t, *e[:1], **e[1])
    return buf.getvalue()


def fix_checksum(block):
    block = bytearray(block)
    block[148:156] = b" " * 8
    s = sum(block) & 0o777777
    block[148:156] = b"%06o\0 " % s
    return bytes(block)


def ustar_one(name, data):
    """A ustar archive of one file: header block, data, end blocks."""
    return tar_bytes([(name, {"data": data})], fmt=tarfile.USTAR_FORMAT)


def hostile(d):
    os.makedirs(d, exist_ok=True)
    R, L, S, D = tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.DIRTYPE
    cases = {
        "dotdot.tar": [("../x", {"data": b"escape"})],
        "dotdot_mid.tar": [("a/", {"kind": D, "mode": 0o755}),
                           ("a/../../x", {"data": b"escape"})],
        "absolute.tar": [("/etc/x", {"data": b"contained"})],
        "link_missing.tar": [("b", {"kind": L, "link": "nothere"})],
        "link_later.tar": [("b", {"kind": L, "link": "c"}), ("c", {"data": b"c"})],
        "link_escape.tar": [("b", {"kind": L, "link": "../../etc/passwd"})],
        "link_dir.tar": [("d/", {"kind": D, "mode": 0o755}), ("b", {"kind": L, "link": "d"})],
        "symlink_parent.tar": [("a", {"kind": S, "link": "/etc", "mode": 0o777}),
                               ("a/passwd", {"data": b"root::0:0::/:/bin/sh\n"})],
        "symlink_parent_rel.tar": [("a", {"kind": S, "link": "../..", "mode": 0o777}),
                                   ("a/x", {"data": b"escape"})],
        "duplicate.tar": [("f", {"data": b"first"}), ("f", {"data": b"second"}),
                          ("g", {"data": b"g"})],
        "longname.tar": [("n" * 256, {"data": b"long"})],
    }
    for name, ents in cases.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(tar_bytes(ents))
    big = tar_bytes([("big", {"data": b"x" * 100000})])
    with open(os.path.join(d, "truncated.tar"), "wb") as f:
        f.write(big[:len(big) // 2])
    # A size field of garbage, with a checksum that matches it.
    one = bytearray(ustar_one("f", b"hello"))
    one[124:136] = b"9z9z9z9z9z9\0"
    one[:512] = fix_checksum(one[:512])
    with open(os.path.join(d, "badsize.tar"), "wb") as f:
        f.write(one)
    # A size of 8 GiB - 1 on an archive that holds 5 bytes.
    one = bytearray(ustar_one("f", b"hello"))
    one[124:136] = b"77777777777\0"
    one[:512] = fix_checksum(one[:512])
    with open(os.path.join(d, "hugesize.tar"), "wb") as f:
        f.write(one)
    # A negative size in base-256.
    one = bytearray(ustar_one("f", b"hello"))
    one[124:136] = b"\xff" * 12
    one[:512] = fix_checksum(one[:512])
    with open(os.path.join(d, "negsize.tar"), "wb") as f:
        f.write(one)
    with open(os.path.join(d, "garbage.tar.gz"), "wb") as f:
        f.write(gzip.compress(os.urandom(4096) + b"\x00" * 512, mtime=0))


def whiteouts(path):
    D = tarfile.DIRTYPE
    ents = [
        ("a/", {"kind": D, "mode": 0o755}),
        ("a/keep", {"data": b"kept"}),
        ("a/.wh.gone", {}),
        ("a/b/", {"kind": D, "mode": 0o700}),
        ("a/b/.wh..wh..opq", {}),
        ("a/b/new", {"data": b"new"}),
        (".wh.toplevel", {}),
    ]
    with open(path, "wb") as f:
        f.write(tar_bytes(ents))


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xff]))


def names(path):
    with tarfile.open(path) as t:
        for m in t.getmembers():
            print(norm(m.name))


def main():
    cmd = sys.argv[1]
    if cmd == "compare":
        return compare(sys.argv[2], sys.argv[3])
    if cmd == "hostile":
        hostile(sys.argv[2])
    elif cmd == "whiteouts":
        whiteouts(sys.argv[2])
    elif cmd == "flip":
        flip(sys.argv[2], int(sys.argv[3]))
    elif cmd == "names":
        names(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
