#!/bin/sh
# Routing end to end: 3 machines report their disks with mm-report, 30 jobs
# with random requirements wait in jobs:pending, the machines claim in turn
# until nobody gets anything.  Every claim lands on a machine holding all of
# the job's models, and every job some machine can run is claimed.
. tests/lib.sh

start_redis
seed=${MM_TEST_SEED:-$$}
diag "seed $seed (MM_TEST_SEED=$seed to repeat)"

# Disks and jobs from the seed.
python3 - "$T" "$seed" <<'PY'
import json, os, random, sys
t, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
names = ["m%d.safetensors" % i for i in range(8)]   # m7 is on no disk
disks = {}
for mid in ("gpu-a", "gpu-b", "gpu-c"):
    held = sorted(rng.sample(names[:7], rng.randint(2, 5)))
    disks[mid] = held
    for n in held:
        d = os.path.join(t, mid, "models", "checkpoints")
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, n), "w").write(mid)
jobs = {}
for i in range(30):
    kind = rng.random()
    if kind < 0.1:
        req = {"models": "all"}
    else:
        need = rng.sample(names, rng.randint(1, 3))
        req = {"positive_requirements": {"models": need}} if kind < 0.3 else {"models": need}
    jobs["job%02d" % i] = {"score": rng.randint(1, 1000), "req": req}
json.dump({"disks": disks, "jobs": jobs}, open(os.path.join(t, "plan.json"), "w"))
with open(os.path.join(t, "jobs.redis"), "w") as f:
    for jid, j in jobs.items():
        f.write('HSET job:%s id %s service_required comfyui payload {} requirements %s\n'
                % (jid, jid, json.dumps(json.dumps(j["req"]))))
        f.write("ZADD jobs:pending %d %s\n" % (j["score"], jid))
PY

for mid in gpu-a gpu-b gpu-c; do
	MM_ROOT=$T/$mid MACHINE_ID=$mid mm mm-report > /dev/null || fail "mm-report $mid"
done
rcli < "$T/jobs.redis" > /dev/null
is "$(rcli zcard jobs:pending)" 30 "30 jobs pending"

# Claim in turns until a whole round claims nothing.
: > "$T/claims"
round=0
while [ "$round" -lt 40 ]; do
	got=0
	for mid in gpu-a gpu-b gpu-c; do
		if mm mm-route match --claim "$mid" "w-$mid" comfyui > "$T/claim.json" 2> "$T/claim.err"; then
			python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"], sys.argv[2])' \
				"$T/claim.json" "$mid" >> "$T/claims"
			got=1
		fi
	done
	[ "$got" -eq 0 ] && break
	round=$((round + 1))
done

python3 - "$T" <<'PY' > "$T/verdict" 2>&1
import json, os, subprocess, sys
t = sys.argv[1]
plan = json.load(open(os.path.join(t, "plan.json")))
disks = {m: set(v) for m, v in plan["disks"].items()}
claims = [l.split() for l in open(os.path.join(t, "claims")) if l.strip()]
bad = []
claimed = {}
for jid, mid in claims:
    if jid in claimed:
        bad.append("%s claimed twice" % jid)
    claimed[jid] = mid
    req = plan["jobs"][jid]["req"]
    models = req.get("models", req.get("positive_requirements", {}).get("models"))
    if models != "all" and not set(models) <= disks[mid]:
        bad.append("%s went to %s, which lacks %s" % (jid, mid, sorted(set(models) - disks[mid])))
def runnable(req):
    models = req.get("models", req.get("positive_requirements", {}).get("models"))
    return models == "all" or any(set(models) <= d for d in disks.values())
for jid, j in plan["jobs"].items():
    if runnable(j["req"]) and jid not in claimed:
        bad.append("%s could run somewhere but was not claimed" % jid)
    if not runnable(j["req"]) and jid in claimed:
        bad.append("%s cannot run anywhere but was claimed" % jid)
print("claims=%d runnable=%d" % (len(claims), sum(runnable(j["req"]) for j in plan["jobs"].values())))
for b in bad:
    print("BAD", b)
PY
diag "$(head -n 1 "$T/verdict")"
if grep -q '^BAD' "$T/verdict"; then
	fail "every claim lands on a machine holding all the job's models" "$(cat "$T/verdict")"
else
	pass "every claim lands on a machine holding all the job's models"
fi
unlike "$(cat "$T/verdict")" "could run somewhere" "every job some machine can run is claimed"
unlike "$(cat "$T/verdict")" "cannot run anywhere but" "no job nobody can run is claimed"
left=$(rcli zcard jobs:pending)
claimed=$(wc -l < "$T/claims")
is "$((left + claimed))" 30 "claimed and still pending add up to 30"
is "$(rcli hlen jobs:active:w-gpu-a) $(rcli hlen jobs:active:w-gpu-b) $(rcli hlen jobs:active:w-gpu-c)" \
	"$(grep -c ' gpu-a$' "$T/claims") $(grep -c ' gpu-b$' "$T/claims") $(grep -c ' gpu-c$' "$T/claims")" \
	"each worker's jobs:active hash holds what it claimed"

done_testing
