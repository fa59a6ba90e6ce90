#!/bin/sh
# Disk faults against mm-fetch: a filesystem that fills up during a
# download (a small tmpfs), and a read-only MM_ROOT.  A clear error, a
# non-zero exit, no file at a final path that is not whole, and a part file
# that is either gone or resumed by the next run once there is room.
. tests/lib.sh
. tests/lib-fetch.sh
. tests/lib-fault.sh

[ -x "$MM_BIN/mm-fetch" ] || skip_all "mm-fetch is not built"
MNT=$T/small
mkdir -p "$MNT"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$MNT" 2> /dev/null ||
	skip_all "cannot mount a tmpfs here (needs root)"
trap 'umount "$MNT" 2> /dev/null; _lib_cleanup' EXIT

start_fixture
export MM_ROOT="$MNT/root" MM_STATE_DIR="$T/state"
make_file files/big.bin 3000000
make_file files/small.bin 100000
python3 - "$FIX_ROOT" "$FIX_URL" > "$T/in.json" <<'PY'
import hashlib, json, sys
fix, url = sys.argv[1:3]
print(json.dumps({"models": [
    {"name": n, "downloadUrl": "%s/files/%s" % (url, n), "saveTo": "models/" + n,
     "hash": hashlib.sha256(open("%s/files/%s" % (fix, n), "rb").read()).hexdigest()}
    for n in ("small.bin", "big.bin")]}))
PY

# The size is known from HEAD: the preflight refuses before any download.
fetch 5 "too little space for what the HEAD requests announce: exits 5" "$T/in.json"
is "$(fix_count --method GET '/files/*')" 0 "no download was started"
like "$(cat "$T/log")" '[Ss]pace|disk' "the error says there is not enough space"
end_state "a disk too small, found by the preflight" "$T/res"

# The disk fills up during the download (another writer takes the space).
mount -o remount,size=4m "$MNT"
fix_reset
fix_rule '{"path": "/files/big.bin", "method": "GET", "rate": 1000000}'
"$MM_BIN/mm-fetch" --retry-delay 0.05 "$T/in.json" > "$T/res" 2> "$T/log" &
pid=$!
track_pid "$pid"
fix_wait --bytes 500000 /files/big.bin
dd if=/dev/zero of="$MNT/filler" bs=64k 2> /dev/null
wait "$pid"
rc=$?
isnt "$rc" 0 "a disk that fills during the download: exits non-zero"
like "$rc" '^(1|5)$' "with 1 or 5, not a crash ($rc)"
like "$(cat "$T/log")" '[Ss]pace|disk|full' "the error says the disk is full"
end_state "a disk that fills during a download" "$T/res"
check "the small file made it" cmp "$MM_ROOT/models/small.bin" "$FIX_ROOT/files/small.bin"
check "the big one is not at its final path" test ! -e "$MM_ROOT/models/big.bin"
part=$MM_ROOT/models/.big.bin.mm-part
kept=$(stat -c %s "$part" 2> /dev/null || echo 0)
diag "part file after ENOSPC: $kept bytes"
rm -f "$MNT/filler"

# Make room: the next run finishes, continuing the part file if one was kept.
fix_reset
fetch 0 "with room again the rerun succeeds" --retry-delay 0.05 "$T/in.json"
end_state "a full disk, then room again" "$T/res"
if [ "$kept" -gt 0 ] && [ -n "$(fix_header --method GET --index 1 /files/big.bin range)" ]; then
	pass "the kept part file was resumed"
elif [ "$kept" -gt 0 ]; then
	# A kept part may be one whose resume state was dropped; then it must not be trusted.
	check "a kept part file is replaced, not trusted blindly" cmp "$MM_ROOT/models/big.bin" "$FIX_ROOT/files/big.bin"
else
	pass "no part file was kept, the rerun started over"
fi

fetch_any() { mm mm-fetch --retry-delay 0.05 "$T/in.json" > "$T/res" 2> "$T/log"; echo $?; }

# A read-only MM_ROOT: present files are fine, a missing one fails clearly.
mount -o remount,ro "$MNT"
fetch 0 "a read-only MM_ROOT with every model present: exits 0" "$T/in.json"
is "$(st 0) $(st 1)" "present present" "both are present"
mount -o remount,rw "$MNT"
rm -f "$MM_ROOT/models/big.bin"
mount -o remount,ro "$MNT"
fix_reset
rc=$(fetch_any)
isnt "$rc" 0 "a read-only MM_ROOT with a model missing: exits non-zero ($rc)"
like "$(cat "$T/log")" '[Rr]ead-only' "the error says the file system is read-only"
end_state "a read-only MM_ROOT" "$T/res"
is "$(fix_count --method GET /files/big.bin)" 0 "nothing is downloaded that cannot be written"
mount -o remount,rw "$MNT"

done_testing
