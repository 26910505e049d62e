#!/bin/bash
# whiteouts: every spelling of whiteouts and opaque directories that
# containers-storage leaves in lower layers, and the whiteouts laminafs
# writes itself.
#   - lower whiteouts as char devices 0/0 and as `.wh.NAME` files; opaque
#     directories via trusted.overlay.opaque=y, user.overlay.opaque=y and a
#     `.wh..wh..opq` file
#   - a hidden name is absent from readdir AND from lookup (stat gives
#     ENOENT), before and after an `ls` of its directory; the `.wh.*` marker
#     files themselves are never visible
#   - `.wh.` whiteouts across a stack of two lowers, and a name re-created
#     in a layer above its whiteout
#   - unlink through the mount leaves a char device 0/0 in the upper; rmdir
#     of a merged directory works, and mkdir of the same name then gives an
#     empty, opaque directory
# The kernel oracle reads the same layers rewritten into its own spelling
# (char devices and trusted.overlay.opaque), see lm_kernel_spelling.
#
# fuse-overlayfs 1.10 fails these checks (kernel overlayfs passes them):
#   - "unlink lower files": `ls -a` of the mount root lists no `..`
#   - after `mkdir gone_dir` over a directory hidden by a lower `.wh.`
#     whiteout, and after `rm -r dd; mkdir dd` (then a remount), stat of
#     gone_dir/sub succeeds (in some runs), and after a remount stat of
#     dd/x and gone_dir/sub succeeds (in most runs):
#     lookup leaks lower entries through the new opaque directory although
#     readdir hides them.
. "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S"/l1 "$S"/l2 "$S"/l3
# Bottom layer: everything that the layers above hide.
for f in a b c e keepme; do echo "l3 $f" >"$S/l3/$f"; done
for d in t_trusted t_user t_opq t_plain gone_dir dd keep; do
	mkdir "$S/l3/$d"
	echo "l3 $d/x" >"$S/l3/$d/x"
	echo "l3 $d/y" >"$S/l3/$d/y"
done
mkdir "$S"/l3/gone_dir/sub && echo deep >"$S"/l3/gone_dir/sub/deep

# Middle layer: one of each whiteout spelling.
mknod "$S"/l2/a c 0 0                      # char-device whiteout
touch "$S"/l2/.wh.b                        # podman's file whiteout
mkdir "$S"/l2/t_trusted "$S"/l2/t_user "$S"/l2/t_opq "$S"/l2/t_plain "$S"/l2/keep
setfattr -n trusted.overlay.opaque -v y "$S"/l2/t_trusted
setfattr -n user.overlay.opaque -v y "$S"/l2/t_user
touch "$S"/l2/t_opq/.wh..wh..opq
for d in t_trusted t_user t_opq t_plain; do echo "l2 $d/z" >"$S/l2/$d/z"; done
mknod "$S"/l2/t_plain/x c 0 0               # whiteout inside a merged dir
touch "$S"/l2/keep/.wh.y                    # .wh. inside a merged dir
touch "$S"/l2/.wh.gone_dir                  # a whole directory hidden
echo "l2 keepme" >"$S"/l2/keepme

# Top layer: `.wh.` whiteouts over names two layers down, names re-created
# above a whiteout, an opaque dir hiding a merged dir.
touch "$S"/l1/.wh.e                         # hides l3/e through l2
touch "$S"/l1/.wh.keepme                    # hides l2/keepme and l3/keepme
echo "l1 b again" >"$S"/l1/b               # re-created above l2/.wh.b
mkdir "$S"/l1/t_plain && touch "$S"/l1/t_plain/.wh..wh..opq
echo "l1 t_plain/w" >"$S"/l1/t_plain/w
mkdir "$S"/l1/keep && touch "$S"/l1/keep/.wh.x

# name -> "visible" or "hidden", checked on both mounts.
EXPECT='a hidden
b visible
c visible
e hidden
keepme hidden
gone_dir hidden
gone_dir/sub hidden
t_trusted/x hidden
t_trusted/y hidden
t_trusted/z visible
t_user/x hidden
t_user/y hidden
t_user/z visible
t_opq/x hidden
t_opq/y hidden
t_opq/z visible
t_plain/x hidden
t_plain/y hidden
t_plain/z hidden
t_plain/w visible
keep/x hidden
keep/y hidden
dd/x visible
.wh.b hidden
.wh.e hidden
.wh.keepme hidden
.wh.gone_dir hidden
t_opq/.wh..wh..opq hidden
t_plain/.wh..wh..opq hidden
keep/.wh.y hidden
keep/.wh.x hidden'

# check_visibility MOUNT LABEL — lookup first (cold), then readdir, then
# lookup again (after the directory was listed and cached).
VIS_PY='
for line in sys.stdin.read().splitlines():
    name, want = line.split()
    if sys.argv[2] == "stat":
        got = "visible" if res(os.lstat, os.path.join(sys.argv[1], name)) == "OK" else "hidden"
    else:
        d, b = os.path.split(name)
        try:
            names = os.listdir(os.path.join(sys.argv[1], d))
        except FileNotFoundError:
            names = []
        got = "visible" if b in names else "hidden"
    print(name, got)'
check_visibility() {
	local m=$1 what=$2 pass
	for pass in stat readdir stat; do
		lm_py "$VIS_PY" "$m" "$pass" <<<"$EXPECT" >"$T/vis.got" 2>&1
		if ! diff <(echo "$EXPECT") "$T/vis.got" >"$T/vis.diff"; then
			lm_fail "$what: $pass shows names it should hide or hides names it should show (< want, > got):"
			grep '^[<>]' "$T/vis.diff"
		fi
	done
	lm_check "$what: b comes from l1" "l1 b again" "$(cat "$m/b")"
	lm_check "$what: t_trusted lists only z" z "$(ls -A "$m/t_trusted" | tr '\n' ' ' | sed 's/ $//')"
	lm_check "$what: t_plain (opaque in l1) lists only w" w "$(ls -A "$m/t_plain" | tr '\n' ' ' | sed 's/ $//')"
	lm_check "$what: keep/ is empty" "" "$(ls -A "$m/keep")"
}

lm_log "read-only merge of l1:l2:l3"
lm_pair_mount l1:l2:l3 "" kspell
check_visibility "$FSM" laminafs
check_visibility "$KOM" kernel
lm_compare_merged "ro whiteouts"
lm_pair_umount

lm_log "the same under an upper, then changes through the mount"
lm_pair_mount l1:l2:l3 upper kspell
check_visibility "$FSM" "laminafs+upper"
lm_compare_merged "whiteouts with upper"

# Unlink through the mount: char device 0/0 in the upper.
lm_both "unlink lower files" 'rm c dd/x && ls -a . dd; cat c 2>&1; true'
for side in FS KO; do
	[ "$side" = FS ] && u=$FSU || u=$KOU
	lm_check "$side: upper/c is a 0/0 whiteout" "character special file 0 0" \
		"$(stat -c '%F %t %T' "$u/c" 2>&1)"
	lm_check "$side: upper/dd/x is a 0/0 whiteout" "character special file 0 0" \
		"$(stat -c '%F %t %T' "$u/dd/x" 2>&1)"
done
lm_check "laminafs: stat of deleted c" "c: ENOENT" "$(lm_py 'try_("c", os.lstat, sys.argv[1])' "$FSM/c")"

# rmdir of a merged directory, then mkdir of the same name: empty + opaque.
lm_both "rm -r and mkdir of a merged dir" 'rm -r dd && ls dd 2>&1; mkdir dd && ls -A dd; echo new > dd/n; ls -A dd'
lm_both "rmdir of a dir with only lower entries left" 'rmdir t_user 2>&1; rm t_user/z && rmdir t_user && ls -a | grep -c t_user'
lm_both "mkdir over a directory hidden by .wh." 'mkdir gone_dir && ls -A gone_dir; stat -c %F gone_dir/sub 2>&1 | sed "s/.*: //"'
lm_both "create over a whiteout" 'echo fresh > a && cat a && ls | grep -cx a'
# dd hid lower entries through a whiteout in the upper, so it must be
# opaque now.  (gone_dir need not be: its whiteout was in a lower layer, and
# the kernel leaves it non-opaque.)
for side in FS KO; do
	[ "$side" = FS ] && u=$FSU || u=$KOU
	got=$(lm_snapshot "$u" upper | grep -E '^\./dd ' | sed 's/^\(\S*\) d .* \(opaque\)$/\1 \2/')
	lm_check "$side: re-made dd is opaque in the upper" "./dd opaque" "$got"
done
for n in dd/x gone_dir/sub t_user; do
	lm_check "laminafs: stat $n after rm -r + mkdir" "$n: ENOENT" \
		"$(lm_py 'try_(sys.argv[2], os.lstat, sys.argv[1])' "$FSM/$n" "$n")"
	lm_check "kernel: stat $n after rm -r + mkdir" "$n: ENOENT" \
		"$(lm_py 'try_(sys.argv[2], os.lstat, sys.argv[1])' "$KOM/$n" "$n")"
done
lm_compare_merged "after unlink/rmdir/mkdir"

# Remount: the upper's whiteouts and opaque dirs are read back.
lm_pair_umount
lm_log "remount over the same upper"
lm_mount "$FSM" "lowerdir=$FS/l1:$FS/l2:$FS/l3,upperdir=$FSU,workdir=$FS/work" || lm_die "remount failed"
lm_kmount "$KOM" "lowerdir=$KO/l1:$KO/l2:$KO/l3,upperdir=$KOU,workdir=$KO/work" || lm_die "kernel remount failed"
lm_compare_merged "after remount"
for n in c dd/x gone_dir/sub t_user; do
	got=$(lm_py 'try_(sys.argv[2], os.lstat, sys.argv[1])' "$FSM/$n" "$n")
	lm_check "laminafs after remount: stat $n" "$n: ENOENT" "$got"
	got=$(lm_py 'try_(sys.argv[2], os.lstat, sys.argv[1])' "$KOM/$n" "$n")
	lm_check "kernel after remount: stat $n" "$n: ENOENT" "$got"
done


lm_finish
