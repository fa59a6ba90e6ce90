#!/bin/sh
# mm-verify --quarantine moves a file that fails out of ComfyUI's reach, with
# a note of why, and the next mm-fetch downloads it again.
. tests/lib.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT
mkdir -p "$R/models/loras"

make_file files/good.safetensors 300000
make_file files/bad.safetensors 200000
cp "$FIX_ROOT/files/good.safetensors" "$R/models/loras/good.safetensors"
head -c 200000 /dev/zero > "$R/models/loras/bad.safetensors"
cat > "$T/m.json" <<EOF
{"models": [
 {"name": "good.safetensors", "downloadUrl": "$FIX_URL/files/good.safetensors",
  "saveTo": "models/loras/good.safetensors", "hash": "$(sha256_of "$FIX_ROOT/files/good.safetensors")"},
 {"name": "bad.safetensors", "downloadUrl": "$FIX_URL/files/bad.safetensors",
  "saveTo": "models/loras/bad.safetensors", "hash": "$(sha256_of "$FIX_ROOT/files/bad.safetensors")"},
 {"name": "gone.safetensors", "downloadUrl": "$FIX_URL/files/gone.safetensors",
  "saveTo": "models/loras/gone.safetensors", "hash": "$(sha256_of "$FIX_ROOT/files/bad.safetensors")"}
]}
EOF

verify_of() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps([x["verify"].get(sys.argv[2]) for x in m["models"]]))' "$1" "$2"
}

exit_is 1 "a corrupt file fails" mm mm-verify --quarantine "$T/m.json"
cp "$T/out" "$T/q.json"
cp "$T/err" "$T/q.err"
is "$(verify_of "$T/q.json" status)" '["ok", "mismatch", "missing"]' "statuses"
is "$(verify_of "$T/q.json" quarantined)" '[null, "quarantine/models/loras/bad.safetensors", null]' \
	"the manifest says where the corrupt file went"
test -e "$R/models/loras/bad.safetensors" && fail "the corrupt file is gone from MM_ROOT" ||
	pass "the corrupt file is gone from MM_ROOT"
check "it is in the quarantine, bytes intact" \
	sh -c "head -c 200000 /dev/zero | cmp - '$MM_STATE_DIR/quarantine/models/loras/bad.safetensors'"
like "$(cat "$MM_STATE_DIR/quarantine/models/loras/bad.safetensors.why")" \
	"reason: sha256 is [0-9a-f]{64}, expected $(sha256_of "$FIX_ROOT/files/bad.safetensors")" \
	"a note says why"
check "the good file stays" cmp "$R/models/loras/good.safetensors" "$FIX_ROOT/files/good.safetensors"
like "$(cat "$T/q.err")" "bad.safetensors quarantined" "stderr says what was moved"

exit_is 0 "mm-verify --scan no longer lists it" mm mm-verify --scan
unlike "$(cat "$T/out")" "bad.safetensors" "the quarantine is not scanned"

exit_is 1 "verifying again: it is missing now" mm mm-verify --quarantine "$T/m.json"
is "$(verify_of "$T/out" status)" '["ok", "missing", "missing"]' "missing, nothing more to move"

# Quarantining twice keeps the latest copy and its note.
head -c 200000 /dev/zero | tr '\0' x > "$R/models/loras/bad.safetensors"
exit_is 1 "a second corrupt copy" mm mm-verify --quarantine "$T/m.json"
check "replaces the first in the quarantine" \
	sh -c "head -c 200000 /dev/zero | tr '\\0' x | cmp - '$MM_STATE_DIR/quarantine/models/loras/bad.safetensors'"

if [ -x "$MM_BIN/mm-fetch" ]; then
	rm -f "$R/models/loras/gone.safetensors"
	cat > "$T/m2.json" <<EOF
{"models": [
 {"name": "bad.safetensors", "downloadUrl": "$FIX_URL/files/bad.safetensors",
  "saveTo": "models/loras/bad.safetensors", "hash": "$(sha256_of "$FIX_ROOT/files/bad.safetensors")"}
]}
EOF
	exit_is 0 "mm-fetch after the quarantine" mm mm-fetch "$T/m2.json"
	check "downloads the file again, intact" cmp "$R/models/loras/bad.safetensors" "$FIX_ROOT/files/bad.safetensors"
	exit_is 0 "and mm-verify agrees" mm mm-verify "$T/m2.json"
else
	skip "mm-fetch after the quarantine" "mm-fetch is not built"
	skip "downloads the file again, intact" "mm-fetch is not built"
	skip "and mm-verify agrees" "mm-fetch is not built"
fi

done_testing
