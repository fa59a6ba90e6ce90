#!/bin/sh
# mm-fetch --dry-run and models that share a hash: a real run downloads the
# file once and links the twin to it, so the twin's dry-run status is what
# its source's will be.  When the source cannot be fetched, neither can the
# twin.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 100000
H=$(sha256sum "$FIX_ROOT/files/a.bin" | cut -d' ' -f1)

cat > "$T/gone.json" <<EOF2
{"models": [
 {"name": "one", "downloadUrl": "$FIX_URL/files/gone1.bin", "saveTo": "models/one.bin", "hash": "sha256:$H"},
 {"name": "two", "downloadUrl": "$FIX_URL/files/gone2.bin", "saveTo": "models/two.bin", "hash": "sha256:$H"}]}
EOF2
fetch 1 "a dry run of two unreachable twins exits 1" --dry-run "$T/gone.json"
is "$(st 0) $(st 1)" "unreachable unreachable" "neither would be downloaded"
like "$(fe 1)" "models/one.bin" "the twin's error names the file it depends on"
like "$(cat "$T/log")" "two: " "and the twin's failure is said"

# What a real run does with the same manifest: both fail.
fetch 1 "the real run fails both" "$T/gone.json"
is "$(st 0) $(st 1)" "failed failed" "both failed"

# A reachable source: the twin would be linked, with the size of its source.
cat > "$T/ok.json" <<EOF2
{"models": [
 {"name": "one", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/one.bin", "hash": "sha256:$H"},
 {"name": "two", "downloadUrl": "$FIX_URL/files/gone2.bin", "saveTo": "models/two.bin", "hash": "sha256:$H"}]}
EOF2
fetch 0 "a dry run of a reachable source and its twin exits 0" --dry-run "$T/ok.json"
is "$(st 0) $(st 1)" "would-download would-download" "both would be fetched"
is "$(ff 1 bytes)" 100000 "the twin's size is its source's"
fetch 0 "and so does the real run" "$T/ok.json"
is "$(st 0) $(st 1)" "downloaded downloaded" "both downloaded"
check "the twin holds the bytes" cmp "$MM_ROOT/models/two.bin" "$FIX_ROOT/files/a.bin"

# Sizes in one run's output have one spelling (size.h): "97.7KB", never
# "97.7 KB" beside "48.0MB".
rm -rf "$MM_ROOT"
fetch 0 "a plain-progress run" --progress plain "$T/ok.json"
like "$(cat "$T/log")" 'downloaded 97\.7KB in' "the size of a download is spelled as the API spells it"
unlike "$(cat "$T/log")" '[0-9] ?[KMGT]iB|[0-9] [KMGT]?B\b' "no other spelling appears"

# An unauthorized source: the twin follows it.
rm -rf "$MM_ROOT"
fix_rule '{"path": "/files/a.bin", "status": 403}'
fetch 1 "a dry run of a refused source exits 1" --dry-run "$T/ok.json"
is "$(st 0) $(st 1)" "unauthorized unauthorized" "the twin is refused with it"
done_testing
