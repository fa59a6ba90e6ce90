#!/bin/sh
# A URL mm-fetch refuses (not http or https) is named by its scheme alone:
# user info in it (a password, which may hold '/') reaches neither stderr
# nor the manifest's error.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
cat > "$T/m.json" <<'EOT'
{"models": [
 {"name": "a.safetensors", "url": "ftp://user:s3cr%2Fet/x@files.example/a.safetensors", "saveTo": "models/a/a.safetensors"},
 {"name": "b.safetensors", "url": "gopher://u:pw-9f/q@h.example/b", "saveTo": "models/a/b.safetensors"},
 {"name": "c.safetensors", "url": "file:///etc/passwd", "saveTo": "models/a/c.safetensors"}
]}
EOT
for dry in "" --dry-run; do
	# shellcheck disable=SC2086 # the optional flag
	exit_is 1 "mm-fetch $dry: three refused models fail" mm mm-fetch $dry "$T/m.json"
	unlike "$(cat "$T/err")" 's3cr|pw-9f' "mm-fetch $dry: no password on stderr"
	for i in 0 1 2; do
		unlike "$(json_get "models.$i.fetch.error" "$T/out")" 's3cr|pw-9f|passwd' \
			"mm-fetch $dry: model $i: no user info or path in its error"
	done
	like "$(cat "$T/err")" "a.safetensors: refusing its ftp:// URL: only http and https" \
		"mm-fetch $dry: the message names the scheme"
	like "$(cat "$T/err")" "c.safetensors: refusing its file:// URL" "mm-fetch $dry: and for file://"
	like "$(json_get models.0.fetch.error "$T/out")" "refusing its ftp:// URL" \
		"mm-fetch $dry: the manifest's error says the same"
done
if [ -e "$MM_ROOT/models/a" ]; then fail "nothing written"; else pass "nothing written"; fi
done_testing
