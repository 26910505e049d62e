#!/bin/bash
# volume_rekey: `lamina volume rekey` on a volume with files, directories,
# hard links, symlinks, xattrs and a long name.
#   - refused while the volume is mounted
#   - interrupted at fault points (the lamina_fault build ends the process
#     at the Nth fault point as a crash would: $LAMINA_FAULT_BIN), at a few
#     fixed and a few random points: after each, the volume mounts read-only
#     (not read-write: refused until the rekey is finished) and every file,
#     link target and xattr reads back right
#   - a last run finishes: the data key generation went up, no rekey is
#     left in the header, everything reads back right, and the audit log
#     verifies
set -u
. "$(dirname "$0")/lib.sh"     # lm_init: root, /dev/fuse, $T, teardown

[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA must name the lamina binary"
[ -n "${LAMINA_FAULT_BIN:-}" ] && [ -x "$LAMINA_FAULT_BIN" ] ||
	lm_die "LAMINA_FAULT_BIN must name the lamina_fault binary"
mkdir -p "$T/bin" && ln -s "$LAMINAFS" "$T/bin/laminafs"
export PATH=$T/bin:$PATH
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE LAMINA_FAULT
S=$T/store M=$T/mnt
L() { lm_t 120 "$LAMINA" --store "$S" "$@"; }
mkdir -p "$M"
LM_MOUNTS+=("$M")

head -c 32 /dev/urandom >"$T/key"; chmod 600 "$T/key"
L tenant create acme --key-file "$T/key" >/dev/null || lm_die "tenant"
L volume create data --tenant acme --key-file "$T/key" >/dev/null || lm_die "volume create"
L volume mount data "$M" --key-file "$T/key" >/dev/null || lm_die "mount"

# The tree: 3 levels of directories, files of 0 B .. 300 KiB.
"$PY" - "$M" <<'EOF' || lm_die "populate"
import os, sys, random
root = sys.argv[1]
rnd = random.Random(7)
for d in range(4):
    for e in range(3):
        p = os.path.join(root, f"d{d}", f"e{e}", "deep")
        os.makedirs(p, exist_ok=True)
        for f in range(3):
            size = rnd.choice([0, 1, 4095, 4096, 4097, 70000, 300000])
            with open(os.path.join(p, f"f{f}"), "wb") as fh:
                fh.write(rnd.randbytes(size))
    os.setxattr(os.path.join(root, f"d{d}"), "user.dir", f"dir {d}".encode())
os.link(os.path.join(root, "d0/e0/deep/f0"), os.path.join(root, "d1/hard0"))
os.link(os.path.join(root, "d0/e0/deep/f0"), os.path.join(root, "d2/hard1"))
os.symlink("d0/e0/deep/f1", os.path.join(root, "sym"))
os.setxattr(os.path.join(root, "d0/e0/deep/f2"), "user.note", b"x" * 300)
with open(os.path.join(root, "N" * 240), "w") as fh:
    fh.write("a long name")
EOF

# What the volume must read as: contents, link targets, xattrs, link groups.
snapshot() {
	"$PY" - "$M" <<'EOF'
import os, sys, hashlib
root = sys.argv[1]
groups = {}
for dp, dns, fns in sorted(os.walk(root)):
    dns.sort()
    for n in sorted(dns + fns):
        p = os.path.join(dp, n)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        line = [rel, oct(st.st_mode)]
        if os.path.islink(p):
            line.append("-> " + os.readlink(p))
        elif os.path.isfile(p):
            line.append(hashlib.sha256(open(p, "rb").read()).hexdigest())
            groups.setdefault(st.st_ino, []).append(rel)
        for x in sorted(os.listxattr(p, follow_symlinks=False)):
            line.append(x + "=" + hashlib.sha256(os.getxattr(p, x, follow_symlinks=False)).hexdigest()[:16])
        print(" ".join(line))
for g in sorted(sorted(v) for v in groups.values() if len(v) > 1):
    print("link group:", " ".join(g))
EOF
}
snapshot >"$T/want" || lm_die "snapshot"
[ "$(grep -c "link group" "$T/want")" = 1 ] || lm_die "the tree has no hard-link group"

L volume rekey data --key-file "$T/key" >"$T/out" 2>&1
lm_check "rekey while mounted: exit" 1 $?
grep -q "mounted" "$T/out" || lm_fail "rekey while mounted: $(cat "$T/out")"
L volume umount "$M" >/dev/null || lm_die "umount"

# check_volume LABEL [ro]: mount (read-only: a rekey is unfinished, and a
# hard-linked file's names may be two files until it is), compare with the
# snapshot, unmount.
check_volume() {
	L volume mount data "$M" --key-file "$T/key" ${2:+-o ro} >"$T/out" 2>&1 ||
		{ lm_fail "$1: mount: $(cat "$T/out")"; return; }
	snapshot >"$T/got" 2>&1
	if [ -n "${2:-}" ]; then
		grep -v "^link group" "$T/want" >"$T/want.nolinks"
		grep -v "^link group" "$T/got" >"$T/got.nolinks"
		lm_diff "$1" "$T/want.nolinks" "$T/got.nolinks"
	else
		lm_diff "$1" "$T/want" "$T/got"
	fi
	L volume umount "$M" >/dev/null || lm_die "$1: umount"
}

gen0=$(L volume inspect data --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
points="1 2 3 5 8 13 21 34 $((RANDOM % 40 + 1)) $((RANDOM % 40 + 1)) $((RANDOM % 40 + 1))"
crashed=0
for n in $points; do
	LAMINA_FAULT=$n lm_t 120 "$LAMINA_FAULT_BIN" --store "$S" volume rekey data \
		--key-file "$T/key" >"$T/out" 2>&1
	rc=$?
	case $rc in
	99) crashed=$((crashed + 1))
	    if [ "$crashed" = 1 ]; then
		    L volume mount data "$M" --key-file "$T/key" >"$T/out" 2>&1
		    lm_check "read-write mount during a rekey: exit" 1 $?
		    grep -q "unfinished rekey" "$T/out" || lm_fail "rw mount during a rekey: $(cat "$T/out")"
	    fi
	    check_volume "after a stop at fault point $n" ro ;;
	0) lm_log "fault point $n: the rekey ran to its end first"
	   check_volume "after a rekey that ran to its end" ;;
	*) lm_fail "fault point $n: exit $rc: $(tail -n 3 "$T/out")" ;;
	esac
done
[ "$crashed" -ge 5 ] || lm_fail "only $crashed of the runs stopped at a fault point"

L volume rekey data --key-file "$T/key" >"$T/out" 2>&1 || lm_fail "last rekey: $(cat "$T/out")"
L volume inspect data --json >"$T/insp" || lm_fail "inspect"
"$PY" - "$T/insp" "$gen0" <<'EOF' || lm_fail "after the rekey: $(cat "$T/insp")"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["generation"] > int(sys.argv[2]), v
assert not v.get("rekey"), v
EOF
check_volume "after the last rekey"
L audit verify >"$T/out" 2>&1 || lm_fail "audit verify: $(cat "$T/out")"
lm_finish
