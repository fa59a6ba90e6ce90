#!/bin/sh
# mm-fetch's memory stays flat whatever the file size: downloading and
# hashing 512 MiB over four connections peaks well under 64 MiB of resident
# memory, and hardly above what 16 MiB takes.
. tests/lib.sh
. tests/lib-fetch.sh

[ "${MM_SAN:-0}" = 1 ] && skip_all "a sanitizer build's memory is the sanitizer's, not mm-fetch's"
start_fixture
export MM_ROOT="$T/root"

# peak_rss SIZE: download SIZE bytes of "m" in four segments, verified, and
# print mm-fetch's peak resident set in KiB (or why it failed).
peak_rss() {
	fix_reset
	fix_rule "{\"path\": \"/files/m$1.bin\", \"body_size\": $1, \"body_fill\": \"m\"}"
	_h=$(python3 -c 'import hashlib, sys
n, h, b = int(sys.argv[1]), hashlib.sha256(), b"m" * (1 << 20)
while n:
    h.update(b[:min(n, len(b))])
    n -= min(n, len(b))
print(h.hexdigest())' "$1")
	cat > "$T/in.json" <<EOF2
{"models": [{"name": "m.bin", "downloadUrl": "$FIX_URL/files/m$1.bin", "saveTo": "models/m$1.bin",
  "fileSize": $1, "hash": "$_h"}]}
EOF2
	python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else "exit status %d" % rc)' \
		"$MM_BIN/mm-fetch" -q --segments 4 --segment-min 1MB "$T/in.json"
}

small=$(peak_rss 16777216)
big=$(peak_rss 536870912)
like "$small" '^[0-9]+$' "16 MiB downloads and verifies ($small)"
like "$big" '^[0-9]+$' "512 MiB downloads and verifies ($big)"
check "the 512 MiB file is whole" test "$(wc -c < "$MM_ROOT/models/m536870912.bin")" -eq 536870912
case "$small$big" in
*[!0-9]*) big=999999 small=0 ;;
esac
check "512 MiB peaks under 64 MiB resident ($big KiB)" test "$big" -lt 65536
check "and within 8 MiB of what 16 MiB takes ($small KiB)" test $((big - small)) -lt 8192
done_testing
