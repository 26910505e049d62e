#!/bin/bash
# volume_cli: `lamina volume` as an admin uses it (the built binary in
# $LAMINA; no FUSE needed).
#   - --help on the noun and every verb; unknown verb; bad names and options
#   - create with a key file and a passphrase file, both ciphers; ls and
#     inspect, text and --json; the header on disk
#   - wrong tenant secret, unknown tenant, shredded tenant, existing volume:
#     one line on stderr, the documented exit, no volume left behind
#   - rotate, then inspect shows the new slot version (the old one retired)
#   - mount builds laminafs's command line with the secret on a pipe only:
#     a stand-in laminafs first in PATH records what it gets (a real mount
#     is not tested here)
#   - rm refuses without --force when there is no terminal, then removes,
#     and leaves an audit record
set -u
. "$(dirname "$0")/check.sh"

[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA must name the lamina binary"
command -v "$PY" >/dev/null || lm_die "python3 is needed"
lm_tmpdir
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE
S=$T/store
L() { "$LAMINA" --store "$S" "$@"; }

volumes() { (cd "$S/volumes" 2>/dev/null && ls -A | tr '\n' ' '); }

# ---- help ----------------------------------------------------------------
for cmd in "volume" "volume create" "volume ls" "volume inspect" "volume rm" \
	"volume mount" "volume umount"; do
	# shellcheck disable=SC2086
	out=$("$LAMINA" $cmd --help 2>&1)
	lm_check "lamina $cmd --help exit" 0 $?
	[ -n "$out" ] || lm_fail "lamina $cmd --help printed nothing"
done
"$LAMINA" --help | grep -q "volume create" || lm_fail "lamina --help lacks the volume noun"
"$LAMINA" volume >/dev/null 2>&1
lm_check "volume without a verb" 2 $?
lm_expect_fail "unknown verb" 2 "unknown verb 'volume frob'" "$LAMINA" volume frob

# ---- create ----------------------------------------------------------------
lm_mkkey "$T/ka"; lm_mkkey "$T/kother"; lm_mkpass "$T/pb" "beta passphrase"; lm_mkpass "$T/pbad" "wrong"
L tenant create acme --key-file "$T/ka" >/dev/null || lm_die "tenant acme"
L tenant create beta --passphrase-file "$T/pb" --kdf-cost interactive >/dev/null || lm_die "tenant beta"
L tenant create gone --key-file "$T/kother" >/dev/null || lm_die "tenant gone"
L volume create v1 --tenant acme --key-file "$T/ka" >"$T/out" 2>&1 ||
	lm_fail "create v1: $(cat "$T/out")"
grep -q "^created volume v1 (tenant acme, " "$T/out" || lm_fail "create output: $(cat "$T/out")"
L volume create v2 --tenant beta --passphrase-file "$T/pb" --cipher xchacha20poly1305 --json \
	>"$T/out" 2>&1 || lm_fail "create v2: $(cat "$T/out")"
"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["volume"] == "v2" and d["tenant"] == "beta" and d["cipher"] == "xchacha20-poly1305", d
assert len(d["uuid"]) == 32 and d["key_version"] == 1, d
' "$T/out" || lm_fail "create --json: $(cat "$T/out")"
if grep -q aes /proc/cpuinfo; then
	L volume create v3 --tenant acme --key-file "$T/ka" --cipher aes256gcm >/dev/null 2>&1 ||
		lm_fail "create with aes256gcm"
fi
perm=$(stat -c %a "$S/volumes/v1"); lm_check "volume dir mode" 700 "$perm"
perm=$(stat -c %a "$S/volumes/v1/lamina.vault"); lm_check "header mode" 600 "$perm"
lm_check "dirid size" 16 "$(stat -c %s "$S/volumes/v1/lamina.dirid")"
head -c 8 "$S/volumes/v1/lamina.vault" | grep -q LMVAULT || lm_fail "header magic"

# ---- failures: nothing left behind ---------------------------------------
before=$(volumes)
lm_expect_fail "wrong tenant secret" 4 "wrong key file for tenant acme" \
	"$LAMINA" --store "$S" volume create bad --tenant acme --key-file "$T/kother"
lm_expect_fail "wrong passphrase" 4 "wrong passphrase for tenant beta" \
	"$LAMINA" --store "$S" volume create bad --tenant beta --passphrase-file "$T/pbad"
lm_expect_fail "key file for a passphrase tenant" 4 "protected by a passphrase" \
	"$LAMINA" --store "$S" volume create bad --tenant beta --key-file "$T/ka"
lm_expect_fail "unknown tenant" 3 "no tenant nobody" \
	"$LAMINA" --store "$S" volume create bad --tenant nobody --key-file "$T/ka"
lm_expect_fail "no --tenant" 2 "needs --tenant" \
	"$LAMINA" --store "$S" volume create bad --key-file "$T/ka"
lm_expect_fail "bad cipher" 2 "unknown --cipher 'rot13'" \
	"$LAMINA" --store "$S" volume create bad --tenant acme --key-file "$T/ka" --cipher rot13
lm_expect_fail "invalid volume name" 2 "invalid volume name" \
	"$LAMINA" --store "$S" volume create ../x --tenant acme --key-file "$T/ka"
lm_expect_fail "existing volume" 1 "volume v1 already exists" \
	"$LAMINA" --store "$S" volume create v1 --tenant acme --key-file "$T/ka"
lm_expect_fail "missing volume" 3 "no volume nope" "$LAMINA" --store "$S" volume inspect nope
lm_expect_fail "no secret and no terminal" 2 "no terminal" \
	setsid "$LAMINA" --store "$S" volume create bad --tenant beta
L tenant shred gone --yes >/dev/null || lm_fail "shred gone"
lm_expect_fail "shredded tenant" 5 "tenant gone was shredded" \
	"$LAMINA" --store "$S" volume create bad --tenant gone --key-file "$T/kother"
lm_check "no volume left behind by the failures" "$before" "$(volumes)"

# ---- ls and inspect ------------------------------------------------------
L volume ls >"$T/out" || lm_fail "ls"
grep -Eq "^v1 +acme +(aes-256-gcm|xchacha20-poly1305) +[0-9a-f]{32} " "$T/out" || lm_fail "ls: $(cat "$T/out")"
grep -Eq "^v2 +beta +xchacha20-poly1305 " "$T/out" || lm_fail "ls v2: $(cat "$T/out")"
L volume ls --json | "$PY" -c '
import json, sys
d = {v["name"]: v for v in json.load(sys.stdin)}
assert {"v1", "v2"} <= set(d), d
assert d["v2"]["tenant"] == "beta" and d["v2"]["size"] > 0 and d["v2"]["mounted"] is False, d
' || lm_fail "ls --json"
L volume inspect v1 >"$T/out" || lm_fail "inspect v1"
grep -q "^key slots: *v1 (active)$" "$T/out" || lm_fail "inspect v1: $(cat "$T/out")"
grep -q "^mounted: *no$" "$T/out" || lm_fail "inspect: mounted"
grep -q "^rekey: *none$" "$T/out" || lm_fail "inspect: rekey"

# ---- rotation --------------------------------------------------------------
uuid1=$(L volume inspect v1 --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
L tenant rotate acme --key-file "$T/ka" >"$T/out" 2>&1 || lm_fail "rotate acme: $(cat "$T/out")"
grep -q "rotated to key version v2" "$T/out" || lm_fail "rotate output: $(cat "$T/out")"
L volume inspect v1 --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["slots"] == [{"version": 2, "state": "active"}], d["slots"]
assert d["uuid"] == sys.argv[1] and d["generation"] == 1, d
' "$uuid1" || lm_fail "inspect after rotation: $(L volume inspect v1 --json)"
L volume inspect v1 | grep -q "^key slots: *v2 (active)$" || lm_fail "inspect text after rotation"
L volume inspect v2 --json | "$PY" -c '
import json, sys
assert json.load(sys.stdin)["slots"] == [{"version": 1, "state": "active"}]
' || lm_fail "beta's volume changed by acme's rotation"

# ---- mount: the command line, the secret on a pipe -------------------------
mkdir -p "$T/bin" "$T/mnt"
cat >"$T/bin/laminafs" <<'EOF'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_OUT.argv"
env >"$FAKE_OUT.env"
cat <&3 >"$FAKE_OUT.secret"
exit "${FAKE_RC:-0}"
EOF
chmod +x "$T/bin/laminafs"
lmount() { PATH=$T/bin:$PATH FAKE_OUT=$T/fake "$LAMINA" --store "$S" volume mount "$@"; }
lmount v1 "$T/mnt" --key-file "$T/ka" -o ro >"$T/out" 2>&1 || lm_fail "mount v1: $(cat "$T/out")"
want="upperdir=$S/volumes/v1,tenant=acme,store=$S,keyfd=3,ro,fsname=lamina-vault:$uuid1"
lm_check "laminafs argv" "$(printf '%s\n' -o "$want" "$T/mnt")" "$(cat "$T/fake.argv")"
cmp -s "$T/ka" "$T/fake.secret" || lm_fail "the key file did not come through descriptor 3"
keyhex=$(od -An -tx1 "$T/ka" | tr -d ' \n')
grep -qi "$keyhex" "$T/fake.env" "$T/fake.argv" && lm_fail "the secret is in laminafs's argv or environment"
lmount v2 "$T/mnt" --passphrase-file "$T/pb" >"$T/out" 2>&1 || lm_fail "mount v2: $(cat "$T/out")"
grep -q "^upperdir=$S/volumes/v2,tenant=beta,store=$S,passfd=3,fsname=" "$T/fake.argv" ||
	lm_fail "mount v2 argv: $(cat "$T/fake.argv")"
lm_check "passphrase through descriptor 3" "beta passphrase" "$(cat "$T/fake.secret")"
grep -q "beta passphrase" "$T/fake.env" "$T/fake.argv" && lm_fail "the passphrase is in argv or environment"
rm -f "$T/fake.argv"
lm_expect_fail "mount with a wrong secret" 4 "wrong key file for tenant acme" \
	lmount v1 "$T/mnt" --key-file "$T/kother"
[ -e "$T/fake.argv" ] && lm_fail "laminafs ran with a wrong secret"
lm_expect_fail "mount: -o sets what lamina sets" 2 "lamina sets tenant= itself" \
	lmount v1 "$T/mnt" --key-file "$T/ka" -o ro,tenant=beta
lm_expect_fail "mount: no mount point" 3 "create the directory first" \
	lmount v1 "$T/nomnt" --key-file "$T/ka"
FAKE_RC=3 lm_expect_fail "laminafs fails" 1 "laminafs could not mount volume v1 \(exit status 3\)" \
	lmount v1 "$T/mnt" --key-file "$T/ka"
lm_expect_fail "umount of a volume not mounted" 1 "volume v1 is not mounted" \
	"$LAMINA" --store "$S" volume umount v1
lm_expect_fail "umount of something else" 1 "is not a lamina mount" \
	"$LAMINA" --store "$S" volume umount "$T/mnt"

# ---- rm --------------------------------------------------------------------
lm_expect_fail "rm without --force and no terminal" 2 "pass --force" \
	"$LAMINA" --store "$S" volume rm v2
[ -d "$S/volumes/v2" ] || lm_fail "rm without --force removed the volume"
L volume rm v2 --force >"$T/out" 2>&1 || lm_fail "rm v2: $(cat "$T/out")"
[ -e "$S/volumes/v2" ] && lm_fail "rm left the volume"
ls -A "$S/volumes" | grep -q '^\.' && lm_fail "rm left a hidden directory: $(ls -A "$S/volumes")"
L audit show --json | "$PY" -c '
import json, sys
ops = [(r["op"], r.get("object")) for r in json.load(sys.stdin)]
assert ("volume.rm", "volume v2") in ops, ops
assert sum(1 for o in ops if o[0] == "vault.create") >= 2, ops
' || lm_fail "audit records of create and rm"
lm_expect_fail "rm of a missing volume" 3 "no volume v2" "$LAMINA" --store "$S" volume rm v2 --force
L audit verify >/dev/null 2>&1 || lm_fail "audit verify after the volume commands"

lm_finish
