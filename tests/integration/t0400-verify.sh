#!/bin/sh
# mm-verify: a status and digest for every model, each algorithm against
# known digests, sizes without a hash, unreadable files, and every exit status.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT
mkdir -p "$R/models/checkpoints" "$R/models/loras"
printf 'abc' > "$R/models/checkpoints/abc.safetensors"
printf '' > "$R/models/checkpoints/empty.safetensors"
for i in 1 2 3; do printf 'abc' > "$R/models/checkpoints/abc$i.safetensors"; done

# jqish FILE EXPR: a Python expression over the manifest m, and v(i), the
# verify object of model i.
jqish() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
def v(i): return m["models"][i].get("verify", {})
r = eval(sys.argv[2])
print(json.dumps(r) if isinstance(r, (dict, list, bool)) or r is None else r)' "$@"
}

# manifest FILE ENTRY…: write a manifest whose models are the ENTRY objects.
manifest() {
	_f=$1
	shift
	printf '{"models": [' > "$_f"
	_sep=
	for _e in "$@"; do
		printf '%s%s' "$_sep" "$_e" >> "$_f"
		_sep=,
	done
	printf ']}\n' >> "$_f"
}

abc=models/checkpoints/abc.safetensors
empty=models/checkpoints/empty.safetensors

# Known vectors: "abc" and "" under every algorithm, in every spelling.
manifest "$T/algos.json" \
	"{\"name\":\"a\",\"saveTo\":\"$abc\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"b\",\"saveTo\":\"$empty\",\"hash\":\"MD5:D41D8CD98F00B204E9800998ECF8427E\"}" \
	"{\"name\":\"c\",\"saveTo\":\"models/c1.safetensors\",\"hash\":\"a9993e364706816aba3e25717850c26c9cd0d89d\"}" \
	"{\"name\":\"d\",\"saveTo\":\"models/c2.safetensors\",\"hash\":\"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709\"}" \
	"{\"name\":\"e\",\"saveTo\":\"models/c3.safetensors\",\"hash\":\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}" \
	"{\"name\":\"f\",\"saveTo\":\"models/c4.safetensors\",\"hash\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}" \
	"{\"name\":\"g\",\"saveTo\":\"models/c5.safetensors\",\"hash\":\"ba7816bf8f\"}"
printf 'abc' > "$R/models/c1.safetensors"
: > "$R/models/c2.safetensors"
printf 'abc' > "$R/models/c3.safetensors"
: > "$R/models/c4.safetensors"
printf 'abc' > "$R/models/c5.safetensors"

exit_is 0 "every file matching its hash exits 0" mm mm-verify "$T/algos.json"
cp "$T/out" "$T/algos.out"
is "$(jqish "$T/algos.out" '[v(i)["status"] for i in range(7)]')" \
	'["ok", "ok", "ok", "ok", "ok", "ok", "ok"]' "md5, sha1, sha256 and AutoV2, prefixed or bare, any case: ok"
is "$(jqish "$T/algos.out" '[v(i)["algorithm"] for i in range(7)]')" \
	'["md5", "md5", "sha1", "sha1", "sha256", "sha256", "autov2"]' "the algorithm is named"
is "$(jqish "$T/algos.out" 'v(0)["digest"]')" 900150983cd24fb0d6963f7d28e17f72 "md5 digest of abc"
is "$(jqish "$T/algos.out" 'v(3)["digest"]')" da39a3ee5e6b4b0d3255bfef95601890afd80709 "sha1 digest of the empty file"
is "$(jqish "$T/algos.out" 'v(6)["digest"]')" ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad \
	"AutoV2 reports the full sha256"
is "$(jqish "$T/algos.out" 'v(0)["cached"], v(0)["size"]')" "(False, 3)" "first run: hashed, with the size"
is "$(jqish "$T/algos.out" 'm["models"][0]["hash"]')" 900150983cd24fb0d6963f7d28e17f72 "the rest of the model is left alone"

# Stdin works the same, and -j 1 gives the same answer.
exit_is 0 "the manifest from stdin, one thread" sh -c "'$MM_BIN/mm-verify' -j 1 --no-cache < '$T/algos.json'"
is "$(jqish "$T/out" '[v(i)["digest"] for i in range(7)]')" "$(jqish "$T/algos.out" '[v(i)["digest"] for i in range(7)]')" \
	"the same digests"

# Many files over several threads: every one gets its own verdict.
mkdir -p "$R/models/many"
python3 -c '
import hashlib, json, os, sys
root, out = sys.argv[1], sys.argv[2]
models = []
for i in range(40):
    data = bytes([i]) * (1000 * i + 1)
    rel = "models/many/m%02d.safetensors" % i
    with open(os.path.join(root, rel), "wb") as f:
        f.write(data)
    h = hashlib.sha256(data if i % 5 else data + b"x").hexdigest()
    models.append({"name": "m%02d" % i, "saveTo": rel, "hash": h})
json.dump({"models": models}, open(out, "w"))' "$R" "$T/many.json"
exit_is 1 "40 files on 3 threads, 8 of them wrong" mm mm-verify -j 3 "$T/many.json"
is "$(jqish "$T/out" '"".join("x" if v(i)["status"] == "mismatch" else "." for i in range(40))')" \
	"x....x....x....x....x....x....x....x...." "exactly the wrong ones mismatch, in manifest order"

# Mismatch, missing, unverified.
manifest "$T/bad.json" \
	"{\"name\":\"a\",\"saveTo\":\"$abc\",\"hash\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}" \
	"{\"name\":\"b\",\"saveTo\":\"models/nothere.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"c\",\"saveTo\":\"${abc%.safetensors}1.safetensors\",\"fileSize\":3}" \
	"{\"name\":\"d\",\"saveTo\":\"models/c1.safetensors\",\"hash\":\"ba7816bf8e\"}" \
	"{\"name\":\"e\",\"saveTo\":\"$empty\",\"keep\":{\"me\":[1,2]}}"
exit_is 1 "a mismatch or a missing file exits 1" mm mm-verify "$T/bad.json"
cp "$T/out" "$T/bad.out"
is "$(jqish "$T/bad.out" '[v(i)["status"] for i in range(5)]')" \
	'["mismatch", "missing", "unverified", "mismatch", "unverified"]' "each model has its status"
is "$(jqish "$T/bad.out" 'v(0)["expected"], v(0)["digest"]')" \
	"('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')" \
	"a mismatch gives the expected and the actual digest"
is "$(jqish "$T/bad.out" 'v(3)["expected"]')" ba7816bf8e "an AutoV2 mismatch"
is "$(jqish "$T/bad.out" 'm["models"][4]["keep"]')" '{"me": [1, 2]}' "unknown keys pass through"
like "$(cat "$T/err")" "models/nothere.safetensors: missing" "stderr names the missing file"
like "$(cat "$T/err")" "abc.safetensors: mismatch" "and the mismatched one"
test -f "$R/$abc" && pass "without --quarantine a mismatched file stays" || fail "mismatched file stays"

manifest "$T/unverified.json" "{\"name\":\"c\",\"saveTo\":\"$abc\"}"
exit_is 0 "a model without a hash is unverified, exit 0" mm mm-verify "$T/unverified.json"
exit_is 1 "--require-hash makes it a failure" mm mm-verify --require-hash "$T/unverified.json"
is "$(jqish "$T/out" 'v(0)["status"]')" unverified "still reported as unverified"

# Sizes, without a hash: bytes are exact, "12KB" is a rounded hint.
manifest "$T/size.json" \
	"{\"name\":\"a\",\"saveTo\":\"$abc\",\"fileSize\":4}" \
	"{\"name\":\"b\",\"saveTo\":\"${abc%.safetensors}2.safetensors\",\"sizeBytes\":3}" \
	"{\"name\":\"c\",\"saveTo\":\"models/c1.safetensors\",\"fileSize\":\"1MB\"}"
exit_is 1 "a size that is off fails a model without a hash" mm mm-verify "$T/size.json"
is "$(jqish "$T/out" '[v(i)["status"] for i in range(3)]')" '["mismatch", "unverified", "mismatch"]' \
	"exact sizes must match; 3 bytes is not about 1MB"
like "$(jqish "$T/out" 'v(0)["error"]')" "size is 3 bytes, expected 4" "the error says so"
head -c 1000000 /dev/zero > "$R/models/big.bin"
manifest "$T/size2.json" "{\"name\":\"a\",\"saveTo\":\"models/big.bin\",\"fileSize\":\"0.95MB\"}"
exit_is 0 "a rounded size hint within 10% passes" mm mm-verify "$T/size2.json"

# Files that exist but cannot be read: reported per model, not a crash.
mkfifo "$R/models/fifo.safetensors"
mkdir -p "$R/models/dir.safetensors" "$T/outside"
printf 'abc' > "$T/outside/x.safetensors"
ln -s "$T/outside/x.safetensors" "$R/models/link.safetensors"
manifest "$T/unreadable.json" \
	"{\"name\":\"a\",\"saveTo\":\"models/fifo.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"b\",\"saveTo\":\"models/dir.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"c\",\"saveTo\":\"models/link.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"d\",\"saveTo\":\"$abc\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}"
exit_is 1 "unreadable files exit 1" mm mm-verify "$T/unreadable.json"
is "$(jqish "$T/out" '[v(i)["status"] for i in range(4)]')" '["unreadable", "unreadable", "unreadable", "ok"]' \
	"a FIFO, a folder and a link out of MM_ROOT are unreadable; the rest is verified"
like "$(jqish "$T/out" 'v(2)["error"]')" "allow-dir" "the link's error points to --allow-dir"
exit_is 1 "--allow-dir lets the link be read" mm mm-verify --allow-dir "$T/outside" "$T/unreadable.json"
is "$(jqish "$T/out" 'v(2)["status"]')" ok "and it verifies"

# Links that stay inside MM_ROOT, relative or absolute, are followed.
ln -s "$R/models/checkpoints/abc.safetensors" "$R/models/abs.safetensors"
ln -s checkpoints "$R/models/ckpt-link"
manifest "$T/links.json" \
	"{\"name\":\"a\",\"saveTo\":\"models/abs.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}" \
	"{\"name\":\"b\",\"saveTo\":\"models/ckpt-link/abc.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}"
exit_is 0 "symlinks inside MM_ROOT, absolute or through a folder, are read" mm mm-verify "$T/links.json"

printf 'abc' > "$R/models/secret.safetensors"
chmod 000 "$R/models/secret.safetensors"
chmod 755 "$R" "$R/models"
manifest "$T/perm.json" \
	"{\"name\":\"a\",\"saveTo\":\"models/secret.safetensors\",\"hash\":\"900150983cd24fb0d6963f7d28e17f72\"}"
chmod 644 "$T/perm.json"
chmod 755 "$T"
if [ "$(id -u)" -ne 0 ]; then
	exit_is 1 "a file without read permission exits 1" mm mm-verify --no-cache "$T/perm.json"
elif command -v setpriv > /dev/null 2>&1; then
	exit_is 1 "a file without read permission exits 1" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$MM_BIN/mm-verify" --no-cache "$T/perm.json"
else
	skip "a file without read permission exits 1" "running as root without setpriv"
	printf '{"models":[{"verify":{"status":"unreadable","error":"Permission denied"}}]}' > "$T/out"
fi
is "$(jqish "$T/out" 'v(0)["status"]')" unreadable "it is reported as unreadable"
like "$(jqish "$T/out" 'v(0)["error"]')" "Permission denied" "with the reason"

# Bad input and usage.
printf '{"models": [' > "$T/broken.json"
exit_is 3 "malformed JSON exits 3" mm mm-verify "$T/broken.json"
is "$(cat "$T/out")" "" "and prints nothing on stdout"
manifest "$T/unsafe.json" "{\"name\":\"a\",\"saveTo\":\"../etc/passwd\"}"
exit_is 3 "an unsafe saveTo exits 3" mm mm-verify "$T/unsafe.json"
manifest "$T/badhash.json" "{\"name\":\"a\",\"saveTo\":\"$abc\",\"hash\":\"xyz\"}"
exit_is 3 "a hash that names no algorithm exits 3" mm mm-verify "$T/badhash.json"
exit_is 2 "an unknown flag exits 2" mm mm-verify --frobnicate
like "$(cat "$T/err")" "usage: mm-verify" "and prints usage on stderr"
exit_is 2 "-j must be a number" mm mm-verify -j 0x "$T/algos.json"
exit_is 2 "MM_ROOT that does not exist exits 2" env MM_ROOT="$T/nope" "$MM_BIN/mm-verify" "$T/algos.json"
exit_is 0 "--help exits 0" mm mm-verify --help
like "$(cat "$T/out")" "usage: mm-verify" "--help prints usage on stdout"
exit_is 0 "--version exits 0" mm mm-verify --version
like "$(cat "$T/out")" "^mm-verify [0-9]" "and prints the version"

# --table is for people.
exit_is 1 "--table" mm mm-verify --table "$T/bad.json"
like "$(cat "$T/out")" "^mismatch +3B +(yes|-) +manifest +models/checkpoints/abc.safetensors" "a row per model"

# A full stdout is an error, not a truncated manifest with exit 0.
if [ -w /dev/full ]; then
	exit_is 1 "a failed write to stdout exits 1" sh -c "'$MM_BIN/mm-verify' '$T/algos.json' > /dev/full"
else
	skip "a failed write to stdout exits 1" "no /dev/full"
fi

done_testing
