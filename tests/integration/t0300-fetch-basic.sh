#!/bin/sh
# mm-fetch downloads what is missing, verifies it, leaves present files
# alone, and never leaves a partial or wrong file at a final path.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
make_file files/a.bin 3000000
make_file files/b.bin 150000
A=$FIX_ROOT/files/a.bin
B=$FIX_ROOT/files/b.bin
export MM_ROOT="$T/root"

cat > "$T/in.json" <<EOF2
{"models": [
 {"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "fileSize": 3000000, "hash": "sha256:$(sha256_of "$A")"},
 {"name": "b.bin", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/sub/b.bin",
  "hash": "$(md5_of "$B")"}]}
EOF2
fetch 0 "two files download" --progress plain "$T/in.json"
check "a.bin has the server's bytes" cmp "$MM_ROOT/models/a.bin" "$A"
check "b.bin has the server's bytes" cmp "$MM_ROOT/models/sub/b.bin" "$B"
is "$(st 0) $(st 1)" "downloaded downloaded" "both are downloaded"
is "$(ff 0 bytes)" 3000000 "bytes counts the body"
check "stdout is the manifest" python3 -c 'import json, sys; assert len(json.load(open(sys.argv[1]))["models"]) == 2' "$T/res"
is "$(find "$MM_ROOT/models" -name '.*' | wc -l | tr -d ' ')" 0 "no part or state file is left"
like "$(cat "$T/log")" 'a.bin: downloaded' "a line per finished file"

fix_reset
fetch 0 "a second run succeeds" "$T/in.json"
is "$(st 0) $(st 1)" "present present" "both are present"
is "$(fix_count)" 0 "present files cost no request"

# A present file of the right size but the wrong bytes: --verify-present
# finds it and downloads it again.
head -c 3000000 /dev/zero > "$MM_ROOT/models/a.bin"
fetch 0 "without --verify-present a same-size file is present" "$T/in.json"
is "$(st 0)" present "it is taken as present"
fetch 0 "--verify-present" --verify-present "$T/in.json"
is "$(st 0) $(st 1)" "downloaded present" "the wrong file is downloaded again"
check "and now holds the right bytes" cmp "$MM_ROOT/models/a.bin" "$A"

# A hash mismatch leaves nothing at the final path.
fix_reset
cat > "$T/bad.json" <<EOF2
{"models": [{"name": "c", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/c.bin",
  "hash": "$(sha256_of "$A")"}]}
EOF2
fetch 1 "a hash mismatch exits 1" "$T/bad.json"
is "$(st 0)" failed "the model failed"
like "$(fe 0)" "expected sha256 $(sha256_of "$A"), got $(sha256_of "$B")" \
	"the error names both digests"
check "nothing at the final path" test ! -e "$MM_ROOT/models/c.bin"
is "$(find "$MM_ROOT/models" -name '.c.bin*' | wc -l | tr -d ' ')" 0 "no part file is kept"

# Bytes that change in transit are caught too.
fix_rule '{"path": "/files/b.bin", "corrupt_at": 1000}'
cat > "$T/corrupt.json" <<EOF2
{"models": [{"name": "d", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/d.bin",
  "hash": "$(sha256_of "$B")"}]}
EOF2
fetch 1 "a corrupted body exits 1" "$T/corrupt.json"
check "nothing at the final path" test ! -e "$MM_ROOT/models/d.bin"
fix_reset

# A size that disagrees with an exact manifest size is a failure.
cat > "$T/size.json" <<EOF2
{"models": [{"name": "e", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/e.bin",
  "fileSize": 150001}]}
EOF2
fetch 1 "a wrong exact size exits 1" "$T/size.json"
like "$(fe 0)" 'size mismatch' "the error says so"
check "nothing at the final path" test ! -e "$MM_ROOT/models/e.bin"

# Other protocols are refused per model; the rest still download.
fix_reset
cat > "$T/proto.json" <<EOF2
{"models": [
 {"name": "f", "downloadUrl": "file:///etc/passwd", "saveTo": "models/f"},
 {"name": "g", "downloadUrl": "ftp://127.0.0.1/x", "saveTo": "models/g"},
 {"name": "h", "downloadUrl": "$FIX_URL/files/b.bin", "saveTo": "models/h.bin"}]}
EOF2
fetch 1 "non-http URLs fail their model" "$T/proto.json"
is "$(st 0) $(st 1) $(st 2)" "failed failed downloaded" "only the http model downloads"
like "$(cat "$T/log")" "refusing its file:// URL" "the refusal is explained"
check "nothing written for file://" test ! -e "$MM_ROOT/models/f"

# A model with no URL is fine while its file is there, and fails when not.
fetch 1 "a model without a URL" - <<EOF2
{"models": [{"name": "a.bin", "saveTo": "models/a.bin"}, {"name": "nourl", "saveTo": "models/nourl.bin"}]}
EOF2
is "$(st 0) $(st 1)" "present failed" "is present when its file is there"
unlike "$(cat "$T/log")" 'a\.bin: no download URL' "and then no error is printed for it"
like "$(cat "$T/log")" 'nourl: no download URL' "and the other fails saying so"

# 404 is not retried.
fetch 1 "a missing file exits 1" --progress none - <<EOF2
{"models": [{"name": "gone", "downloadUrl": "$FIX_URL/files/gone.bin", "saveTo": "models/gone.bin", "fileSize": 10}]}
EOF2
like "$(fe 0)" 'HTTP 404' "the error has the status"
is "$(fix_count --method GET /files/gone.bin)" 1 "a 404 is asked once"

# Usage errors.
fetch 2 "an unknown flag exits 2" --frobnicate "$T/in.json"
fetch 2 "a bad -j exits 2" -j 0 "$T/in.json"
MODEL_DOWNLOAD_CONCURRENCY=x fetch 2 "a bad MODEL_DOWNLOAD_CONCURRENCY exits 2" "$T/in.json"
fetch 0 "-h exits 0" -h
like "$(cat "$T/res")" '^usage: mm-fetch' "-h prints usage on stdout"
echo '{"models": [' > "$T/broken.json"
fetch 3 "malformed JSON exits 3" "$T/broken.json"
is "$(wc -c < "$T/res" | tr -d ' ')" 0 "and prints nothing on stdout"
done_testing
