#!/bin/sh
# One header names every Redis key of DESIGN's layout (lib/rkeys.h): no
# other C file spells one, and the Lua libraries, which keep their own
# literals, spell the same keys.
. tests/lib.sh
cd "$MM_TOP" || exit 1

# The layout's keys start with one of these, then a colon.
roots='machine|machines|models|workflows|jobs|job|mm'

# C string literals that start like a key, outside comments, outside rkeys.h.
spelled=$(awk -v re="\"($roots):[a-z_%]" '
	FNR == 1 { inc = 0 }
	{
		s = $0; out = ""
		while (s != "") {
			if (inc) { i = index(s, "*/"); if (!i) { s = ""; break } s = substr(s, i + 2); inc = 0; continue }
			i = index(s, "/*")
			if (!i) { out = out s; break }
			out = out substr(s, 1, i - 1); s = substr(s, i + 2); inc = 1
		}
		if (out ~ re) print FILENAME ": " out
	}' lib/*.c lib/*.h cmd/*.c | grep -v '^lib/rkeys\.h: ')
is "$spelled" "" "no C file but lib/rkeys.h spells a Redis key"

# The header's keys: NAME VALUE.
keys=$(sed -n 's/^#define \(MM_RKEY_[A-Z0-9_]*\) *"\([^"]*\)".*/\1 \2/p' lib/rkeys.h)
like "$keys" 'MM_RKEY_HEARTBEAT machines:models:heartbeat' "the header names the heartbeat"
is "$(printf '%s\n' "$keys" | wc -l | tr -d ' ')" 13 "thirteen keys in the header"

# Lua code without its comments.
lua=$T/lua
sed 's/--.*//' scripts/redis/*.lua > "$lua"

# Each key the Lua reads or writes, as the header spells it: 'a:' .. x .. ':b'.
for k in MM_RKEY_MACHINE_NAMES MM_RKEY_MACHINE_WORKFLOWS MM_RKEY_MACHINE_SHA256S MM_RKEY_MODEL_INDEX_PREFIX \
	MM_RKEY_WORKFLOW_INDEX MM_RKEY_HEARTBEAT MM_RKEY_JOBS_PENDING MM_RKEY_JOB \
	MM_RKEY_JOBS_ACTIVE MM_RKEY_MACHINE_LIAR MM_RKEY_PEER_LEASE; do
	v=$(printf '%s\n' "$keys" | sed -n "s/^$k //p")
	isnt "$v" "" "the header names $k"
	case $v in
	*%s?*) ere="'${v%%%s*}' \\.\\. [^']* \\.\\. '${v#*%s}'" ;;
	*%s) ere="'${v%%%s*}' \\.\\." ;;
	*_PREFIX) ere="'$v' \\.\\." ;;
	*) ere="'$v'" ;;
	esac
	case $k in *_PREFIX) ere="'$v' \\.\\." ;; esac
	like "$(cat "$lua")" "$ere" "the Lua spells $k as the header does ($v)"
done

# Every key-like literal of the Lua is one of the header's keys or a piece of one.
pieces=$(printf '%s\n' "$keys" | while read -r _ v; do
	case $v in
	*%s*) printf '%s\n%s\n' "${v%%%s*}" "${v#*%s}" ;;
	*) printf '%s\n' "$v" ;;
	esac
done | grep -v '^$')
unknown=$(grep -oE "'($roots):[^']*'" "$lua" | tr -d "'" | sort -u | while read -r l; do
	printf '%s\n' "$pieces" | grep -qxF -- "$l" || printf '%s\n' "$l"
done)
is "$unknown" "" "the Lua spells no key the header does not name"
done_testing
