#!/bin/sh
# mm-verify never hashes a file twice while it provably has not changed: the
# second run is served from the verified cache; a same-size rewrite (even
# with its old mtime put back), a touch or a rename over the file is hashed
# again; --rehash and --no-cache ignore it.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT
mkdir -p "$R/models/unet" "$R/models/vae"

# status_cached FILE: "status cached" of every model, space-separated.
status_cached() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join("%s/%s" % (x["verify"]["status"], x["verify"].get("cached")) for x in m["models"]))' "$1"
}

FIX_ROOT=$T/src
make_file a 2000000
make_file b 1500000
cp "$T/src/a" "$R/models/unet/a.safetensors"
cp "$T/src/b" "$R/models/vae/b.safetensors"
cat > "$T/m.json" <<EOF
{"models": [
 {"name": "a.safetensors", "saveTo": "models/unet/a.safetensors", "hash": "$(sha256_of "$T/src/a")"},
 {"name": "b.safetensors", "saveTo": "models/vae/b.safetensors", "hash": "md5:$(md5_of "$T/src/b")"}
]}
EOF

for mode in xattr record-file; do
	flag=
	[ "$mode" = record-file ] && flag=--no-xattr
	rm -rf "$MM_STATE_DIR"
	cp "$T/src/a" "$R/models/unet/a.safetensors.new"
	mv "$R/models/unet/a.safetensors.new" "$R/models/unet/a.safetensors"
	cp "$T/src/b" "$R/models/vae/b.safetensors.new"
	mv "$R/models/vae/b.safetensors.new" "$R/models/vae/b.safetensors"

	exit_is 0 "$mode: first run verifies" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/False ok/False" "$mode: both hashed"
	exit_is 0 "$mode: second run" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/True ok/True" "$mode: both served from the cache"

	# Same size, different bytes, the old mtime restored: only the ctime can tell.
	touch -r "$R/models/unet/a.safetensors" "$T/stamp"
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000)
    b = f.read(1)
    f.seek(1000)
    f.write(bytes([b[0] ^ 1]))' "$R/models/unet/a.safetensors"
	touch -r "$T/stamp" "$R/models/unet/a.safetensors"
	exit_is 1 "$mode: a same-size rewrite with its old mtime is caught" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "mismatch/False ok/True" "$mode: it was hashed again, the other was not"

	cp "$T/src/a" "$R/models/unet/a.safetensors"
	exit_is 0 "$mode: put back" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/False ok/True" "$mode: hashed after the rewrite"

	touch "$R/models/vae/b.safetensors"
	exit_is 0 "$mode: after touch" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/True ok/False" "$mode: a touched file is hashed again"

	cp "$T/src/b" "$T/b.copy"
	mv "$T/b.copy" "$R/models/vae/b.safetensors"
	exit_is 0 "$mode: after a rename over the file" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/True ok/False" "$mode: the new file is hashed"

	exit_is 0 "$mode: --rehash" mm mm-verify $flag --rehash "$T/m.json"
	is "$(status_cached "$T/out")" "ok/False ok/False" "$mode: --rehash hashes everything"
	exit_is 0 "$mode: after --rehash" mm mm-verify $flag "$T/m.json"
	is "$(status_cached "$T/out")" "ok/True ok/True" "$mode: and its results are cached"
done

has_xattr() {
	python3 -c 'import os, sys; os.getxattr(sys.argv[1], "user.mm.verified")' "$1" 2> /dev/null
}
rm -rf "$MM_STATE_DIR"
cp "$T/src/a" "$R/models/unet/a.safetensors"
mm mm-verify --no-xattr "$T/m.json" > /dev/null 2>&1
has_xattr "$R/models/unet/a.safetensors" && fail "--no-xattr leaves the file's xattrs alone" ||
	pass "--no-xattr leaves the file's xattrs alone"
test -s "$MM_STATE_DIR/verified" && pass "the record file holds the cache" ||
	fail "the record file holds the cache"

rm -rf "$MM_STATE_DIR"
mm mm-verify "$T/m.json" > /dev/null 2>&1
if has_xattr "$R/models/unet/a.safetensors"; then
	like "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.mm.verified").decode())' \
		"$R/models/unet/a.safetensors")" "^mm2 2000000 [0-9]+ [0-9]+ [0-9]+ sha256:$(sha256_of "$T/src/a")\$" \
		"the xattr holds the size, the algorithm and the digest"
	# The xattr alone cannot prove the ctime: without the record file, hash again.
	rm -f "$MM_STATE_DIR/verified"
	exit_is 0 "without the record file" mm mm-verify "$T/m.json"
	is "$(status_cached "$T/out")" "ok/False ok/False" "an xattr without its record is not trusted"
else
	skip "the xattr holds the algorithm, the digest and the size" "no user xattrs here"
	skip "without the record file" "no user xattrs here"
	skip "an xattr without its record is not trusted" "no user xattrs here"
fi

exit_is 0 "--no-cache" mm mm-verify --no-cache "$T/m.json"
is "$(status_cached "$T/out")" "ok/False ok/False" "--no-cache hashes everything"

# A sha256 scan does not evict the md5 the manifest asks for.
exit_is 0 "after a verify" mm mm-verify "$T/m.json"
exit_is 0 "--scan --hash (sha256) of the same files" mm mm-verify --scan --hash
exit_is 0 "then the manifest again" mm mm-verify "$T/m.json"
is "$(status_cached "$T/out")" "ok/True ok/True" "the md5 of b is still cached beside its sha256"

# A cached mismatch is still a mismatch.
cat > "$T/wrong.json" <<EOF
{"models": [{"name": "a.safetensors", "saveTo": "models/unet/a.safetensors", "hash": "$(sha256_of "$T/src/b")"}]}
EOF
exit_is 1 "a cached digest is still compared with the manifest" mm mm-verify "$T/wrong.json"
is "$(status_cached "$T/out")" "mismatch/True" "mismatch, from the cache"

# A corrupt record file is not fatal.
printf 'mm-verified 2\nnot a record\n' > "$MM_STATE_DIR/verified"
exit_is 0 "a corrupt record file only costs a re-hash" mm mm-verify "$T/m.json"
is "$(status_cached "$T/out")" "ok/False ok/False" "everything hashed"

done_testing
