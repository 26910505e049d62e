#!/bin/bash
# concurrency: 4 processes work on one tree of the mount for ~10 s:
# creating files (written under a private name, then renamed into view),
# renaming them, reading any file in view and checking its content,
# listing the directories, deleting files, and copying up the same lower
# files at the same time (chmod, append-free so contents stay known).
#   - no process sees an error that cannot happen here: only ENOENT (a
#     file renamed or deleted by another worker between listing and use)
#     is expected; EIO, ENOTCONN, ESTALE, ... fail the test
#   - every file read has exactly the payload its name encodes
#   - the daemon is still up afterwards, and the final tree lists cleanly:
#     no repeated names, every listed name can be stat'ed and read, and its
#     content matches its name
#
# fuse-overlayfs 1.10: passes every check here.
. "$(dirname "$0")/lib.sh"

DURATION=${LM_CONC_SECONDS:-10}
S=$T/src
mkdir -p "$S"/l1/shared "$S"/l1/lower
"$PY" - "$S/l1" <<'PYEOF'
import os, sys
root = sys.argv[1]
def payload(name):
    return (name + "\n").encode() * (1 + sum(name.encode()) % 97)
for i in range(300):
    n = "L%03d" % i
    with open(os.path.join(root, "lower", n), "wb") as f:
        f.write(payload(n))
for i in range(50):
    n = "S%03d" % i
    with open(os.path.join(root, "shared", n), "wb") as f:
        f.write(payload(n))
PYEOF

mkdir -p "$T/fs"
cp -a "$S/l1" "$T/fs/l1"
mkdir "$T/fs/upper" "$T/fs/work"
M=$T/fs/mnt
lm_mount "$M" "lowerdir=$T/fs/l1,upperdir=$T/fs/upper,workdir=$T/fs/work" || lm_die "mount failed"
DPIDS=$(lm_daemon_pids "$M")

WORKER='
import os, sys, time, random, errno
me, root, duration = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
random.seed(me)
def payload(name):
    return (name + "\n").encode() * (1 + sum(name.encode()) % 97)
def base(n):
    # f<w>_<k> and g<w>_<k> carry the payload of "<w>_<k>"
    return n[1:] if n[0] in "fg" else n
bad, ops, expected = [], 0, 0
def oops(what, e):
    if isinstance(e, OSError) and e.errno == errno.ENOENT:
        global expected
        expected += 1
        return
    bad.append("%s: %r" % (what, e))
d_own = os.path.join(root, "shared")
k = 0
end = time.time() + duration
while time.time() < end and len(bad) < 20:
    ops += 1
    r = random.random()
    try:
        if r < 0.25:                      # create: private name, then publish
            k += 1
            n = "%d_%d" % (me, k)
            tmp = os.path.join(d_own, "t" + n)
            with open(tmp, "wb") as f:
                f.write(payload(n))
            os.rename(tmp, os.path.join(d_own, "f" + n))
        elif r < 0.35:                    # rename someone'"'"'s file f -> g
            names = [x for x in os.listdir(d_own) if x[0] == "f"]
            if names:
                x = random.choice(names)
                os.rename(os.path.join(d_own, x), os.path.join(d_own, "g" + x[1:]))
        elif r < 0.45:                    # delete a g
            names = [x for x in os.listdir(d_own) if x[0] == "g"]
            if names:
                os.unlink(os.path.join(d_own, random.choice(names)))
        elif r < 0.55:                    # copy-up race on lower files
            n = "L%03d" % random.randrange(300)
            os.chmod(os.path.join(root, "lower", n), random.choice([0o600, 0o640, 0o644]))
        elif r < 0.60:                    # delete a lower file
            n = "L%03d" % random.randrange(300)
            os.unlink(os.path.join(root, "lower", n))
        else:                             # read and check
            dd = random.choice([d_own, os.path.join(root, "lower")])
            names = [x for x in os.listdir(dd) if x[0] in "fgLS"]
            if len(names) != len(set(names)):
                bad.append("repeated names in listing of %s" % dd)
            for x in random.sample(names, min(5, len(names))):
                try:
                    with open(os.path.join(dd, x), "rb") as f:
                        data = f.read()
                except OSError as e:
                    oops("read " + x, e); continue
                if data != payload(base(x)):
                    bad.append("content of %s: %d bytes, %r..." % (x, len(data), data[:24]))
    except OSError as e:
        oops("op %.2f" % r, e)
    except Exception as e:
        bad.append("unexpected %r" % e)
print("worker %d: %d operations, %d ENOENT races, %d errors" % (me, ops, expected, len(bad)))
for b in bad:
    print("worker %d: %s" % (me, b))
sys.exit(1 if bad else 0)
'
lm_log "4 workers for ${DURATION}s"
pids=
for w in 1 2 3 4; do
	lm_t $((DURATION + 60)) "$PY" -c "$WORKER" "$w" "$M" "$DURATION" >"$T/worker.$w" 2>&1 &
	pids="$pids $!"
done
w=0
for p in $pids; do
	w=$((w + 1))
	wait "$p" || lm_fail "worker $w failed (exit $?)"
	cat "$T/worker.$w"
done

for p in $DPIDS; do
	lm_pid_alive "$p" || lm_fail "the daemon (pid $p) is gone"
done
lm_alive "$M" "after the workers" || lm_finish
lm_is_fuse_mount "$M" || lm_fail "$M is no longer a FUSE mount"

FINAL='
import os, sys, errno
root = sys.argv[1]
def payload(name):
    return (name + "\n").encode() * (1 + sum(name.encode()) % 97)
bad, n = [], 0
for d in ("shared", "lower"):
    names = os.listdir(os.path.join(root, d))
    if len(names) != len(set(names)):
        bad.append("repeated names in %s" % d)
    for x in names:
        n += 1
        p = os.path.join(root, d, x)
        try:
            os.lstat(p)
            data = open(p, "rb").read()
        except OSError as e:
            bad.append("%s/%s: listed but %s" % (d, x, errno.errorcode[e.errno])); continue
        if x[0] == "t":
            continue          # a private name left by a worker stopped mid-way
        b = x[1:] if x[0] in "fg" else x
        if data != payload(b):
            bad.append("%s/%s: wrong content (%d bytes)" % (d, x, len(data)))
print("final tree: %d entries" % n)
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
'
lm_log "final tree"
lm_py "$FINAL" "$M" || lm_fail "final tree is not consistent"

# After a remount the same tree must read back the same.
lm_umount "$M"
lm_mount "$M" "lowerdir=$T/fs/l1,upperdir=$T/fs/upper,workdir=$T/fs/work" || lm_die "remount failed"
lm_py "$FINAL" "$M" || lm_fail "tree after remount is not consistent"

lm_finish
