#!/bin/bash
# vault_at_rest: nothing written through a vault mount is readable on disk.
# Known markers go into file names (one of 255 bytes, stored through a
# long-name side file), directory names, contents (small files, a 100 MB
# file with the marker all through it, appends, a rename), symlink targets,
# user.* xattr names and values, on:
#   - a volume (the vault alone)
#   - an encrypted container upper (lowerdir=,upperdir=,workdir=,tenant=),
#     with copy-up of lower files holding a marker (contents, xattr-only
#     and parent-directory copy-up) and a whiteout of a lower file whose
#     name holds one
#   - a container root: a busybox rootfs as the lower, the vault as the
#     upper, files written by `chroot MNT /bin/sh -c ...`
# After unmounting, scan_markers finds none of them, in any encoding it
# knows (raw, hex, base64 and base64url at three alignments), under the
# store, the volume, the uppers or the work dirs (the lowers are plaintext
# by design: the scanner must find the lower's marker there, which shows it
# works on this data).  After a remount everything reads back the same
# (names, sizes, contents, targets, xattrs); the container root's files are
# checked from inside the chroot again.
. "$(dirname "$0")/vault_lib.sh"
. "$(dirname "$0")/scan_markers.sh"

P=PHIMARKER7f3a9c1e
MD=$P-data     # contents
MN=$P-name     # file and directory names
ML=$P-link     # symlink targets
MXN=$P-xname   # xattr names
MXV=$P-xval    # xattr values
MB=$P-bigfile  # the 100 MB file
MLO=$P-lower   # lower files (plaintext), copied up
MC=$P-chroot   # written from inside the container root
MARKERS=("$MD" "$MN" "$ML" "$MXN" "$MXV" "$MB" "$MLO" "$MC")
BIG_MB=${LM_VAULT_BIG_MB:-100}

# The name of 255 bytes.
LONG="long-$MN-"
while [ ${#LONG} -lt 255 ]; do LONG="${LONG}x"; done

# scan WHAT DIR... — no marker anywhere under DIR.
scan() {
	local what=$1 d rc
	shift
	for d in "$@"; do
		scan_markers "$d" "${MARKERS[@]}" >"$T/scan" 2>&1
		rc=$?
		if [ "$rc" -ne 0 ]; then
			lm_fail "$what: scan_markers $d returned $rc:"
			head -n 20 "$T/scan" | sed 's/^/    /'
		fi
	done
}

# fill DIR — the common set of marked entries, written through a mount.
fill() {
	local d=$1
	mkdir "$d/dir-$MN" &&
		printf '%s\n' "$MD" >"$d/dir-$MN/small-$MN" &&
		for i in $(seq 2000); do printf '%s %d\n' "$MD" "$i"; done >"$d/dir-$MN/file-$MN" &&
		printf '%s appended\n' "$MD" >>"$d/dir-$MN/small-$MN" &&
		printf '%s\n' "$MD" >"$d/dir-$MN/$LONG" &&
		printf '%s\n' "$MD" >"$d/dir-$MN/before-$MN" &&
		mv "$d/dir-$MN/before-$MN" "$d/dir-$MN/after-$MN" &&
		ln -s "/srv/$ML/target" "$d/link-$MN" &&
		ln -s "$ML" "$d/dir-$MN/rel-$MN" &&
		setfattr -n "user.$MXN" -v "$MXV" "$d/dir-$MN/file-$MN" &&
		setfattr -n "user.$MXN" -v "0x$(printf '%s' "$MXV" | od -An -v -tx1 | tr -d ' \n')00ff" "$d/dir-$MN" &&
		setfattr -n "user.$MXN" -v "$MXV" "$d/dir-$MN/$LONG"
}

vt_tenant acme

# ---- a volume ---------------------------------------------------------------
V=$T/vol VM=$T/vmnt
vt_mount_volume "$VM" "$V" acme || lm_die "cannot mount the volume"
fill "$VM" || lm_fail "writing the marked entries on the volume failed"
start=$SECONDS
"$PY" - "$VM/big-$MN" "$MB" "$BIG_MB" >"$T/big.sum" <<'EOF' || lm_fail "writing the big file failed"
import hashlib, sys
path, marker, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = hashlib.sha256()
line = 0
with open(path, 'wb') as f:
    for _ in range(mb):
        buf = bytearray()
        while len(buf) < 1 << 20:
            buf += b'%s %d\n' % (marker.encode(), line)
            line += 1
        chunk = bytes(buf[:1 << 20])
        h.update(chunk)
        f.write(chunk)
print(h.hexdigest())
EOF
lm_log "wrote ${BIG_MB} MB through the volume in $((SECONDS - start)) s"
lm_snapshot "$VM" >"$T/vol.before"
lm_umount "$VM"
[ -n "$(find "$V" -name 'lamina.long.*.name')" ] ||
	lm_fail "the 255-byte name has no long-name side file in the volume"

# ---- an encrypted container upper -------------------------------------------
L=$T/lower U=$T/upper W=$T/work CM=$T/cmnt
mkdir -p "$L/ldir-$MLO" "$U" "$W"
for f in "copy-$MLO" "xattr-$MLO" "gone-$MLO" "keep-$MLO" "ldir-$MLO/inner-$MLO"; do
	printf '%s lower contents\n' "$MLO" >"$L/$f"
done
lm_mount "$CM" "lowerdir=$L,upperdir=$U,workdir=$W,$(vt_opts acme)" ||
	lm_die "cannot mount the encrypted container upper"
fill "$CM" || lm_fail "writing the marked entries on the container mount failed"
printf '%s appended\n' "$MD" >>"$CM/copy-$MLO" || lm_fail "copy-up by append failed"
setfattr -n "user.$MXN" -v "$MXV" "$CM/xattr-$MLO" || lm_fail "copy-up by setfattr failed"
rm "$CM/gone-$MLO" || lm_fail "rm of a lower file failed"
printf '%s more\n' "$MD" >>"$CM/ldir-$MLO/inner-$MLO" || lm_fail "copy-up in a lower dir failed"
lm_snapshot "$CM" >"$T/cont.before"
lm_umount "$CM"
[ -n "$(find "$U" -mindepth 1 -name 'lamina.*' -prune -o -print)" ] ||
	lm_fail "the container upper holds no entries: did the writes reach it?"

# ---- a container root -------------------------------------------------------
R=$T/rootfs CU=$T/cupper CW=$T/cwork CR=$T/croot
BUSYBOX=$(command -v busybox || true)
if [ -n "$BUSYBOX" ] && ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic'; then
	mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$CU" "$CW"
	cp "$BUSYBOX" "$R/bin/busybox"
	for app in $("$R/bin/busybox" --list); do
		[ -e "$R/bin/$app" ] || ln -s busybox "$R/bin/$app"
	done
	printf '%s motd\n' "$MLO" >"$R/etc/motd"
	ROOTFS=1
else
	lm_fail "no static busybox (package busybox-static, see scripts/deps.sh): container root not tested"
	ROOTFS=
fi
if [ -n "$ROOTFS" ]; then
	lm_mount "$CR" "lowerdir=$R,upperdir=$CU,workdir=$CW,$(vt_opts acme)" ||
		lm_die "cannot mount the container root"
	lm_t 60 chroot "$CR" /bin/sh -c "
		set -e
		mkdir -p /data/sub-$MC
		echo '$MC file' > /data/sub-$MC/file-$MC
		i=0
		while [ \$i -lt 300 ]; do echo \"$MC line \$i\" >> /data/log-$MC; i=\$((i + 1)); done
		ln -s /data/target-$MC /data/lnk-$MC
		echo '$MC' >> /etc/motd
		mv /data/log-$MC /data/moved-$MC
		rm /bin/ls
		cd /data && sha256sum sub-$MC/file-$MC moved-$MC /etc/motd > /data/sums
		sync
	" >"$T/out" 2>&1 || lm_fail "writing in the container root failed: $(cat "$T/out")"
	lm_snapshot "$CR" >"$T/root.before"
	lm_umount "$CR"
fi

# ---- at rest ----------------------------------------------------------------
# The scanner finds the lower's plaintext marker (a check of the check).
scan_markers "$L" "$MLO" >"$T/scan" 2>&1
lm_check "scan_markers finds the marker in the plaintext lower" 1 $?
start=$SECONDS
scan "volume at rest" "$V"
scan "container upper at rest" "$U" "$W"
[ -n "$ROOTFS" ] && scan "container root upper at rest" "$CU" "$CW"
scan "store" "$VT_STORE"
lm_log "scanned in $((SECONDS - start)) s"

# ---- back again -------------------------------------------------------------
vt_mount_volume "$VM" "$V" acme || lm_die "cannot remount the volume"
lm_snapshot "$VM" >"$T/vol.after"
lm_diff "volume after a remount (- before, + after)" "$T/vol.before" "$T/vol.after"
got=$(sha256sum <"$VM/big-$MN" | cut -d' ' -f1)
lm_check "the ${BIG_MB} MB file after a remount" "$(cat "$T/big.sum")" "$got"
lm_check "size of the ${BIG_MB} MB file" $((BIG_MB << 20)) "$(stat -c %s "$VM/big-$MN")"
lm_umount "$VM"

lm_mount "$CM" "lowerdir=$L,upperdir=$U,workdir=$W,$(vt_opts acme)" ||
	lm_die "cannot remount the container upper"
lm_snapshot "$CM" >"$T/cont.after"
lm_diff "container mount after a remount (- before, + after)" "$T/cont.before" "$T/cont.after"
[ -e "$CM/gone-$MLO" ] && lm_fail "the removed lower file is back after a remount"
lm_umount "$CM"

if [ -n "$ROOTFS" ]; then
	lm_mount "$CR" "lowerdir=$R,upperdir=$CU,workdir=$CW,$(vt_opts acme)" ||
		lm_die "cannot remount the container root"
	lm_snapshot "$CR" >"$T/root.after"
	lm_diff "container root after a remount (- before, + after)" "$T/root.before" "$T/root.after"
	got=$(lm_t 60 chroot "$CR" /bin/sh -c "
		cd /data && sha256sum -c -s sums && echo sums-ok
		readlink /data/lnk-$MC
		[ -e /bin/ls ] || echo ls-gone
		[ -e /data/log-$MC ] || echo log-moved
		tail -n 1 /etc/motd
		wc -l < /data/moved-$MC
	" 2>&1 | tr '\n' ' ')
	lm_check "container root from inside after a remount" \
		"sums-ok /data/target-$MC ls-gone log-moved $MC 300 " "$got"
	lm_umount "$CR"
fi

lm_finish
