#!/bin/sh
# mm-route fleet and models against a real redis-server: an empty fleet,
# what mm-report publishes (missing and unverified counts) as fleet shows it,
# live and stale by heartbeat age, the worst-first order, peers' liar
# reports (machine:<id>:liar) and a broken one, malformed inventories, models' live holders and pending jobs (bounded by
# --max-scan), and a 1,000 x 500 fleet checked answer by answer.
. tests/lib.sh

start_redis

# An empty fleet: the answer is no.
exit_is 1 "fleet of nobody: exit 1" mm mm-route fleet
is "$(tr -d ' \t\n' < "$T/out")" '[]' "an empty array"
exit_is 1 "models of nobody: exit 1" mm mm-route models
is "$(tr -d ' \t\n' < "$T/out")" '[]' "an empty array"
exit_is 1 "fleet --table of nobody: exit 1" mm mm-route --table fleet
like "$(cat "$T/out")" '^MACHINE +STATE' "the header, and no machine under it"
is "$(wc -l < "$T/out" | tr -d ' ')" 1 "one line"

# A real report: three wanted, one not on disk, one proved, one not; a
# fourth file on disk the manifest does not know.
export MM_ROOT="$T/root" MACHINE_ID=gpu-real
mkdir -p "$MM_ROOT/models/unet" "$MM_ROOT/models/vae" "$MM_ROOT/models/loras"
head -c 1000 /dev/zero > "$MM_ROOT/models/unet/flux.safetensors"
head -c 30 /dev/zero > "$MM_ROOT/models/vae/ae.safetensors"
head -c 7 /dev/zero > "$MM_ROOT/models/loras/extra.safetensors"
cat > "$T/in.json" <<EOT
{"models": [
 {"name": "flux.safetensors", "downloadUrl": "http://x/f", "saveTo": "models/unet/flux.safetensors",
  "hash": "sha256:$(printf '%064d' 0)", "verify": {"status": "ok"}},
 {"name": "ae.safetensors", "downloadUrl": "http://x/a", "saveTo": "models/vae/ae.safetensors",
  "verify": {"status": "unverified"}},
 {"name": "gone.safetensors", "downloadUrl": "http://x/g", "saveTo": "models/unet/gone.safetensors",
  "fetch": {"status": "failed"}}
]}
EOT
exit_is 0 "mm-report with the manifest" sh -c '"$MM_BIN/mm-report" < "$1"' sh "$T/in.json"
is "$(rcli hget machine:gpu-real:models missing_models)" 1 "missing_models: the one wanted and not on disk"
is "$(rcli hget machine:gpu-real:models unverified_models)" 2 \
	"unverified_models: the unproved file and the one the manifest does not know"
is "$(rcli hget machine:gpu-real:models total_bytes)" 1037 "total_bytes: exact"
exit_is 0 "mm-route fleet" mm mm-route fleet
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert len(o) == 1, o
m = o[0]
assert m["machine_id"] == "gpu-real" and m["live"] is True and m["problem"] is None, m
assert (m["total_models"], m["total_bytes"], m["unverified_models"], m["missing_models"]) == (3, 1037, 2, 1), m
assert 0 <= m["age_seconds"] < 60 and m["last_updated"].endswith("Z"), m
' "$T/out" && pass "fleet shows what mm-report published" || fail "fleet after a report" "$(cat "$T/out")"
exit_is 0 "without a manifest" sh -c '"$MM_BIN/mm-report" < /dev/null'
is "$(rcli hexists machine:gpu-real:models missing_models)" 0 "what is missing is unknown: the count is removed"
exit_is 0 "fleet" mm mm-route fleet
is "$(json_get 0.missing_models "$T/out")" null "and fleet says null"
rcli flushall > /dev/null

# Hand-made machines: ages, counts, and broken inventories.
now=$(date +%s)
machine() { # machine ID AGE MISSING UNVERIFIED [MODEL…]
	id=$1 age=$2 miss=$3 unv=$4
	shift 4
	rcli hset "machine:$id:models" machine_id "$id" last_updated 2026-01-01T00:00:00Z \
		total_models $# total_size_gb 0.5 total_bytes 536870912 unverified_models "$unv" \
		missing_models "$miss" models '[]' > /dev/null
	[ $# -gt 0 ] && rcli sadd "machine:$id:model_names" "$@" > /dev/null
	for n in "$@"; do rcli sadd "models:index:$n" "$id" > /dev/null; done
	rcli zadd machines:models:heartbeat $((now - age)) "$id" > /dev/null
}
machine ok-a 5 0 0 flux vae
machine ok-b 30 0 0 flux
machine lacks-2 5 2 0 vae
machine lacks-1 5 1 9 flux
machine unproved 5 0 3 sdxl
machine old 600 0 0 flux sdxl
machine older 900 5 0 vae
# Peers caught ok-a lying three times; liarjunk's report is not a count.
rcli hset machine:ok-a:liar count 3 last_by gpu-x last_at 1700000000 > /dev/null
machine liarjunk 5 0 0
rcli hset machine:liarjunk:liar count lots > /dev/null
# A models hash that is a string, one with a count that is not a number,
# and a heartbeat with no inventory at all.
rcli set machine:wrongtype:models oops > /dev/null
rcli zadd machines:models:heartbeat "$now" wrongtype > /dev/null
machine badcount 5 0 0
rcli hset machine:badcount:models total_models lots > /dev/null
rcli zadd machines:models:heartbeat "$now" ghost > /dev/null

exit_is 0 "fleet with broken machines among good ones" mm mm-route fleet
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
order = [m["machine_id"] for m in o]
want = ["older", "old", "badcount", "ghost", "wrongtype", "liarjunk", "ok-a", "lacks-2", "lacks-1", "unproved", "ok-b"]
assert order == want, order
by = {m["machine_id"]: m for m in o}
assert by["old"]["live"] is False and by["older"]["live"] is False, o
assert all(by[i]["live"] for i in want[2:]), o
assert 590 <= by["old"]["age_seconds"] <= 660, by["old"]
assert "WRONGTYPE" in by["wrongtype"]["problem"] and "machine:wrongtype:models" in by["wrongtype"]["problem"], by["wrongtype"]
assert by["wrongtype"]["total_models"] is None, by["wrongtype"]
assert by["badcount"]["problem"] == "total_models is not a number" and by["badcount"]["total_models"] is None, by["badcount"]
assert by["ghost"]["problem"].startswith("no inventory"), by["ghost"]
assert (by["lacks-1"]["missing_models"], by["lacks-1"]["unverified_models"]) == (1, 9), by["lacks-1"]
assert (by["ok-a"]["total_models"], by["ok-a"]["total_bytes"], by["ok-a"]["problem"]) == (2, 536870912, None), by["ok-a"]
assert (by["ok-a"]["liars"], by["ok-a"]["liar_last_by"], by["ok-a"]["liar_last_at"]) == (3, "gpu-x", 1700000000), by["ok-a"]
assert all((by[i]["liars"], by[i]["liar_last_by"], by[i]["liar_last_at"]) == (0, None, None) for i in want if i not in ("ok-a", "liarjunk")), o
assert by["liarjunk"]["liars"] is None and by["liarjunk"]["problem"] == "machine:liarjunk:liar: count is not a number", by["liarjunk"]
' "$T/out" && pass "worst first: stale, broken, most liar reports, most missing, most unverified, oldest; each judged" ||
	fail "fleet order and values" "$(cat "$T/out")"
exit_is 0 "fleet --table" mm mm-route --table fleet
is "$(awk 'NR > 1 { print $1 }' "$T/out" | tr '\n' ' ')" \
	"older old badcount ghost wrongtype liarjunk ok-a lacks-2 lacks-1 unproved ok-b " "the table: one line a machine, worst on top"
like "$(head -n 1 "$T/out")" '^MACHINE +STATE +HEARTBEAT +MODELS +SIZE +UNVERIFIED +MISSING +LIARS  LAST REPORT +PROBLEM$' \
	"the header, LIARS after MISSING"
like "$(grep '^lacks-1 ' "$T/out")" '^lacks-1 +live +[0-9]+s +1 +512MB +9 +1 +0  2026-01-01T00:00:00Z$' \
	"a line: state, heartbeat age, models, size, unverified, missing, liar reports, last report"
like "$(grep '^ok-a ' "$T/out")" '^ok-a +live +[0-9]+s +2 +512MB +0 +0 +3  2026-' "a machine peers caught lying: the count"
like "$(grep '^liarjunk ' "$T/out")" ' +0 +0 +-  2026-01-01T00:00:00Z +machine:liarjunk:liar: count is not a number$' \
	"a broken report: -, and the problem says why"
like "$(grep '^old ' "$T/out")" '^old +stale +10m ' "a stale machine says so, and how long ago"
like "$(grep '^wrongtype ' "$T/out")" 'WRONGTYPE' "a broken machine says why"
exit_is 0 "a longer --stale-after counts old as live" mm mm-route --stale-after 3600 fleet
is "$(json_get 0.machine_id "$T/out")" badcount "then the broken come first"

# Models: holders, live holders, pending jobs.
job() { # job ID SCORE REQUIREMENTS
	rcli hset "job:$1" id "$1" service_required comfyui requirements "$3" > /dev/null
	rcli zadd jobs:pending "$2" "$1" > /dev/null
}
job j1 90 '{"models":["flux","lora-x"]}'
job j2 80 '{"positive_requirements":{"models":["flux"]}}'
job j3 70 '{"models":"all"}'
job j4 60 'not json'
job j5 50 '{"models":["sdxl"]}'
exit_is 0 "mm-route models" mm mm-route models
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
got = [(m["name"], m["machines"], m["live_machines"], m["pending_jobs"]) for m in o]
want = [("lora-x", 0, 0, 1), ("sdxl", 2, 1, 1), ("vae", 3, 2, 0), ("flux", 4, 3, 2)]
assert got == want, got
' "$T/out" && pass "models: holders, live holders (stale ones not), pending jobs; fewest live first" ||
	fail "models" "$(cat "$T/out")"
exit_is 0 "models --max-scan 2 counts the first two jobs" mm mm-route --max-scan 2 models
python3 -c '
import json, sys
o = {m["name"]: m["pending_jobs"] for m in json.load(open(sys.argv[1]))}
assert o == {"lora-x": 1, "flux": 2, "sdxl": 0, "vae": 0}, o
' "$T/out" && pass "j5, third in line, is not counted" || fail "models --max-scan" "$(cat "$T/out")"
like "$(cat "$T/err")" 'the first 2 of 5' "and stderr says the count is bounded"
exit_is 0 "models --table" mm mm-route --table models
like "$(sed -n 2p "$T/out")" '^lora-x +0 +0 +1$' "the table: name, live, machines, pending"
rcli del machine:ok-a:model_names > /dev/null
rcli set machine:ok-a:model_names oops > /dev/null
exit_is 0 "a name set of the wrong type is passed over" mm mm-route models
is "$(python3 -c 'import json,sys; print({m["name"]: m["machines"] for m in json.load(open(sys.argv[1]))}["flux"])' "$T/out")" \
	3 "flux: one holder fewer"
exit_is 2 "--claim does not go with fleet" mm mm-route --claim fleet
exit_is 2 "fleet takes no argument" mm mm-route fleet x
rcli flushall > /dev/null

# 1,000 machines x 500 models, and 300 pending jobs: every answer checked.
# A live machine's heartbeat is at most 29 s old, 91 s short of stale, so a
# slow machine building this does not turn one stale before the answer.
now=$(date +%s)
python3 - "$now" "$T" <<'PY'
import json, sys
now, t = int(sys.argv[1]), sys.argv[2]
def cmd(*a):
    a = [str(x).encode() for x in a]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
M, N = 1000, 500
out, holders, fleet = [], {}, []
for i in range(M):
    mid = "m%04d" % i
    held = ["model-%03d.safetensors" % j for j in range(N) if (i * 7 + j) % 5]
    age = 600 + i if i < 100 else i % 30
    live = age <= 120
    for n in held:
        h = holders.setdefault(n, [0, 0, 0])
        h[0] += 1
        h[1] += live
    out.append(cmd("SADD", "machine:%s:model_names" % mid, *held))
    out.append(cmd("HSET", "machine:%s:models" % mid, "machine_id", mid, "last_updated",
                   "2026-01-01T00:00:00Z", "total_models", len(held), "total_bytes", i * 1000,
                   "total_size_gb", "0.00", "unverified_models", i % 3, "missing_models", i % 4))
    out.append(cmd("ZADD", "machines:models:heartbeat", now - age, mid))
    fleet.append((not live, i % 4, i % 3, age, mid))
for k in range(300):
    names = ["model-%03d.safetensors" % (k % N), "model-%03d.safetensors" % ((k * 3 + 1) % N)]
    if k % 10 == 0:
        names.append("nobody-%d" % k)
    out.append(cmd("HSET", "job:j%d" % k, "service_required", "comfyui", "requirements",
                   json.dumps({"models": names})))
    out.append(cmd("ZADD", "jobs:pending", 1000 - k, "j%d" % k))
    for n in set(names):
        holders.setdefault(n, [0, 0, 0])[2] += 1
open(t + "/fleet.resp", "wb").write(b"".join(out))
fleet.sort(key=lambda f: (-f[0], -f[1], -f[2], -f[3], f[4]))
json.dump([f[4] for f in fleet], open(t + "/fleet.want", "w"))
models = sorted(holders.items(), key=lambda kv: (kv[1][1], -kv[1][2], kv[0]))
json.dump([[n, h[0], h[1], h[2]] for n, h in models], open(t + "/models.want", "w"))
PY
rcli --pipe < "$T/fleet.resp" > /dev/null
is "$(rcli zcard machines:models:heartbeat)" 1000 "1,000 machines loaded"
exit_is 0 "fleet of 1,000" mm mm-route fleet
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
assert [m["machine_id"] for m in o] == want, "order"
for m in o:
    i = int(m["machine_id"][1:])
    assert m["live"] == (i >= 100) and m["problem"] is None, m
    assert (m["total_models"], m["total_bytes"], m["unverified_models"], m["missing_models"]) == (400, i * 1000, i % 3, i % 4), m
    assert m["liars"] == 0, m
' "$T/out" "$T/fleet.want" && pass "every machine, its counts, in worst-first order" ||
	fail "fleet of 1,000" "$(head -c 2000 "$T/out")"
exit_is 0 "models of 1,000 x 500 with --max-scan 1000" mm mm-route --max-scan 1000 models
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
got = [[m["name"], m["machines"], m["live_machines"], m["pending_jobs"]] for m in o]
assert len(got) == 530, len(got)
assert got == want, [g for g, w in zip(got, want) if g != w][:5]
' "$T/out" "$T/models.want" && pass "every model: holders, live holders, pending jobs" ||
	fail "models of 1,000 x 500" "$(head -c 2000 "$T/out")"

done_testing
