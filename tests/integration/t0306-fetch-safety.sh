#!/bin/sh
# mm-fetch writes nothing outside MM_ROOT — whatever the manifest says and
# whatever symlinks are in MM_ROOT, before or during a download — and
# downloads a file wanted at two paths once.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
OUT=$T/outside
mkdir -p "$MM_ROOT" "$OUT"
make_file files/a.bin 300000
A=$FIX_ROOT/files/a.bin
HASH=$(sha256_of "$A")
one() {  # one SAVETO: a manifest of a.bin saved at SAVETO
	cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "$1", "hash": "$HASH"}]}
EOF2
}
outside_empty() {
	is "$(find "$OUT" -mindepth 1 | wc -l | tr -d ' ')" 0 "$1: nothing is written outside MM_ROOT"
}

for bad in ../escape.bin /abs/a.bin 'models/../../x.bin' 'models\\..\\x.bin' 'models//a.bin'; do
	one "$bad"
	fetch 3 "saveTo '$bad' is refused whole" "$T/in.json"
done
is "$(fix_count)" 0 "no request for a refused manifest"
check "nothing written" test ! -e "$T/escape.bin"

# A directory symlink pointing outside.
ln -s "$OUT" "$MM_ROOT/models"
one models/a.bin
fetch 1 "a directory symlink out of MM_ROOT fails the model" "$T/in.json"
outside_empty "directory symlink"
rm "$MM_ROOT/models"

# A symlink at the final path is replaced, not followed.
mkdir -p "$MM_ROOT/models"
ln -s "$OUT/target.bin" "$MM_ROOT/models/a.bin"
fetch 0 "a symlink at the final path" "$T/in.json"
check "is replaced by the file" test -f "$MM_ROOT/models/a.bin" -a ! -L "$MM_ROOT/models/a.bin"
outside_empty "final-path symlink"
rm -f "$MM_ROOT/models/a.bin"

# A symlink at the part file's name is not followed.
ln -s "$OUT/part.bin" "$MM_ROOT/models/.a.bin.mm-part"
fetch 1 "a symlink at the part path fails the model" "$T/in.json"
outside_empty "part-path symlink"
rm -f "$MM_ROOT/models/.a.bin.mm-part"

# Symlinks that stay inside MM_ROOT are fine (with openat2; valgrind does
# not know it, and the fallback refuses every symlink).
mkdir -p "$MM_ROOT/store"
ln -s ../store "$MM_ROOT/models/linked"
one models/linked/a.bin
if [ -n "${MM_VALGRIND:-}" ]; then
	skip "a symlink inside MM_ROOT is followed" "no openat2 under valgrind"
else
	fetch 0 "a symlink inside MM_ROOT is followed" "$T/in.json"
	check "the file lands in its target" cmp "$MM_ROOT/store/a.bin" "$A"
fi

# A symlink planted while the download runs does not redirect it.
fix_reset
fix_rule '{"path": "/files/a.bin", "method": "GET", "stall_after": 100000, "stall_seconds": 2, "times": 1}'
one models/late/a.bin
mkdir -p "$MM_ROOT/models/late"
"$MM_BIN/mm-fetch" --progress none "$T/in.json" > "$T/res" 2> "$T/log" &
pid=$!
track_pid "$pid"
fix_wait --bytes 100000 /files/a.bin
mv "$MM_ROOT/models/late" "$MM_ROOT/models/late.old"
ln -s "$OUT" "$MM_ROOT/models/late"
wait "$pid"
is "$?" 0 "the download finishes"
outside_empty "symlink planted mid-download"
check "the file is in the directory it was started in" cmp "$MM_ROOT/models/late.old/a.bin" "$A"
rm "$MM_ROOT/models/late"

# The same file wanted at two paths: one download and a hard link.
fix_reset
cat > "$T/two.json" <<EOF2
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/x/a.bin", "hash": "$HASH"},
 {"name": "a-copy", "downloadUrl": "$FIX_URL/files/a.bin?mirror=2", "saveTo": "models/y/a.bin", "hash": "sha256:$HASH"}]}
EOF2
fetch 0 "the same hash at two paths" "$T/two.json"
is "$(fix_count --method GET /files/a.bin)" 1 "is downloaded once"
check "both paths hold the bytes" cmp "$MM_ROOT/models/y/a.bin" "$A"
is "$(stat -c %i "$MM_ROOT/models/x/a.bin")" "$(stat -c %i "$MM_ROOT/models/y/a.bin")" "as one inode"
is "$(ff 1 linkedFrom)" models/x/a.bin "linkedFrom names the source"
like "$(cat "$T/log")" 'mm-fetch: 2 downloaded, 0 present, 0 failed' \
	"the closing line counts what the manifest says: both downloaded"
is "$(ff 1 hashSource)" manifest "the link is proved as its source was: by the manifest"
like "$(cat "$T/log")" 'proved by the manifest 2, by the origin 0, by computed digest only 0' \
	"and counted so, not as proved by an origin"
rm "$MM_ROOT/models/y/a.bin"
fix_reset
fetch 0 "one present, one missing" "$T/two.json"
is "$(fix_count)" 0 "no request: the present one is linked"
is "$(st 0) $(st 1)" "present downloaded" "statuses"
like "$(cat "$T/log")" 'mm-fetch: 1 downloaded, 1 present, 0 failed' "and the closing line says so"
done_testing
