#!/bin/sh
# The resume state beside a part file sits where another tenant may write.
# Whatever is there, mm-fetch neither hangs nor trusts it: a FIFO, a
# directory, a symlink, garbage or a state claiming bytes the part file
# lacks all mean "start from byte 0", and the file arrives intact.
. tests/lib.sh
. tests/lib-fetch.sh

start_fixture
export MM_ROOT="$T/root"
make_file files/a.bin 300000
A=$FIX_ROOT/files/a.bin
cat > "$T/in.json" <<EOF2
{"models": [{"name": "a.bin", "downloadUrl": "$FIX_URL/files/a.bin", "saveTo": "models/a.bin",
  "fileSize": 300000, "hash": "$(sha256_of "$A")"}]}
EOF2

# plant KIND: a part file of 100000 wrong bytes and a hostile state beside it.
plant() {
	rm -rf "$MM_ROOT"
	mkdir -p "$MM_ROOT/models"
	head -c 100000 /dev/zero > "$MM_ROOT/models/.a.bin.mm-part"
	s=$MM_ROOT/models/.a.bin.mm-state
	case $1 in
	fifo) mkfifo "$s" ;;
	dir) mkdir "$s" ;;
	symlink) printf 'mm-state 1\n' > "$T/elsewhere"; ln -s "$T/elsewhere" "$s" ;;
	garbage) head -c 5000 /dev/urandom > "$s" ;;
	huge) python3 -c 'import sys; sys.stdout.write("piece 0 1 0\n" * 20000)' > "$s" ;;
	esac
}

for kind in fifo dir symlink garbage huge; do
	plant "$kind"
	# A hang is a failure here, not a test run that never ends.
	exit_is 0 "a $kind as the state file: mm-fetch downloads the file" \
		timeout -k 5 60 "$MM_BIN/mm-fetch" --retry-delay 0.01 "$T/in.json"
	check "a $kind: the bytes are right" cmp "$MM_ROOT/models/a.bin" "$A"
done
done_testing
