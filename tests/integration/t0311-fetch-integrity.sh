#!/bin/sh
# mm-fetch never places a body it cannot stand behind: one outside the size
# hint's tolerance (a server that closes early without Content-Length), one
# sent encoded (gzip) when mm asked for identity; a hash mismatch after a
# resume gets one fresh download from byte 0 in the same run; and a run holds
# no descriptor per model, so 5,000 models download under `ulimit -n 256`.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"

# --- A short body without Content-Length, under a rounded hint and no hash.
make_file files/short.bin 1048576
cat > "$T/short.json" <<EOF2
{"models": [{"name": "short", "downloadUrl": "$FIX_URL/files/short.bin",
  "saveTo": "models/short.bin", "fileSize": "17.2GB"}]}
EOF2
fix_rule '{"path": "/files/short.bin", "method": "GET", "headers": {"Content-Length": null}}'
fetch 1 "1 MiB without Content-Length for a 17.2GB hint fails" --retry-delay 0 --progress none "$T/short.json"
is "$(st 0)" failed "the model failed"
like "$(fe 0)" 'size mismatch: the manifest says about 18468359372 bytes, the server sent 1048576' \
	"the error gives the hint and what came"
check "nothing at the final path" test ! -e "$MM_ROOT/models/short.bin"
is "$(nfiles "$MM_ROOT" '*.mm-part')" 0 "and no part file left"
# The same framing for a body that fits its hint is fine.
make_file files/fits.bin 4000000
cat > "$T/fits.json" <<EOF2
{"models": [{"name": "fits", "downloadUrl": "$FIX_URL/files/fits.bin",
  "saveTo": "models/fits.bin", "fileSize": "4MB"}]}
EOF2
fix_reset
fix_rule '{"path": "/files/fits.bin", "method": "GET", "headers": {"Content-Length": null}}'
fetch 0 "a body that fits its hint is placed, Content-Length or not" --progress none "$T/fits.json"
check "the bytes are right" cmp "$MM_ROOT/models/fits.bin" "$FIX_ROOT/files/fits.bin"

# --- An unsolicited gzip body.
head -c 4194304 /dev/zero > "$FIX_ROOT/files/zero.bin"
cat > "$T/gzip.json" <<EOF2
{"models": [{"name": "zero", "downloadUrl": "$FIX_URL/files/zero.bin",
  "saveTo": "models/zero.bin", "fileSize": "4MB"}]}
EOF2
fix_reset
fix_rule '{"path": "/files/zero.bin", "gzip_always": true}'
fetch 1 "a gzip body mm did not ask for fails" --attempts 2 --retry-delay 0 --progress none "$T/gzip.json"
is "$(fix_header --method GET /files/zero.bin accept-encoding)" identity "mm asks for identity"
like "$(fe 0)" 'Content-Encoding: gzip' "the error names the encoding"
like "$(fe 0)" 'after 2 attempts' "each encoded answer is a failed try"
is "$(fix_count --method GET /files/zero.bin)" 2 "two tries"
check "nothing at the final path" test ! -e "$MM_ROOT/models/zero.bin"
is "$(nfiles "$MM_ROOT" '*.mm-part')" 0 "and no part file left"
fix_reset
fix_rule '{"path": "/files/zero.bin", "gzip": true}'
fetch 0 "a server that gzips only on request sends the file as it is" --progress none "$T/gzip.json"
check "the bytes are right" cmp "$MM_ROOT/models/zero.bin" "$FIX_ROOT/files/zero.bin"

# --- A resume over a corrupt part file: the part and state an interrupted
# run leaves (2,000,000 of 3,000,000 bytes, state as mm writes it), then the
# first 4 KiB zeroed, as a power loss can.
make_file files/a.bin 3000000
A=$FIX_ROOT/files/a.bin
cat > "$T/a.json" <<EOF2
{"models": [{"name": "a", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$(sha256_of "$A")"}]}
EOF2
etag=$(curl -sI "$FIX_URL/files/a.bin" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
corrupt_part() {
	rm -f "$MM_ROOT/models/a.bin"
	mkdir -p "$MM_ROOT/models"
	{ head -c 4096 /dev/zero; head -c 2000000 "$A" | tail -c +4097; } > "$MM_ROOT/models/.a.bin.mm-part"
	python3 - "$MM_ROOT/models/.a.bin.mm-state" "$FIX_URL/files/a.bin" "$etag" <<'PY'
import sys
h = 1469598103934665603
for c in sys.argv[2].encode():
    h = ((h ^ c) * 1099511628211) & (2**64 - 1)
open(sys.argv[1], "w").write("mm-state 1\nurl %016x\nsize 3000000\nvalidator %s\n"
    "segmented 0\npiece 0 3000000 2000000\n" % (h, sys.argv[3]))
PY
}
isnt "$etag" "" "the fixture's ETag, for the state file"
corrupt_part
fix_reset
fetch 0 "a hash mismatch after a resume downloads again from byte 0" --progress none "$T/a.json"
check "the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
is "$(fix_count --method GET /files/a.bin)" 2 "two requests"
like "$(fix_header --method GET --index 1 /files/a.bin range)" "^bytes=2000000-" "the first resumed"
is "$(fix_header --method GET --index 2 /files/a.bin range)" "" "the second asked for the whole file"
like "$(cat "$T/log")" 'hash mismatch after resuming from .*starting over' "the log says why"
is "$(nfiles "$MM_ROOT" '*.mm-[ps]*')" 0 "no part or state file is left"
# A server whose file is really wrong: one fresh try, no more, then a failure.
corrupt_part
fix_reset
fix_rule '{"path": "/files/a.bin", "method": "GET", "corrupt_at": 2500000}'
fetch 1 "still wrong from byte 0: the model fails" --progress none "$T/a.json"
like "$(fe 0)" '^hash mismatch' "with a hash mismatch"
is "$(fix_count --method GET /files/a.bin)" 2 "after one resumed and one whole download"
check "nothing at the final path" test ! -e "$MM_ROOT/models/a.bin"
is "$(nfiles "$MM_ROOT" '*.mm-part')" 0 "the wrong part file is gone"

# --- 5,000 small models under ulimit -n 256.  Their files and MM_ROOT go
# on a tmpfs where one can be mounted: what is measured is descriptors, not
# the fsyncs of a busy disk (two per file, some 45 s for 5,000 on one here).
M=$FIX_ROOT/many
mkdir -p "$M"
if mount -t tmpfs -o mode=0755 tmpfs "$M" 2> /dev/null; then
	trap 'umount "$M" 2> /dev/null; _lib_cleanup' EXIT
else
	diag "no tmpfs (needs root): on disk"
fi
python3 - "$M/src" "$FIX_URL/many/src" "$T/many.json" <<'PY'
import hashlib, json, os, sys
os.makedirs(sys.argv[1])
models = []
for i in range(5000):
    data = os.urandom(64 + i % 200)
    with open(os.path.join(sys.argv[1], "m%d.bin" % i), "wb") as f:
        f.write(data)
    models.append({"name": "m%d" % i, "downloadUrl": "%s/m%d.bin" % (sys.argv[2], i),
                   "saveTo": "models/m%d.bin" % i, "fileSize": len(data),
                   "hash": hashlib.sha256(data).hexdigest()})
json.dump({"models": models}, open(sys.argv[3], "w"))
PY
fix_reset
t0=$(date +%s)
export MM_ROOT="$M/root"
exit_is 0 "5,000 small models download under ulimit -n 256" \
	sh -c 'ulimit -n 256 && exec "$@"' sh "$MM_BIN/mm-fetch" -j 8 --progress none "$T/many.json"
diag "5,000 models in $(($(date +%s) - t0)) s"
unlike "$(cat "$T/err")" 'Too many open files' "no model ran out of descriptors"
is "$(nfiles "$M/root/models" 'm*.bin')" 5000 "every file is there"
check "and right" diff -r "$M/src" "$M/root/models"
done_testing
