#!/bin/bash
# sealed: sealed layers imported with `lamina layer import` and mounted by
# laminafs, on every io back end (io=uring, io=shared, io=pread, and
# O_DIRECT reads), with requests from /dev/fuse (the default for sealed
# layers) and from io_uring queues where the kernel offers them (uring=1):
#   - a busybox root filesystem (with xattrs, hard links, a setuid file,
#     devices, a fifo, a sparse file, long names, a 5 MB file), tarred,
#     imported plain and encrypted, mounted, and every entry compared with
#     the source: content, mode, owner, times, xattrs, link targets,
#     hard-link groups, device numbers; random reads across chunk bounds;
#   - a stack of sealed layers made from OCI tarballs with whiteouts and
#     opaque dirs reads exactly as the same layers unpacked under kernel
#     overlayfs; sealed and dir layers mixed, under a plain and a vault
#     upper, with copy-up, and the changes kept across a remount;
#   - a damaged layer: a flipped chunk is EIO on the files that use it
#     only, with an audit record; a damaged superblock, a changed file under
#     its digest and a missing key each stop the mount with a message
#     naming the layer.
. "$(dirname "$0")/lib.sh"

[ -n "${LAMINA:-}" ] || lm_die "LAMINA is not set (path to the lamina binary)"
BB=$(command -v busybox || echo /bin/busybox)
[ -x "$BB" ] || lm_die "busybox not found (package busybox-static)"
command -v zstd >/dev/null || lm_die "zstd not found (package zstd)"

ST=$T/store
KEY=$T/a.key
lm_mkkey "$KEY"
L() { lm_t 300 "$LAMINA" --store "$ST" "$@"; }
L tenant create acme --key-file "$KEY" >/dev/null || lm_die "tenant create failed"

# ---- the source tree ----
R=$T/src/root
mkdir -p "$R"/bin "$R"/etc "$R"/dev "$R"/usr/share/data "$R"/tmp "$R"/deep
cp "$BB" "$R"/bin/busybox
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R"/etc/passwd
echo hello >"$R"/etc/hello && ln "$R"/etc/hello "$R"/etc/hello.link && ln "$R"/etc/hello "$R"/usr/hello3
install -m 4755 /dev/null "$R"/bin/suid
: >"$R"/etc/empty
setfattr -n user.note -v "patient-free" "$R"/etc/hello
setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$R"/bin/suid
mknod "$R"/dev/null2 c 1 3 && mknod "$R"/dev/loop9 b 7 9 && mkfifo "$R"/dev/fifo
chown 1000:1001 "$R"/etc/empty && chmod 0640 "$R"/etc/empty
head -c 5000000 /dev/urandom >"$R"/usr/share/data/random.bin
"$PY" -c 'import sys; sys.stdout.write("".join("line %d of a compressible file\n" % i for i in range(200000)))' \
	>"$R"/usr/share/data/text.txt
truncate -s 3M "$R"/usr/share/data/sparse && printf 'tail' >>"$R"/usr/share/data/sparse
LONG=$(printf 'n%.0s' $(seq 255))
echo long >"$R/deep/$LONG"
d="$R"/deep
for i in $(seq 30); do d=$d/d$i; done
mkdir -p "$d" && echo bottom >"$d"/f
ln -s ../etc/hello "$R"/usr/hello-link
ln -s /etc/passwd "$R"/etc/abs-link
touch -d '2001-02-03 04:05:06.123456789' "$R"/etc/hello
(cd "$R" && tar --format=pax --xattrs --xattrs-include='*' --numeric-owner -cf "$T/root.tar" .) ||
	lm_die "tar failed"
gzip -c "$T/root.tar" >"$T/root.tar.gz"
zstd -q -c "$T/root.tar" >"$T/root.tar.zst"

D_PLAIN=$(L layer import "$T/root.tar") || lm_die "import of root.tar failed"
D_GZ=$(L layer import "$T/root.tar.gz" --compress lz4hc --chunk-size 16K) || lm_die "import of root.tar.gz failed"
D_ENC=$(L layer import "$T/root.tar.zst" --tenant acme --key-file "$KEY" --chunk-size 1M) ||
	lm_die "encrypted import failed"
lm_log "layers: plain $D_PLAIN, gz/lz4hc/16K $D_GZ, encrypted/1M $D_ENC"

# compare SRC MNT LABEL — every entry of SRC as seen through MNT.
COMPARE_PY=$(
	cat <<'EOF'
import os, sys, stat, hashlib
src, mnt = sys.argv[1], sys.argv[2]
bad = []
groups_s, groups_m = {}, {}
def xattrs(p):
    out = {}
    for n in os.listxattr(p, follow_symlinks=False):
        out[n] = os.getxattr(p, n, follow_symlinks=False)
    return out
def digest(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()
n = 0
for dp, dns, fns in os.walk(src):
    rel = os.path.relpath(dp, src)
    for name in sorted(dns + fns):
        r = os.path.normpath(os.path.join(rel, name))
        a, b = os.path.join(src, r), os.path.join(mnt, r)
        n += 1
        try:
            sa, sb = os.lstat(a), os.lstat(b)
        except OSError as e:
            bad.append('%s: %s' % (r, e)); continue
        for f in ('st_mode', 'st_uid', 'st_gid', 'st_nlink'):
            if getattr(sa, f) != getattr(sb, f) and not (f == 'st_nlink' and stat.S_ISDIR(sa.st_mode)):
                bad.append('%s: %s %o != %o' % (r, f, getattr(sa, f), getattr(sb, f)))
        if not stat.S_ISDIR(sa.st_mode) and sa.st_mtime_ns != sb.st_mtime_ns:
            bad.append('%s: mtime %d != %d' % (r, sa.st_mtime_ns, sb.st_mtime_ns))
        if stat.S_ISREG(sa.st_mode):
            if sa.st_size != sb.st_size or digest(a) != digest(b):
                bad.append('%s: contents differ' % r)
            if sa.st_nlink > 1:
                groups_s.setdefault(sa.st_ino, set()).add(r)
                groups_m.setdefault(sb.st_ino, set()).add(r)
        elif stat.S_ISLNK(sa.st_mode):
            if os.readlink(a) != os.readlink(b):
                bad.append('%s: link target differs' % r)
        elif stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode):
            if sa.st_rdev != sb.st_rdev:
                bad.append('%s: rdev differs' % r)
        if xattrs(a) != xattrs(b):
            bad.append('%s: xattrs %r != %r' % (r, xattrs(a), xattrs(b)))
gs = sorted(sorted(g) for g in groups_s.values())
gm = sorted(sorted(g) for g in groups_m.values())
if gs != gm:
    bad.append('hard-link groups differ: %r != %r' % (gs, gm))
for b in bad[:30]:
    print(b)
print('%d entries compared, %d differences' % (n, len(bad)))
sys.exit(1 if bad else 0)
EOF
)

RANDREAD_PY=$(
	cat <<'EOF'
import os, sys, random
a, b = sys.argv[1], sys.argv[2]
data = open(a, 'rb').read()
fd = os.open(b, os.O_RDONLY)
rnd = random.Random(7)
for i in range(2000):
    off = rnd.randrange(0, len(data) + 10)
    ln = rnd.choice([1, 17, 4096, 65535, 65536, 65537, 200000, 1 << 20])
    got = os.pread(fd, ln, off)
    if got != data[off:off + ln]:
        print('read of %d at %d differs' % (ln, off)); sys.exit(1)
EOF
)

compare() {
	local label=$1 mnt=$2
	lm_t 300 "$PY" -c "$COMPARE_PY" "$R" "$mnt" >"$T/cmp.out" 2>&1
	lm_ok "$label: every entry matches the source ($(tail -1 "$T/cmp.out"))" test $? -eq 0 ||
		head -30 "$T/cmp.out"
	lm_ok "$label: random reads of the 5 MB file" \
		lm_t 120 "$PY" -c "$RANDREAD_PY" "$R/usr/share/data/random.bin" "$mnt/usr/share/data/random.bin"
	lm_ok "$label: random reads of the sparse file" \
		lm_t 120 "$PY" -c "$RANDREAD_PY" "$R/usr/share/data/sparse" "$mnt/usr/share/data/sparse"
}

# ---- round trip, every io back end ----
for io in uring shared pread uring,odirect pread,uring=1; do
	M=$T/m-${io%%,*}
	lm_mount "$M" "lowerdir=sealed:$D_PLAIN,store=$ST,io=$io" || lm_die "mount ($io) failed"
	compare "plain, io=$io" "$M"
	lm_ok "plain, io=$io: a command runs in the sealed root" \
		lm_t 30 chroot "$M" /bin/sh -c 'cat /etc/hello | grep -q hello'
	lm_umount "$M"
done
M=$T/m-gz
lm_mount "$M" "lowerdir=sealed:${D_GZ:0:12},store=$ST" || lm_die "mount by digest prefix failed"
compare "lz4hc, 16K chunks, by digest prefix" "$M"
lm_umount "$M"
for io in uring pread; do
	M=$T/m-enc-$io
	lm_mount "$M" "lowerdir=sealed:$D_ENC,store=$ST,tenant=acme,keyfile=$KEY,io=$io" ||
		lm_die "encrypted mount ($io) failed"
	compare "encrypted, 1M chunks, io=$io" "$M"
	lm_umount "$M"
done
# Rotation rewraps the layer's key (its file, and so its digest, unchanged).
lm_ok "tenant rotation" L tenant rotate acme --key-file "$KEY"
lm_ok "the encrypted layer mounts after a rotation" \
	lm_mount "$T/m-rot" "lowerdir=sealed:$D_ENC,store=$ST,tenant=acme,keyfile=$KEY"
lm_ok "and reads" cmp "$R/usr/share/data/random.bin" "$T/m-rot/usr/share/data/random.bin"
lm_umount "$T/m-rot"
lm_ok "and keeps its digest" test -f "$ST/layers/$D_ENC"
lm_ok "a path mount of a layer file named by its digest" \
	lm_mount "$T/m-path" "lowerdir=sealed:$ST/layers/$D_PLAIN"
lm_ok "path mount: reads" cmp "$R/usr/share/data/text.txt" "$T/m-path/usr/share/data/text.txt"
lm_umount "$T/m-path"

# ---- OCI stacks against kernel overlayfs ----
O=$T/oci
mkdir -p "$O"/l1/etc "$O"/l1/usr/lib "$O"/l1/var/cache/apt "$O"/l1/usr/share/doc/pkg "$O"/l2/etc \
	"$O"/l2/usr/lib "$O"/l2/var/cache/apt "$O"/l2/usr/share "$O"/l3/usr/share/doc "$O"/l3/etc
echo passwd1 >"$O"/l1/etc/passwd && echo hosts >"$O"/l1/etc/hosts && echo os >"$O"/l1/etc/os-release
echo old >"$O"/l1/usr/lib/old.so && echo a >"$O"/l1/var/cache/apt/a && echo r >"$O"/l1/usr/share/doc/pkg/README
touch "$O"/l2/etc/.wh.hosts "$O"/l2/usr/lib/.wh.old.so "$O"/l2/usr/share/.wh.doc "$O"/l2/var/cache/apt/.wh..wh..opq
echo c >"$O"/l2/var/cache/apt/c && echo passwd2 >"$O"/l2/etc/passwd
echo other >"$O"/l3/usr/share/doc/other && touch "$O"/l3/etc/.wh.os-release
for l in l1 l2 l3; do
	(cd "$O/$l" && tar --format=pax --numeric-owner -cf "$O/$l.tar" .) || lm_die "tar $l"
	eval "D_$l=\$(L layer import \"\$O/\$l.tar\")" || lm_die "import $l"
	# The same layer unpacked in the kernel's spelling.
	mkdir -p "$O/k$l" && tar -C "$O/k$l" -xf "$O/$l.tar"
	find "$O/k$l" -name '.wh..wh..opq' | while read -r f; do
		setfattr -n trusted.overlay.opaque -v y "$(dirname "$f")" && rm "$f"
	done
	find "$O/k$l" -name '.wh.*' | while read -r f; do
		n=$(basename "$f") && rm "$f" && mknod "$(dirname "$f")/${n#.wh.}" c 0 0
	done
done
lm_kmount "$T/kstack" "lowerdir=$O/kl3:$O/kl2:$O/kl1"
lm_mount "$T/sstack" "lowerdir=sealed:$D_l3:sealed:$D_l2:sealed:$D_l1,store=$ST" || lm_die "stack mount failed"
lm_snapshot "$T/kstack" merged >"$T/snap.k" && lm_snapshot "$T/sstack" merged >"$T/snap.s"
lm_diff "a stack of three sealed OCI layers reads as kernel overlayfs" "$T/snap.k" "$T/snap.s"
lm_umount "$T/sstack"
lm_unmount_one "$T/kstack"

# Sealed and dir layers mixed, under a plain upper: copy-up and a remount.
mkdir -p "$T/mix/up" "$T/mix/work" "$T/mix/dirl/etc"
echo from-dir >"$T/mix/dirl/etc/dirfile"
MIX="lowerdir=sealed:$D_l3:$T/mix/dirl:sealed:$D_l2:sealed:$D_l1,upperdir=$T/mix/up,workdir=$T/mix/work,store=$ST"
lm_mount "$T/mix/m" "$MIX" || lm_die "mixed mount failed"
(
	cd "$T/mix/m" || exit 1
	echo appended >>etc/passwd && chmod 0600 etc/passwd && mv usr/share/doc/other usr/share/doc/moved &&
		rm var/cache/apt/c && mkdir -p new && echo n >new/f && ln etc/dirfile etc/dirfile2
) || lm_fail "changes on the mixed stack failed"
lm_umount "$T/mix/m"
lm_mount "$T/mix/m" "$MIX" || lm_die "mixed remount failed"
lm_ok "copy-up from a sealed layer kept its data" \
	test "$(cat "$T/mix/m/etc/passwd")" = "$(printf 'passwd2\nappended')"
lm_ok "chmod after copy-up" test "$(stat -c %a "$T/mix/m/etc/passwd")" = 600
lm_ok "rename out of a sealed layer" test -f "$T/mix/m/usr/share/doc/moved" -a ! -e "$T/mix/m/usr/share/doc/other"
lm_ok "delete from a sealed layer" test ! -e "$T/mix/m/var/cache/apt/c"
lm_ok "hard link in the upper" test "$(stat -c %h "$T/mix/m/etc/dirfile")" = 2
lm_ok "the sealed layer files are untouched" L layer verify "$D_l2"
lm_umount "$T/mix/m"

# An encrypted sealed lower under a vault upper of the same tenant.
mkdir -p "$T/venc/up" "$T/venc/work"
VOPT="lowerdir=sealed:$D_ENC,upperdir=$T/venc/up,workdir=$T/venc/work,store=$ST,tenant=acme,keyfile=$KEY"
lm_mount "$T/venc/m" "$VOPT" || lm_die "encrypted stack mount failed"
echo "secret-note" >>"$T/venc/m/etc/hello" || lm_fail "copy-up into the vault failed"
lm_umount "$T/venc/m"
lm_ok "the vault upper holds no plaintext" sh -c "! grep -r -q secret-note '$T/venc/up'"
lm_mount "$T/venc/m" "$VOPT" || lm_die "encrypted stack remount failed"
lm_ok "copy-up from an encrypted layer into a vault" grep -q secret-note "$T/venc/m/etc/hello"
lm_umount "$T/venc/m"

# ---- damage ----
mkdir -p "$T/bad"
cp "$ST/layers/$D_PLAIN" "$T/bad/flipped"
# The first chunk stored: flip one byte of it.
printf '\xff' | dd of="$T/bad/flipped" bs=1 seek=300 conv=notrunc 2>/dev/null
lm_mount "$T/m-bad" "lowerdir=sealed:$T/bad/flipped,store=$ST" || lm_die "mount of a layer with a bad chunk failed"
"$PY" - "$T/m-bad" "$R" >"$T/bad.out" 2>&1 <<'EOF'
import os, sys, errno
mnt, src = sys.argv[1], sys.argv[2]
eio = ok = wrong = 0
for dp, dns, fns in os.walk(src):
    for n in fns:
        a = os.path.join(dp, n)
        if not os.path.isfile(a) or os.path.islink(a):
            continue
        b = os.path.join(mnt, os.path.relpath(a, src))
        try:
            got = open(b, 'rb').read()
        except OSError as e:
            if e.errno != errno.EIO:
                print('unexpected error', b, e); wrong += 1
            eio += 1
            continue
        if got != open(a, 'rb').read():
            print('WRONG BYTES', b); wrong += 1
        ok += 1
print('eio=%d ok=%d wrong=%d' % (eio, ok, wrong))
sys.exit(0 if eio >= 1 and wrong == 0 and ok > 10 else 1)
EOF
lm_ok "a flipped chunk: EIO on its files, every other file reads right ($(tail -1 "$T/bad.out"))" test $? -eq 0 ||
	cat "$T/bad.out"
lm_umount "$T/m-bad"
lm_ok "the bad chunk is in the audit log" sh -c "'$LAMINA' --store '$ST' audit show | grep -q layer.integrity"

cp "$ST/layers/$D_PLAIN" "$T/bad/sb"
# A byte of the metadata's hash in the superblock.
printf '\x01' | dd of="$T/bad/sb" bs=1 seek=170 conv=notrunc 2>/dev/null
mkdir -p "$T/m-sb"
out=$(lm_t 30 "$LAMINAFS" -f -o "lowerdir=sealed:$T/bad/sb" "$T/m-sb" 2>&1 </dev/null)
lm_ok "a layer whose metadata does not match its superblock does not mount" test $? -ne 0
lm_ok "and the message names the layer ($out)" grep -q "$T/bad/sb" <<<"$out"

cp "$ST/layers/$D_GZ" "$T/bad/$D_PLAIN"
out=$(lm_t 30 "$LAMINAFS" -f -o "lowerdir=sealed:$T/bad/$D_PLAIN" "$T/m-sb" 2>&1 </dev/null)
lm_ok "a layer file whose name is not its digest does not mount ($out)" test $? -ne 0

out=$(lm_t 30 "$LAMINAFS" -f -o "lowerdir=sealed:$D_ENC,store=$ST" "$T/m-sb" 2>&1 </dev/null)
lm_ok "an encrypted layer without its tenant does not mount" test $? -ne 0
lm_ok "and the message says which tenant ($out)" grep -q acme <<<"$out"

# Shredding the tenant makes its layers unreadable for good.
lm_ok "tenant shred" L tenant shred acme --yes
out=$(lm_t 30 "$LAMINAFS" -f -o "lowerdir=sealed:$D_ENC,store=$ST,tenant=acme,keyfile=$KEY" "$T/m-sb" 2>&1 </dev/null)
lm_ok "a shredded tenant's layer does not mount" test $? -ne 0
lm_ok "and the message says it was shredded ($out)" grep -qi shred <<<"$out"

lm_finish
