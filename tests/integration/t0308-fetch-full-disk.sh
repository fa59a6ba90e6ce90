#!/bin/sh
# A filesystem that fills up during a download: mm-fetch fails the model
# with a clear error, removes the part file to give the space back, and
# leaves nothing at the final path.  The preflight catches a filesystem
# that is already too small (exit 5).
. tests/lib.sh
. tests/lib-fetch.sh

unshare -m true 2>/dev/null || skip_all "cannot make a private mount namespace"
mount_ok() {
	unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs "$1"' - "$T" 2>/dev/null
}
mount_ok || skip_all "cannot mount a tmpfs"

start_fixture
make_file files/a.bin 3000000
A=$FIX_ROOT/files/a.bin
mkdir -p "$T/small"

# small MANIFEST ARG…: run mm-fetch with MM_ROOT on a 1 MiB tmpfs of its
# own; stdout to $T/res, stderr to $T/log, status to $T/rc, and what the
# tmpfs held at the end to $T/files.
small() {
	_m=$1
	shift
	MM_ROOT=$T/small unshare -m sh -c '
		mount -t tmpfs -o size=1m tmpfs "$MM_ROOT" || exit 99
		"$@" > "$0.res" 2> "$0.log"
		echo $? > "$0.rc"
		(cd "$MM_ROOT" && find . -type f | sort) > "$0.files"
	' "$T/x" "$MM_BIN/mm-fetch" --progress plain "$@" "$_m"
	for _f in res log rc files; do mv "$T/x.$_f" "$T/$_f"; done
}

cat > "$T/nosize.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "hash": "$(sha256_of "$A")"}]}
EOF2
# The HEAD understates the size, so the preflight lets the download start.
fix_rule '{"path": "/files/a.bin", "method": "HEAD", "headers": {"Content-Length": "1000"}}'
small "$T/nosize.json"
is "$(cat "$T/rc")" 1 "a full disk fails the run with exit 1"
is "$(st 0)" failed "the model failed"
like "$(fe 0)" 'No space left on device' "the error says the disk is full"
unlike "$(cat "$T/files")" 'a\.bin' "no final file and no part file are left"

cat > "$T/sized.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "fileSize": 3000000}]}
EOF2
fix_reset
small "$T/sized.json"
is "$(cat "$T/rc")" 5 "a filesystem too small from the start: exit 5"
like "$(cat "$T/log")" "need 2\\.9MB, 1\\.0MB free on $T/small" "the message names the filesystem"
is "$(fix_count --method GET)" 0 "nothing was downloaded"
done_testing
