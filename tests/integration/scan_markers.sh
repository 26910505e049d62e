# shellcheck shell=bash
# scan_markers.sh — look for known plaintext markers in data at rest.
#
#   . "$(dirname "$0")/scan_markers.sh"
#   scan_markers DIR MARKER...
#
# An at-rest test writes markers through the mount (into file contents,
# file names, symlink targets, xattr names and values), unmounts, and runs
# scan_markers on the backing directories: no marker may show there in any
# common encoding.
#
# Where: every byte of every regular file under DIR, the name of every
# entry, every symlink target, every xattr name and value (all namespaces
# getfattr shows; symlinks' own xattrs).  FIFOs, sockets and devices are
# not opened.
#
# Encodings of each marker (labels as printed):
#   raw          the marker's bytes
#   hex, HEX     its bytes in lower- and upper-case hex
#   base64/K     base64 of the marker placed after K = 0, 1, 2 other bytes:
#                only the characters that depend on the marker's bytes
#                alone (the stable inner part), so it is found whatever
#                surrounds it
#   base64url/K  the same in the URL alphabet ('-_' for '+/'); when both
#                alphabets give the same text it is labelled
#                base64|base64url/K (and hex|HEX likewise)
# File contents are searched a second time with CR and LF removed, to find
# encodings wrapped over lines (MIME, PEM); such hits say "(unwrapped)".
#
# Output: one line per hit on stdout,
#   scan_markers: FOUND 'MARKER' as ENCODING in PLACE: PATH
# PLACE is one of: content, name, symlink target, xattr name, xattr value.
# Returns 0 when nothing was found, 1 when a marker was found, 2 on a usage
# error or when part of DIR could not be read (a scan that could not look
# everywhere must not pass).
#
# Markers: 8 bytes or more, without NUL, tab, CR or LF; matched exactly
# (hex in all-lower or all-upper case).  The speed is that of one GNU grep
# -F pass with every pattern at once, plus one cat | tr | grep pass, over
# the contents; names, links and xattrs go through one awk.
# Needs: GNU grep, find, getfattr (package attr), base64, od, awk.

# _sm_b64_stable K MARKER — print the characters of base64(P MARKER S)
# that depend only on MARKER's bytes, for any K-byte P and any S.
_sm_b64_stable() {
	local k=$1 m=$2 n enc j g c lo hi start=-1 end=-1
	n=$(printf '%s' "$m" | wc -c)
	enc=$({ head -c "$k" /dev/zero; printf '%s' "$m"; head -c 3 /dev/zero; } | base64 -w0)
	# Character c of group g holds bits of bytes 3g+lo .. 3g+hi.
	for ((j = 0; j < ${#enc}; j++)); do
		g=$((j / 4)) c=$((j % 4))
		case $c in
		0) lo=0 hi=0 ;;
		1) lo=0 hi=1 ;;
		2) lo=1 hi=2 ;;
		3) lo=2 hi=2 ;;
		esac
		lo=$((3 * g + lo)) hi=$((3 * g + hi))
		if [ "$lo" -ge "$k" ] && [ "$hi" -le $((k + n - 1)) ]; then
			[ "$start" -lt 0 ] && start=$j
			end=$j
		fi
	done
	[ "$start" -ge 0 ] && printf '%s' "${enc:start:end-start+1}"
}

_sm_hex() {
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# _sm_patterns TABLE MARKER... — write one line per pattern to TABLE:
#   MARKER <tab> ENCODING <tab> PATTERN <tab> HEX-OF-PATTERN
# Returns 2 (and says why) for a marker it cannot search for.
_sm_patterns() {
	local table=$1 m k std url hex enc
	shift
	: >"$table"
	for m in "$@"; do
		if [ "$(printf '%s' "$m" | wc -c)" -lt 8 ] || [[ "$m" == *[$'\t\r\n']* ]]; then
			echo "scan_markers: marker '$m' must be 8 bytes or more, without tab, CR or LF" >&2
			return 2
		fi
		{
			printf '%s\traw\t%s\n' "$m" "$m"
			hex=$(_sm_hex "$m")
			if [ "$hex" = "${hex^^}" ]; then
				printf '%s\thex|HEX\t%s\n' "$m" "$hex"
			else
				printf '%s\thex\t%s\n%s\tHEX\t%s\n' "$m" "$hex" "$m" "${hex^^}"
			fi
			for k in 0 1 2; do
				std=$(_sm_b64_stable "$k" "$m")
				url=$(printf '%s' "$std" | tr '+/' '-_')
				if [ "$std" = "$url" ]; then
					printf '%s\tbase64|base64url/%s\t%s\n' "$m" "$k" "$std"
				else
					printf '%s\tbase64/%s\t%s\n%s\tbase64url/%s\t%s\n' \
						"$m" "$k" "$std" "$m" "$k" "$url"
				fi
			done
		} | while IFS=$'\t' read -r m enc pat; do
			printf '%s\t%s\t%s\t%s\n' "$m" "$enc" "$pat" "$(_sm_hex "$pat")"
		done >>"$table"
	done
}

# _sm_contents DIR TABLE TMP — search regular files; prints hits, returns
# 1 on a hit, 2 when grep could not read something.
_sm_contents() {
	local dir=$1 table=$2 tmp=$3 rc=0 grc f m enc pat hx
	cut -f3 "$table" >"$tmp/pats"
	LC_ALL=C grep -r -a -F -l -Z -D skip -f "$tmp/pats" -- "$dir" >"$tmp/hits" 2>"$tmp/err"
	grc=$?
	if [ "$grc" -ge 2 ]; then
		echo "scan_markers: grep could not read everything under $dir:" >&2
		cat "$tmp/err" >&2
		rc=2
	fi
	while IFS= read -r -d '' f; do
		while IFS=$'\t' read -r m enc pat hx; do
			LC_ALL=C grep -a -F -q -e "$pat" -- "$f" &&
				printf "scan_markers: FOUND '%s' as %s in content: %s\n" "$m" "$enc" "$f"
		done <"$table"
		[ "$rc" -eq 0 ] && rc=1
	done <"$tmp/hits"
	# Wrapped encodings: all contents at once with line breaks removed;
	# only on a hit are the files looked at one by one.
	if find "$dir" -type f -print0 | xargs -0 -r cat -- | tr -d '\r\n' |
		LC_ALL=C grep -a -F -q -f "$tmp/pats"; then
		while IFS= read -r -d '' f; do
			tr -d '\r\n' <"$f" | LC_ALL=C grep -a -F -q -f "$tmp/pats" || continue
			while IFS=$'\t' read -r m enc pat hx; do
				# Hits the first pass saw are already reported.
				LC_ALL=C grep -a -F -q -e "$pat" -- "$f" && continue
				tr -d '\r\n' <"$f" | LC_ALL=C grep -a -F -q -e "$pat" || continue
				printf "scan_markers: FOUND '%s' as %s in content (unwrapped): %s\n" \
					"$m" "$enc" "$f"
				[ "$rc" -eq 0 ] && rc=1
			done <"$table"
		done < <(find "$dir" -type f -print0)
	fi
	return "$rc"
}

# The awk program behind _sm_meta: records from find (names; symlink
# target/path pairs) and getfattr's hex dump, matched against the table.
_SM_AWK='
function hit(place, s, path, useHex,   i, p) {
	for (i = 1; i <= np; i++) {
		p = useHex ? phex[i] : pat[i]
		if (index(s, p)) {
			printf "scan_markers: FOUND '\''%s'\'' as %s in %s: %s\n", mk[i], en[i], place, path
			found = 1
		}
	}
}
FILENAME == TABLE { np++; mk[np] = $1; en[np] = $2; pat[np] = $3; phex[np] = $4; next }
FILENAME == NAMES {
	n = $0; sub(/.*\//, "", n); hit("name", n, $0, 0); next
}
FILENAME == LINKS {
	if (FNR % 2) target = $0; else hit("symlink target", target, $0, 0); next
}
FILENAME == XATTRS {
	if (substr($0, 1, 8) == "# file: ") { file = substr($0, 9); next }
	if ($0 == "") next
	eq = index($0, "=")
	name = eq ? substr($0, 1, eq - 1) : $0
	hit("xattr name", name, file, 0)
	if (eq) {
		v = substr($0, eq + 1)
		if (substr(v, 1, 2) == "0x") hit("xattr value", tolower(substr(v, 3)), file, 1)
		else hit("xattr value", v, file, 0)
	}
}
END { exit found }
'

# _sm_meta DIR TABLE TMP — names, symlink targets and xattrs.
_sm_meta() {
	local dir=$1 table=$2 tmp=$3 rc
	find "$dir" -mindepth 1 -printf '%P\0' >"$tmp/names" || return 2
	find "$dir" -type l -printf '%l\0%P\0' >"$tmp/links" || return 2
	if ! getfattr -R -P -h -d -m - -e hex --absolute-names -- "$dir" >"$tmp/xattrs" 2>"$tmp/xerr"; then
		echo "scan_markers: getfattr could not read every xattr under $dir:" >&2
		cat "$tmp/xerr" >&2
		return 2
	fi
	# Records: tab-separated table lines; NUL-separated names and links.
	# The xattr dump is line-based: convert its newlines to NUL.
	tr '\n' '\0' <"$tmp/xattrs" >"$tmp/xattrs0"
	LC_ALL=C awk -F '\t' -v RS='\0' -v TABLE="$tmp/table0" -v NAMES="$tmp/names" \
		-v LINKS="$tmp/links" -v XATTRS="$tmp/xattrs0" "$_SM_AWK" \
		"$tmp/table0" "$tmp/names" "$tmp/links" "$tmp/xattrs0"
	rc=$?
	[ "$rc" -le 1 ] || return 2
	return "$rc"
}

# scan_markers DIR MARKER... — see the top of this file.
scan_markers() {
	local dir=${1:-} tmp rc=0 r
	if [ $# -lt 2 ] || [ ! -d "$dir" ]; then
		echo "scan_markers: usage: scan_markers DIR MARKER... (DIR must be a directory: '$dir')" >&2
		return 2
	fi
	shift
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/scan_markers.XXXXXX") || return 2
	if ! _sm_patterns "$tmp/table" "$@"; then
		rm -rf "$tmp"
		return 2
	fi
	tr '\n' '\0' <"$tmp/table" >"$tmp/table0"
	_sm_contents "$dir" "$tmp/table" "$tmp"
	r=$?
	[ "$r" -gt "$rc" ] && rc=$r
	_sm_meta "$dir" "$tmp/table" "$tmp"
	r=$?
	[ "$r" -gt "$rc" ] && rc=$r
	rm -rf "$tmp"
	return "$rc"
}
