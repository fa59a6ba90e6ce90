#!/bin/sh
# Redis faults against mm-report: a connection cut between MULTI and EXEC,
# an ACL user without write rights, Redis down for a one-shot report, and
# Redis down while models change under `mm-report --watch`.  Clear errors,
# the documented exit status, and never a partial inventory: Redis holds
# either the whole previous inventory or the whole new one.
. tests/lib.sh

[ -x "$MM_BIN/mm-report" ] || skip_all "mm-report is not built"
start_redis
export MM_ROOT="$T/root" MACHINE_ID=gpu-f MM_REDIS_RETRY_SECONDS=2
m=$MM_ROOT/models
mkdir -p "$m/loras" "$m/unet"
printf 'a' > "$m/loras/a.safetensors"
printf 'bb' > "$m/unet/b.safetensors"

# inventory: the machine's model_names, sorted, on one line.
inventory() {
	rcli smembers machine:gpu-f:model_names | sort | tr '\n' ' '
}
# consistent: model_names, the models hash and the index agree.
consistent() {
	python3 - "$REDIS_SOCK" <<'PY'
import json, subprocess, sys
def r(*a):
    return subprocess.run(["redis-cli", "-s", sys.argv[1], *a], capture_output=True, text=True).stdout.split("\n")
names = set(x for x in r("smembers", "machine:gpu-f:model_names") if x)
raw = r("hget", "machine:gpu-f:models", "models")[0]
listed = set(x["name"] for x in json.loads(raw)) if raw else set()
total = r("hget", "machine:gpu-f:models", "total_models")[0]
index = set(k[len("models:index:"):] for k in r("--scan", "--pattern", "models:index:*") if k
            and "gpu-f" in r("smembers", k))
ok = names == listed == index and (total == str(len(names)) or (not raw and not total))
if not ok:
    print("names=%s listed=%s index=%s total=%r" % (sorted(names), sorted(listed), sorted(index), total))
sys.exit(0 if ok else 1)
PY
}

exit_is 0 "a first report" mm mm-report
is "$(inventory)" "a.safetensors b.safetensors " "the inventory is in Redis"

# A proxy that forwards to Redis and cuts the connection, once, just before
# EXEC reaches the server: the transaction is queued but never applied.
python3 - "$REDIS_PORT" "$T/proxy.port" "$T/proxy.cuts" <<'PY' > "$T/proxy.log" 2>&1 &
import os, socket, sys, threading
port, portfile, cutfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
cuts = [0]
def pump(src, dst, watch):
    buf = b""
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            if watch:
                buf = (buf + d)[-64:]
                i = d.find(b"EXEC\r\n")
                with lock:
                    cut = i >= 0 and cuts[0] == 0
                    if cut:
                        cuts[0] += 1
                        open(cutfile, "w").write("1")
                if cut:
                    dst.sendall(d[:max(0, d.rfind(b"*1\r\n", 0, i))])
                    break
            dst.sendall(d)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(8)
open(portfile + ".tmp", "w").write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pump, args=(c, s, True), daemon=True).start()
    threading.Thread(target=pump, args=(s, c, False), daemon=True).start()
PY
track_pid $!
wait_until 10 test -s "$T/proxy.port"
printf 'ccc' > "$m/loras/c.safetensors"
rm "$m/unet/b.safetensors"
rc=0
REDIS_URL=redis://127.0.0.1:$(cat "$T/proxy.port")/0 "$MM_BIN/mm-report" > "$T/cut.out" 2> "$T/cut.err" || rc=$?
check "the connection was cut before EXEC" test -s "$T/proxy.cuts"
if [ "$rc" -eq 0 ]; then
	# It reconnected and reported again: the new inventory, whole.
	is "$(inventory)" "a.safetensors c.safetensors " "cut before EXEC, then retried: the new inventory"
else
	like "$rc" '^[14]$' "cut before EXEC: exit 1 or 4 ($rc)"
	like "$(cat "$T/cut.err")" 'closed|connection' "with a message that says what happened"
	is "$(inventory)" "a.safetensors b.safetensors " "cut before EXEC: the old inventory, untouched"
fi
check "scenario a connection cut between MULTI and EXEC: the inventory is whole" consistent
exit_is 0 "the next report goes through" mm mm-report
is "$(inventory)" "a.safetensors c.safetensors " "and writes the new inventory"
check "consistent again" consistent

# An ACL user that may read but not write.
rcli acl setuser reader on '>reader-pass-4711' '~*' '&*' +@read +@connection -@write > /dev/null
printf 'dddd' > "$m/loras/d.safetensors"
exit_is 2 "a user without write rights: exit 2" env \
	REDIS_URL="redis://reader:reader-pass-4711@127.0.0.1:$REDIS_PORT/0" "$MM_BIN/mm-report"
like "$(cat "$T/err")" 'NOPERM|permission|rights' "the error says the user may not write"
unlike "$(cat "$T/out") $(cat "$T/err")" 'reader-pass-4711' "the password is not printed"
is "$(inventory)" "a.safetensors c.safetensors " "nothing of the new inventory was written"
check "scenario an ACL user without write rights: the inventory is whole" consistent

# Redis down: a one-shot report gives up with 4 and writes nothing.
stop_redis
exit_is 4 "Redis down: exit 4" env REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" "$MM_BIN/mm-report"
like "$(cat "$T/err")" '127\.0\.0\.1' "the error names the address"
start_redis "$REDIS_PORT"

# Redis down while the disk changes under --watch: once it is back, the
# inventory is exactly what the disk holds.
"$MM_BIN/mm-report" --watch --interval 1 < /dev/null > "$T/w.out" 2> "$T/w.err" &
pid=$!
track_pid "$pid"
has() { [ "$(inventory)" = "$1" ]; }
wait_until 20 has "a.safetensors c.safetensors d.safetensors " &&
	pass "the watcher reports" || fail "the watcher reports" "$(cat "$T/w.err")"
stop_redis
rm "$m/loras/a.safetensors"
printf 'eeeee' > "$m/unet/e.safetensors"
start_redis "$REDIS_PORT"
wait_until 30 has "c.safetensors d.safetensors e.safetensors " &&
	pass "after the outage the inventory is what the disk holds" ||
	fail "after the outage the inventory is what the disk holds" "got: $(inventory)" "$(tail -n 5 "$T/w.err")"
check "scenario Redis down while the disk changes under --watch: the inventory is whole" consistent
kill -0 "$pid" 2> /dev/null && pass "the watcher survived the outage" || fail "the watcher survived the outage"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: exit 143"

done_testing
