#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/opts.

fuzz_opts.c reads an input without NUL bytes as the string after -o
("laminafs -o INPUT /mnt/merged"), and an input with NUL bytes as argv[1..]
split on them. Seeds are named seed-*; inputs libFuzzer added (merged with
-merge=1) are named by their SHA-1 and are not touched here.

usage: gen_corpus_opts.py [OUTDIR]   (default: corpus/opts beside this file)
"""
import os
import sys

S = "/var/lib/containers/storage/overlay"
LAYER = S + "/3c1b6e0a4c1f"
BASE = "lowerdir={0}/l/AAAAAAAAAAAAAAAAAAAAAAAAAA:{0}/l/BBBBBBBBBBBBBBBBBBBBBBBBBB," \
       "upperdir={1}/diff,workdir={1}/work".format(S, LAYER)
CONTEXT = 'context="system_u:object_r:container_file_t:s0:c1,c2"'


def argv(*args):
    """An argv-shaped input (argv[0] is added by the target)."""
    return "\0".join(args)


SEEDS = {
    # containers-storage's mount_program call, as fuse-overlayfs gets it.
    "cs-basic": BASE,
    "cs-rootless": BASE + ",uidmapping=0:1000:1:1:100000:65536,"
                          "gidmapping=0:1000:1:1:100000:65536",
    "cs-rootless-colon": BASE + ",fsync=0,volatile,"
                                "uidmapping=:0:1000:1:1:100000:65536,"
                                "gidmapping=:0:1001:1:1:200000:65536," + CONTEXT,
    "cs-context": "lowerdir=/a," + CONTEXT,
    "cs-context-escaped": "lowerdir=/a,"
                          'context="system_u:object_r:container_file_t:s0:c1\\,c2"',
    "cs-readonly": "lowerdir={0}/l/A:{0}/l/B:{0}/l/C,ro,static_nlink".format(S),
    "cs-argv": argv("-o", BASE + ",volatile", LAYER + "/merged"),
    # mount.fuse3 / fstab: SOURCE MOUNTPOINT -o OPTS
    "fuse3-fstab": argv("overlay", "/mnt/x", "-o",
                        "rw,nodev,nosuid,lowerdir=/a,_netdev,"
                        "x-systemd.automount,noauto,nofail,user,relatime,"
                        "defaults"),
    "fuse3-glued": argv("/m", "-olowerdir=/a", "-o", "upperdir=/u",
                        "-oworkdir=/w", "-f", "-d", "-s"),
    "help": argv("--help"),
    "version": argv("-V", ""),
    "flags-unknown": argv("-h", "--version", "--debug", "-x", "--frob",
                          "-olowerdir=/a", "/m"),
    "dashdash": argv("-olowerdir=/a", "--", "-o", "/m"),
    "lone-dash": argv("-", "-olowerdir=/a"),
    "too-many-args": argv("a", "b", "c", "-olowerdir=/a"),
    "o-missing-arg": argv("/m", "-o"),
    "empty-mountpoint": argv("-o", "lowerdir=/a", ""),
    "many-args": argv(*(["-o", "lowerdir=/a"] + ["-f"] * 15 + ["/m"])),
    # Option words and values.
    "fuse-words": "lowerdir=/a,allow_other,allow_root,default_permissions,"
                  "auto_unmount,fsname=lamina\\,x\\\\y,subtype=laminafs,"
                  "max_read=131072,suid,nosuid,dev,nodev,exec,noexec,async,"
                  "sync,dirsync,atime,noatime,fscontext=a,defcontext=b,"
                  "rootcontext=c,rw",
    "tuning": "lowerdir=/a,squash_to_root,squash_to_uid=4294967294,"
              "squash_to_gid=0,timeout=1.5,threads=1024,writeback=1,"
              "noxattrs=0,noxattrs,static_nlink,debug,fsync=1,"
              "nodiratime,strictatime,lazytime,nouser,users,auto",
    "escapes": "lowerdir=/a\\:b:/c\\,d:/e\\\\f:/g\\h,upperdir=/u\\,v,"
               "workdir=/w\\:x",
    "empty-items": ",,lowerdir=/a,,,upperdir=/u,,workdir=/w,,",
    "unknown": "lowerdir=/a,foo,bar=baz,=,==,=x,x-gvfs-show,lowerdir",
    # One bad value each: the parser stops at the first error.
    "huge-threads": "lowerdir=/a,threads=99999999999999999999999999",
    "huge-uid": "lowerdir=/a,squash_to_uid=4294967295",
    "huge-gid": "lowerdir=/a,squash_to_gid=18446744073709551616",
    "huge-timeout": "lowerdir=/a,timeout=" + "9" * 400 + "." + "9" * 400,
    "bad-timeout": "lowerdir=/a,timeout=1.2.3",
    "huge-idmap": "lowerdir=/a,uidmapping=4294967295:0:1:0:0:4294967296",
    "bad-bool": "lowerdir=/a,writeback=2",
    "value-on-flag": "lowerdir=/a,volatile=1",
    "missing-value": "lowerdir=/a,fsync",
    "empty-path": "lowerdir=/a,upperdir=,workdir=/w",
    "upper-no-work": "lowerdir=/a,upperdir=/u",
    "empty-idmap": "lowerdir=/a,gidmapping=",
    "lone-backslash": "lowerdir=/a\\",
    "backslash-only": "\\",
    "unbalanced-quote": 'lowerdir=/a,context="abc,lowerdir=/b\\"c',
    "lowers-300": "lowerdir=" + ":".join("/l/%d" % i for i in range(300))
                  + ",upperdir=/u,workdir=/w",
    "lowers-empty": "lowerdir=/a::/b:",
    # Id map specs: the whole input also goes to lm_idmap_parse.
    "idmap-rootless": "0:1000:1:1:100000:65536",
    "idmap-overlap": ":0:0:10:5:100:10:100:5:1",
    "idmap-edges": "4294967295:4294967295:1:0:0:4294967295",
    "idmap-bad": "1:2:3:",
    "idmap-zero-len": "0:1000:1:1:2:0",
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "opts")
    os.makedirs(out, exist_ok=True)
    for name, text in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(text.encode())
    print("wrote %d seeds to %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
