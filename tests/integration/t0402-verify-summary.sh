#!/bin/sh
# mm-verify --summary: the totals of a run, counted from the manifest it
# prints, as key value lines a shell reads: every fetch and verify status,
# the bytes downloaded and their rate, each model that is not ready with why.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT/models/checkpoints
mkdir -p "$R" "$T/elsewhere"
printf 'hello' > "$R/ok.safetensors"
printf 'damaged' > "$R/bad.safetensors"
printf 'nohash' > "$R/nohash.safetensors"
printf 'cached' > "$R/cached.safetensors"
printf 'outside' > "$T/elsewhere/out.safetensors"
ln -s "$T/elsewhere/out.safetensors" "$R/out.safetensors"
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# Seven models, one for each way a run can end: downloaded and ok (2 MB),
# present and ok from the cache, present but damaged, present without a
# hash, a failed download (its error with a control character), a symlink
# out of MM_ROOT (unreadable), and one no stage has seen.
cat > "$T/in.json" <<EOF
{"models": [
 {"name": "ok", "saveTo": "models/checkpoints/ok.safetensors", "hash": "sha256:$(sha hello)",
  "fetch": {"status": "downloaded", "bytes": 2097152, "hashSource": "manifest"}},
 {"name": "cached", "saveTo": "models/checkpoints/cached.safetensors", "hash": "sha256:$(sha cached)",
  "fetch": {"status": "present", "bytes": 0}},
 {"name": "bad", "saveTo": "models/checkpoints/bad.safetensors", "hash": "sha256:$(sha right)",
  "fetch": {"status": "present", "bytes": 0}},
 {"name": "nohash", "saveTo": "models/checkpoints/nohash.safetensors", "fileSize": 6,
  "fetch": {"status": "present", "bytes": 0}},
 {"name": "gone", "saveTo": "models/checkpoints/gone.safetensors", "hash": "sha256:$(sha gone)",
  "fetch": {"status": "failed", "bytes": 100, "error": "HTTP 404 \"Not\u001b[2J found\" caf\u00e9", "reason": "http"}},
 {"name": "out", "saveTo": "models/checkpoints/out.safetensors", "hash": "sha256:$(sha outside)",
  "fetch": {"status": "present", "bytes": 0}},
 {"name": "unseen", "saveTo": "models/checkpoints/unseen.safetensors"}
]}
EOF
# The verified cache knows cached.safetensors.
mm mm-verify -q "$T/in.json" > /dev/null 2>&1
exit_is 1 "a run with --summary and --fetch-seconds exits 1 (some models failed)" \
	mm mm-verify --summary "$T/summary.txt" --fetch-seconds 0.5 "$T/in.json"
cat > "$T/want" <<'EOF'
fetch.present 4
fetch.downloaded 1
fetch.would-download 0
fetch.failed 1
fetch.unreachable 0
fetch.unauthorized 0
verify.ok 2
verify.mismatch 1
verify.missing 2
verify.unverified 1
verify.unreadable 1
cached 2
bytes 2097152
failed 4
totals 4 present, 1 downloaded (2.0MB, 4.0MB/s), 4 failed
verify 2 ok (2 from the verified cache), 1 without a hash
FAILED models/checkpoints/bad.safetensors: verify mismatch: sha256 is SHA_DAMAGED, expected SHA_RIGHT
FAILED models/checkpoints/gone.safetensors: fetch failed: HTTP 404 "Not\x1b[2J found" café
FAILED models/checkpoints/out.safetensors: verify unreadable: a symlink leads out of MM_ROOT (see --allow-dir)
FAILED models/checkpoints/unseen.safetensors: verify missing: no file at models/checkpoints/unseen.safetensors
EOF
sed -i "s/SHA_DAMAGED/$(sha damaged)/; s/SHA_RIGHT/$(sha right)/" "$T/want"
if diff -u "$T/want" "$T/summary.txt" > "$T/diff"; then
	pass "the summary counts every status and names each model not ready"
else
	fail "the summary counts every status and names each model not ready" "$(cat "$T/diff")"
fi
is "$(stat -c %a "$T/summary.txt")" 600 "it is mode 0600"
is "$(mm mm-verify "$T/in.json" 2>/dev/null | json_get models.#)" 7 "the manifest on stdout is as without --summary"

# A shell reads it without parsing JSON.
n=0
while read -r key value; do
	[ "$key" = failed ] && n=$value
done < "$T/summary.txt"
is "$n" 4 "while read -r key value finds the count"

# Nothing downloaded: no size; no --fetch-seconds: no rate.
cat > "$T/present.json" <<EOF
{"models": [{"name": "ok", "saveTo": "models/checkpoints/ok.safetensors", "hash": "sha256:$(sha hello)",
  "fetch": {"status": "downloaded", "bytes": 1536}},
 {"name": "cached", "saveTo": "models/checkpoints/cached.safetensors", "hash": "sha256:$(sha cached)"}]}
EOF
exit_is 0 "every model ok exits 0" mm mm-verify --summary "$T/s2" "$T/present.json"
is "$(grep -E '^(totals|verify|failed) ' "$T/s2")" "failed 0
totals 0 present, 1 downloaded (1.5KB), 0 failed
verify 2 ok (2 from the verified cache), 0 without a hash" "the size without a rate, and no FAILED line"

# The file is replaced, never written through a symlink.
printf 'keep\n' > "$T/victim"
ln -s "$T/victim" "$T/s3"
exit_is 0 "a symlink where the summary goes" mm mm-verify --summary "$T/s3" "$T/present.json"
is "$(cat "$T/victim")" keep "the symlink's target is untouched"
check "the summary replaced the symlink" test -f "$T/s3" -a ! -L "$T/s3"
is "$(find "$T" -maxdepth 1 -name '*.tmp' | wc -l)" 0 "no temporary file is left"

# A summary that cannot be written fails the run, and says where.
exit_is 1 "a summary in a directory that is not there" \
	mm mm-verify --summary "$T/nowhere/summary.txt" "$T/present.json"
like "$(cat "$T/err")" "mm-verify: cannot write the summary '$T/nowhere/summary.txt'" "names the file"

# Usage errors.
exit_is 2 "--summary with --scan" mm mm-verify --scan --summary "$T/s4"
exit_is 2 "--fetch-seconds without --summary" mm mm-verify --fetch-seconds 3 "$T/present.json"
exit_is 2 "--fetch-seconds that is not a number" mm mm-verify --summary "$T/s4" --fetch-seconds soon "$T/present.json"
like "$(cat "$T/err")" "--fetch-seconds takes a number of seconds, not 'soon'" "says what it takes"
check "no summary after a usage error" test ! -e "$T/s4"

done_testing
