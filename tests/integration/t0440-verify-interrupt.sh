#!/bin/sh
# mm-verify stopped by SIGTERM or SIGINT: exits 143 or 130 soon, prints the
# manifest with the models it finished, and keeps their digests cached so the
# next run does not hash them again.
. tests/lib.sh

export MM_ROOT="$T/root" MM_STATE_DIR="$T/state"
R=$MM_ROOT
mkdir -p "$R/models"
# A sparse file far too big to hash before the signal arrives, and a small one.
truncate -s 64G "$R/models/huge.safetensors" || skip_all "no sparse files here"
printf 'abc' > "$R/models/small.safetensors"
cat > "$T/m.json" <<EOF
{"models": [
 {"name": "huge", "saveTo": "models/huge.safetensors", "sizeBytes": 68719476736,
  "hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
 {"name": "small", "saveTo": "models/small.safetensors", "sizeBytes": 3,
  "hash": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
]}
EOF

verify_of() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join("%s/%s" % (x.get("verify", {}).get("status", "-"), x.get("verify", {}).get("cached", "-"))
               for x in m["models"]))' "$1"
}

# read_past PID BYTES: PID has read more than BYTES.
read_past() {
	[ "$(awk '/^rchar/ { print $2 }' "/proc/$1/io" 2> /dev/null || echo 0)" -gt "$2" ]
}

# run_and_signal SIG: start mm-verify -j 2, wait until it is hashing the big
# file, send SIG; the exit status goes to $T/rc.
run_and_signal() {
	rm -f "$T/rc"
	(
		"$MM_BIN/mm-verify" -j 2 "$T/m.json" > "$T/out" 2> "$T/err" &
		pid=$!
		echo "$pid" > "$T/pid"
		wait "$pid"
		echo $? > "$T/rc"
	) &
	wait_until 10 test -s "$T/pid"
	track_pid "$(cat "$T/pid")"
	# Once 256 MiB of the big file are read, the other thread long had the small one.
	wait_until 20 read_past "$(cat "$T/pid")" 268435456
	kill -s "$1" "$(cat "$T/pid")"
	wait_until 20 test -s "$T/rc"
}

run_and_signal TERM
is "$(cat "$T/rc")" 143 "SIGTERM: exit 143"
is "$(verify_of "$T/out")" "-/- ok/False" \
	"the manifest is printed: the small file verified, the interrupted one without a verify object"
like "$(cat "$T/err")" "interrupted" "stderr says it was interrupted"

run_and_signal INT
is "$(cat "$T/rc")" 130 "SIGINT: exit 130"
is "$(verify_of "$T/out")" "-/- ok/True" "the small file's digest was kept from the interrupted run"

done_testing
