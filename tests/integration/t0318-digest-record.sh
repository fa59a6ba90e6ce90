#!/bin/sh
# The sha256 a download was proved by (the origin's, or the one computed
# while it streamed) is kept in MM_STATE_DIR/digests, so a later run on a
# fresh manifest with no hash still proves the file: mm-verify says ok with
# the same hashSource, a changed byte is a mismatch (and --quarantine moves
# it), mm-fetch --verify-present downloads it again.  The manifest's own hash
# wins over the record, a record whose size disagrees with the manifest's is
# ignored, and a garbled or planted record file never crashes a tool nor
# makes a wrong file pass.
. tests/lib.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state" HF_ENDPOINT="$FIX_URL"
hf_file org/repo model.safetensors 3000000
make_file files/plain.bin 1500000
hf=$FIX_ROOT/_hf/org/repo/model.safetensors
plain=$FIX_ROOT/files/plain.bin
hf_sha=$(sha256_of "$hf")
plain_sha=$(sha256_of "$plain")
cat > "$T/m.json" <<EOJ
{"models": [
 {"name": "hf.safetensors", "downloadUrl": "$FIX_URL/org/repo/resolve/main/model.safetensors",
  "saveTo": "models/checkpoints/hf.safetensors"},
 {"name": "plain.bin", "downloadUrl": "$FIX_URL/files/plain.bin", "saveTo": "models/other/plain.bin"}]}
EOJ
hfdest=$MM_ROOT/models/checkpoints/hf.safetensors
pdest=$MM_ROOT/models/other/plain.bin

# flip FILE OFFSET: change one byte in place, keeping the size.
flip() {
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# 1. The first run downloads both: one proved by the hub, one by its computed sha256.
exit_is 0 "the first run downloads" mm mm-fetch "$T/m.json"
cp "$T/out" "$T/f1.json"
is "$(json_get models.0.fetch.hashSource "$T/out") $(json_get models.1.fetch.hashSource "$T/out")" \
	"huggingface computed" "proved by the hub, and by the computed digest"
check "the record file is in the state directory" test -f "$MM_STATE_DIR/digests"
is "$(stat -c %a "$MM_STATE_DIR/digests")" 600 "mode 0600"
exit_is 0 "mm-verify right after the download" mm mm-verify "$T/f1.json"
is "$(json_get models.0.verify.cached "$T/out") $(json_get models.1.verify.cached "$T/out")" "true true" \
	"both from the verified cache: the download recorded its sha256 there"

# 2. A later run on a fresh manifest (no hash, no fetch object): present, then proved.
fix_reset
exit_is 0 "the next run: mm-fetch" mm mm-fetch "$T/m.json"
is "$(json_get models.0.fetch.status "$T/out") $(json_get models.1.fetch.status "$T/out")" \
	"present present" "both present"
is "$(fix_count)" 0 "no request"
cp "$T/out" "$T/f2.json"
exit_is 0 "mm-verify" mm mm-verify "$T/f2.json"
cp "$T/out" "$T/v.json"
is "$(json_get models.0.verify.status "$T/v.json") $(json_get models.0.verify.hashSource "$T/v.json")" \
	"ok huggingface" "the hub's digest is kept: ok, hashSource huggingface"
is "$(json_get models.0.verify.algorithm "$T/v.json")" sha256 "algorithm sha256"
is "$(json_get models.1.verify.status "$T/v.json") $(json_get models.1.verify.hashSource "$T/v.json")" \
	"ok computed" "the computed digest is kept: ok, hashSource computed"
is "$(json_get models.1.verify.digest "$T/v.json")" "$plain_sha" "the digest is the file's"
exit_is 0 "mm-verify --table" mm mm-verify --table "$T/m.json"
like "$(cat "$T/out")" "^ok .* huggingface +models/checkpoints/hf.safetensors" "the table's SOURCE says huggingface"
like "$(cat "$T/out")" "^ok .* computed +models/other/plain.bin" "and computed"

# 3. A changed byte (same size) is a mismatch, not "unverified"; --quarantine moves it.
flip "$hfdest" 1000
flip "$pdest" 7
exit_is 1 "a changed byte: mm-verify exits 1" mm mm-verify "$T/m.json"
is "$(json_get models.0.verify.status "$T/out") $(json_get models.1.verify.status "$T/out")" \
	"mismatch mismatch" "both are a mismatch"
is "$(json_get models.0.verify.expected "$T/out")" "$hf_sha" "expected: the hub's sha256"
exit_is 1 "mm-verify --quarantine" mm mm-verify --quarantine "$T/m.json"
check "the changed file left its final path" test ! -e "$hfdest"
check "into the quarantine" test -f "$MM_STATE_DIR/quarantine/models/checkpoints/hf.safetensors"
check "both" test ! -e "$pdest"
exit_is 0 "mm-fetch downloads them again" mm mm-fetch "$T/m.json"
check "the right bytes are back" cmp "$hfdest" "$hf"
exit_is 0 "and mm-verify proves them" mm mm-verify "$T/m.json"
is "$(json_get models.0.verify.hashSource "$T/out") $(json_get models.1.verify.hashSource "$T/out")" \
	"huggingface computed" "by the same sources"

# 4. mm-fetch --verify-present checks a present file against the record too.
flip "$pdest" 99
exit_is 0 "mm-fetch --verify-present" mm mm-fetch --verify-present "$T/m.json"
is "$(json_get models.0.fetch.status "$T/out")" present "the good file is present"
is "$(json_get models.1.fetch.status "$T/out")" downloaded "the changed one is downloaded again"
check "with the right bytes" cmp "$pdest" "$plain"

# 5. The manifest's own hash wins over the record.
cat > "$T/hash.json" <<EOJ
{"models": [{"name": "plain.bin", "downloadUrl": "$FIX_URL/files/plain.bin", "saveTo": "models/other/plain.bin",
  "hash": "$(md5_of "$plain")"}]}
EOJ
exit_is 0 "a manifest hash" mm mm-verify "$T/hash.json"
is "$(json_get models.0.verify.hashSource "$T/out") $(json_get models.0.verify.algorithm "$T/out")" \
	"manifest md5" "the manifest's md5 is what is checked"

# 6. A record whose size disagrees with the manifest's is ignored.
cat > "$T/size.json" <<EOJ
{"models": [{"name": "plain.bin", "downloadUrl": "$FIX_URL/files/plain.bin", "saveTo": "models/other/plain.bin",
  "sizeBytes": 1499999}]}
EOJ
mm mm-verify "$T/size.json" > /dev/null 2>&1
exit_is 1 "another size in the manifest" mm mm-verify "$T/size.json"
is "$(json_get models.0.verify.status "$T/out")" mismatch "the size rule decides (mismatch)"
unlike "$(json_get models.0.verify "$T/out")" "hashSource" "no digest from the record"

# 7. A garbled, truncated or planted record file: no crash, no wrong file passes.
cp "$MM_STATE_DIR/digests" "$T/digests.good"
for garble in empty header-only binary long-line bad-hex bad-source bad-size dotdot dup; do
	case $garble in
	empty) : > "$MM_STATE_DIR/digests" ;;
	header-only) head -n 1 "$T/digests.good" > "$MM_STATE_DIR/digests" ;;
	binary) head -c 5000 /dev/urandom > "$MM_STATE_DIR/digests" ;;
	long-line) { head -n 1 "$T/digests.good"; head -c 200000 /dev/zero | tr '\0' a; echo; } > "$MM_STATE_DIR/digests" ;;
	bad-hex) sed 's/^[0-9a-f]\{64\}/zz&/' "$T/digests.good" > "$MM_STATE_DIR/digests" ;;
	bad-source) sed 's/ huggingface / manifest /; s/ computed / nobody /' "$T/digests.good" > "$MM_STATE_DIR/digests" ;;
	bad-size) sed 's/ \([0-9]*\) models/ -\1 models/' "$T/digests.good" > "$MM_STATE_DIR/digests" ;;
	dotdot) sed 's# models/# ../models/#' "$T/digests.good" > "$MM_STATE_DIR/digests" ;;
	dup) { cat "$T/digests.good"; tail -n +2 "$T/digests.good" | sed 's/^[0-9a-f]\{8\}/00000000/'; } > "$MM_STATE_DIR/digests" ;;
	esac
	exit_is 0 "record file $garble: mm-verify runs" mm mm-verify "$T/m.json"
	is "$(json_get models.0.verify.status "$T/out") $(json_get models.1.verify.status "$T/out")" \
		"unverified unverified" "record file $garble: nothing read from it (unverified)"
	case $garble in
	empty | header-only) ;;
	*) like "$(cat "$T/err")" "digests: [0-9]+ bad records? ignored" "record file $garble: a warning says so" ;;
	esac
done
# A record naming the sha256 of a wrong file cannot be planted from outside:
# the state directory is mm's alone (state.h); one written by mm's user is
# trusted as that user's own files are.  A record that is a symlink or a
# FIFO is not read.
rm -f "$MM_STATE_DIR/digests"
ln -s "$T/digests.good" "$MM_STATE_DIR/digests"
exit_is 2 "a symlink as the record file is refused like other state files" mm mm-verify "$T/m.json"
like "$(cat "$T/err")" "digests' is a symlink" "saying so"
rm -f "$MM_STATE_DIR/digests"
mkfifo "$MM_STATE_DIR/digests"
exit_is 0 "a FIFO as the record file: mm-verify does not hang" timeout 20 "$MM_BIN/mm-verify" "$T/m.json"
is "$(json_get models.0.verify.status "$T/out")" unverified "and reads nothing from it"
exit_is 0 "mm-fetch on a FIFO record file does not hang either" timeout 20 "$MM_BIN/mm-fetch" "$T/m.json"
rm -f "$MM_STATE_DIR/digests"

# 8. mm-fetch rewrites a good record after a download; nothing is lost beside it.
cp "$T/digests.good" "$MM_STATE_DIR/digests"
rm -f "$pdest"
exit_is 0 "a download beside an existing record" mm mm-fetch "$T/m.json"
exit_is 0 "mm-verify" mm mm-verify "$T/m.json"
is "$(json_get models.0.verify.hashSource "$T/out") $(json_get models.1.verify.hashSource "$T/out")" \
	"huggingface computed" "both records kept"
done_testing
