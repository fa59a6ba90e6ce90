#!/bin/sh
# A large inventory lands whole: 4,000 models with long names make a models
# JSON of over half a megabyte and a transaction of over a megabyte, sent a
# piece at a time over a unix socket and over TCP.  Removing a quarter of
# them removes exactly those; an error reply inside the transaction fails
# the report with the server's words.
. tests/lib.sh

start_redis
export MM_ROOT="$T/root" MACHINE_ID=big-1
m=$MM_ROOT/models
pad=$(printf '%0100d' 0)
python3 - "$m" "$pad" <<'EOF'
import os, sys
m, pad = sys.argv[1], sys.argv[2]
for i in range(4000):
    d = os.path.join(m, "kind%d" % (i % 8))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "m%04d-%s.safetensors" % (i, pad)), "wb") as f:
        f.truncate(i + 1)
EOF

# inventory N: the names set, the index keys and the models JSON all hold
# N models, and the JSON's sizes are the files' own.
inventory() {
	python3 - "$REDIS_SOCK" "$1" <<'EOF'
import json, subprocess, sys
sock, want = sys.argv[1], int(sys.argv[2])
def cli(*a):
    return subprocess.run(["redis-cli", "-s", sock, *a], capture_output=True, text=True).stdout
names = set(cli("smembers", "machine:big-1:model_names").split())
index = set(cli("--scan", "--pattern", "models:index:*").split())
models = json.loads(cli("hget", "machine:big-1:models", "models"))
bad = [r for r in models if r["size"] != int(r["name"][1:5]) + 1]
print(len(names), len(index), len(models), len(bad),
      cli("hget", "machine:big-1:models", "total_models").strip(),
      index == {"models:index:" + n for n in names})
EOF
}

exit_is 0 "a report of 4,000 models over the unix socket" mm mm-report -v
like "$(cat "$T/err")" 'reported 4000 models .* \+4000 -0' "all of them added"
# (4,000 SADDs to the index, SADD, HSET, HDEL of missing_models with no manifest, DEL of the
# digest set (no digest to add: nothing proved these files), ZADD, MULTI, EXEC)
like "$(cat "$T/err")" ', 4007 commands, 2 round trips' \
	"in one transaction, after one read: no round trip per model"
is "$(inventory 4000)" "4000 4000 4000 0 4000 True" "names, index and JSON hold all 4,000"
json_bytes=$(rcli hget machine:big-1:models models | wc -c)
if [ "$json_bytes" -gt 524288 ]; then pass "the models JSON is over 512 KiB ($json_bytes bytes)"
else fail "the models JSON is over 512 KiB" "$json_bytes bytes"; fi

find "$m" -name 'm[0-9][0-9][0-9][0-9]-*' | sort | sed -n '1~4p' | xargs rm
exit_is 0 "a report after removing a quarter, over TCP" \
	env REDIS_URL="redis://127.0.0.1:$REDIS_PORT" "$MM_BIN/mm-report" -v
like "$(cat "$T/err")" 'reported 3000 models .* \+0 -1000' "exactly those removed"
like "$(cat "$T/err")" ', 1007 commands, 3 round trips' \
	"the name set read once, then one transaction"
is "$(inventory 3000)" "3000 3000 3000 0 3000 True" "names, index and JSON hold the other 3,000"

# A key of the wrong type: EXEC answers with an error among 3,000 good ones.
victim=$(rcli srandmember machine:big-1:model_names)
rcli del "models:index:$victim" > /dev/null
rcli set "models:index:$victim" not-a-set > /dev/null
rcli hset machine:big-1:models models_sha256 stale > /dev/null
exit_is 1 "--full with an index key of the wrong type" mm mm-report --full
like "$(cat "$T/err")" 'WRONGTYPE' "the server's error is shown"
is "$(rcli get "models:index:$victim")" not-a-set "the bad key is as it was"
is "$(rcli scard machine:big-1:model_names)" 3000 "the rest of the inventory is whole"

done_testing
