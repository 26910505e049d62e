#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/{keystore,slot,audit,name}.

Valid files come from the committed known-answer stores (tests/kat), and
each is also written damaged in the ways a disk or an attacker would:
cut short, grown, a flipped bit in each field, a wrong magic or format,
and, where a checksum guards the file, damaged fields with the checksum
recomputed (so the decoder's field checks, not only its checksum, get
exercised). Seeds are named seed-*; inputs libFuzzer added (merged with
-merge=1) are named by their SHA-1 and are not touched here.

usage: gen_corpus_keys.py [KATDIR [CORPUSDIR]]
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KAT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "kat")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus")


def write(kind, name, data):
    d = os.path.join(OUT, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(bytes(data))


def read(*p):
    with open(os.path.join(KAT, *p), "rb") as f:
        return f.read()


def resum(b):
    """Recomputes the trailing BLAKE2b-256 checksum of a keystore record."""
    b = bytearray(b)
    b[-32:] = hashlib.blake2b(bytes(b[:-32]), digest_size=32).digest()
    return b


def flip(b, off, bit=0):
    b = bytearray(b)
    b[off] ^= 1 << bit
    return b


def put(b, off, fmt, v):
    b = bytearray(b)
    struct.pack_into(fmt, b, off, v)
    return b


def keystore():
    tenant = read("store-keyfile", "keys", "kat-keyfile", "tenant")
    ptenant = read("store-passphrase", "keys", "kat-pass", "tenant")
    v1 = read("store-keyfile", "keys", "kat-keyfile", "v1")   # retired
    v2 = read("store-keyfile", "keys", "kat-keyfile", "v2")   # active
    seeds = {"tenant-keyfile": tenant, "tenant-passphrase": ptenant,
             "kek-retired": v1, "kek-active": v2}
    # A tombstone, built as shred.c writes one.
    tomb = bytearray(b"LMSHRED\0") + struct.pack("<HHIQQ", 1, 0, 2, 1764345600, 1764300000)
    tomb += bytes(range(16)) + b"kat-keyfile".ljust(64, b"\0")
    seeds["tombstone"] = resum(tomb + bytes(32))
    for name, b in list(seeds.items()):
        seeds[name + "-short"] = b[:-1]
        seeds[name + "-long"] = b + b"\0"
        seeds[name + "-badsum"] = flip(b, len(b) - 1)
        seeds[name + "-format2"] = resum(put(b, 8, "<H", 2))
        seeds[name + "-magic"] = resum(flip(b, 0))
    # Field damage behind a valid checksum.
    seeds["tenant-zero-nonzero"] = resum(put(tenant, 12, "<I", 1))
    seeds["tenant-bad-name"] = resum(put(tenant, 72, "4s", b"../x"))
    seeds["tenant-name-unpadded"] = resum(put(tenant, 130, "B", 0x41))
    seeds["tenant-keyfile-with-kdf"] = resum(put(tenant, 11, "B", 1))
    seeds["tenant-pass-ops-huge"] = resum(put(ptenant, 16, "<Q", 1 << 40))
    seeds["tenant-pass-mem-huge"] = resum(put(ptenant, 24, "<Q", 1 << 50))
    seeds["tenant-pass-mem-tiny"] = resum(put(ptenant, 24, "<Q", 1))
    seeds["tenant-kind-3"] = resum(put(tenant, 10, "B", 3))
    seeds["kek-version-0"] = resum(put(v2, 12, "<I", 0))
    seeds["kek-state-3"] = resum(put(v2, 10, "B", 3))
    seeds["kek-active-retired-time"] = resum(put(v2, 24, "<Q", 5))
    seeds["kek-retired-with-key"] = resum(put(v1, 80, "B", 1))
    seeds["kek-retired-no-time"] = resum(put(v1, 24, "<Q", 0))
    seeds["kek-cipher-2"] = resum(put(v2, 11, "B", 2))
    seeds["tomb-time-0"] = resum(put(seeds["tombstone"], 16, "<Q", 0))
    seeds["empty"] = b""
    for name, b in seeds.items():
        write("keystore", name, b)


def slot():
    s1 = read("store-keyfile", "objects", "kat-obj1.slots")
    s3 = read("store-passphrase", "objects", "kat-obj3.slots")
    kb = s1[16:]
    seeds = {"file": s1, "file-pass": s3, "block": kb, "empty": b""}
    seeds["short"] = s1[:-1]
    seeds["long"] = s1 + b"\0"
    seeds["head-only"] = s1[:16]
    seeds["magic"] = flip(s1, 0)
    seeds["format2"] = put(s1, 8, "<H", 2)
    seeds["reserved"] = put(s1, 10, "B", 1)
    seeds["kblen-huge"] = put(s1, 12, "<I", 0xffffffff)
    seeds["kblen-small"] = put(s1, 12, "<I", 10)
    seeds["nslots-0"] = put(s1, 16 + 80, "B", 0)
    seeds["nslots-9"] = put(s1, 16 + 80, "B", 9)
    seeds["nslots-2-short"] = put(s1, 16 + 80, "B", 2)
    seeds["tenant-bad"] = put(s1, 16 + 16, "4s", b"a/b\0")
    seeds["tenant-unpadded"] = put(s1, 16 + 79, "B", 0x41)
    seeds["tenant-other"] = put(s1, 16 + 16, "11s", b"kat-keyfilf")
    seeds["block-reserved"] = put(s1, 16 + 81, "B", 1)
    seeds["slot-version-0"] = put(s1, 16 + 88, "<I", 0)
    seeds["slot-version-2"] = put(s1, 16 + 88, "<I", 2)
    seeds["slot-version-1"] = put(s1, 16 + 88, "<I", 1)
    seeds["slot-cipher-2"] = put(s1, 16 + 92, "B", 2)
    seeds["slot-zero"] = put(s1, 16 + 93, "B", 1)
    seeds["slot-wrapped-flip"] = flip(s1, 16 + 88 + 40)
    seeds["mac-flip"] = flip(s1, len(s1) - 1)
    two = bytearray(s1[:16 + 88]) + s1[16 + 88:16 + 168] + s3[16 + 88:16 + 168] + s1[-32:]
    two[16 + 80] = 2
    struct.pack_into("<I", two, 12, len(two) - 16)
    seeds["two-slots"] = two
    dup = bytearray(two)
    dup[16 + 168:16 + 172] = dup[16 + 88:16 + 92]
    seeds["two-slots-same-version"] = dup
    for name, b in seeds.items():
        write("slot", name, b)


def audit():
    log = read("store-keyfile", "audit.log")
    recs, o = [], 0
    while o < len(log):
        n = struct.unpack_from("<H", log, o + 6)[0]
        recs.append(log[o:o + n])
        o += n
    r = recs[0]
    seeds = {"log": log, "one": r, "empty": b"", "short": r[:-1], "head": r[:80]}
    seeds["two-reversed"] = b"".join(reversed(recs))
    seeds["magic"] = flip(r, 0)
    seeds["format2"] = put(r, 4, "<H", 2)
    seeds["len-0"] = put(r, 6, "<H", 0)
    seeds["len-huge"] = put(r, 6, "<H", 0xffff)
    seeds["len-minus-1"] = put(r, 6, "<H", len(r) - 1)
    seeds["seq-0"] = put(r, 8, "<Q", 0)
    seeds["nsec-big"] = put(r, 24, "<I", 1000000000)
    seeds["zero1"] = put(r, 43, "B", 1)
    seeds["zero2"] = put(r, 46, "B", 1)
    seeds["oplen-big"] = put(r, 40, "B", 255)
    seeds["detail-huge"] = put(r, 44, "<H", 0xffff)
    seeds["nonprint"] = put(r, 80, "B", 0x0a)
    seeds["highbit"] = put(r, 80, "B", 0xc3)
    seeds["log-cut"] = log[:-7]
    seeds["log-garbage-tail"] = log + b"LMAR\x01\x00"
    for name, b in seeds.items():
        write("audit", name, b)


def name():
    vec = dict(l.split(" ", 1) for l in read("vectors.txt").decode().splitlines())
    s = vec["name-sealed"].encode()
    seeds = {"sealed": s, "empty": b"", "dot": b".", "dotdot": b"..",
             "short": s[:-1], "long": s + b"A", "padded": s + b"==",
             "std-alphabet": s.replace(b"-", b"+").replace(b"_", b"/"),
             "slash": b"abc/def", "nul": s[:10] + b"\0" + s[10:],
             "max": b"A" * 395, "over-max": b"A" * 396,
             "long-name": b"lamina.long." + b"A" * 43,
             "nonzero-tail-bits": s[:-1] + b"B"}
    for n, b in seeds.items():
        write("name", n, b)


if __name__ == "__main__":
    keystore()
    slot()
    audit()
    name()
