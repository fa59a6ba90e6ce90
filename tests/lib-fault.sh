# shellcheck shell=sh
# tests/lib-fault.sh — the fault suite's shared end-state check, sourced
# after tests/lib.sh (and tests/lib-fetch.sh).
#
# end_state SCENARIO MANIFEST [BASE_URL]: the promise every fault scenario
# must keep.  For each model of MANIFEST (what mm-fetch printed), either the
# file at its final path is a regular file with exactly the bytes the
# fixture serves for its downloadUrl (a URL under $FIX_URL, $FIX_ALT_URL or
# BASE_URL maps to the same path under $FIX_ROOT), or nothing is at the
# final path and its fetch object says it failed, with an error message.
# One TAP line "scenario SCENARIO: end state holds" per call, so the
# scenarios survived can be counted from the output.

end_state() {
	_sc=$1 _m=$2
	if python3 - "$_m" "$MM_ROOT" "$FIX_ROOT" "$FIX_URL" "$FIX_ALT_URL" ${3:+"$3"} > "$T/.es" 2>&1 <<'PY'
import json, os, sys, hashlib
man, root, fix = sys.argv[1:4]
bases = sys.argv[4:]
bad = []
try:
    doc = json.load(open(man))
except (OSError, ValueError) as e:
    print("the manifest is not JSON: %s" % e)
    sys.exit(1)
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
for m in doc.get("models", []):
    final = os.path.join(root, m["saveTo"])
    u = m.get("downloadUrl", "")
    src = None
    for b in bases:
        if u.startswith(b + "/"):
            src = os.path.join(fix, u[len(b) + 1:])
    f = m.get("fetch") or {}
    if os.path.lexists(final):
        if os.path.islink(final) or not os.path.isfile(final):
            bad.append("%s: not a regular file" % m["saveTo"])
        elif src is None or not os.path.exists(src):
            bad.append("%s: present, but the fixture serves no such file" % m["saveTo"])
        elif digest(final) != digest(src):
            bad.append("%s: present with the wrong bytes" % m["saveTo"])
    elif f.get("status") not in ("failed", "unreachable", "unauthorized"):
        bad.append("%s: absent, but fetch.status is %r" % (m["saveTo"], f.get("status")))
    elif not f.get("error"):
        bad.append("%s: absent with no error message" % m["saveTo"])
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
	then
		pass "scenario $_sc: end state holds"
	else
		fail "scenario $_sc: end state holds" "$(cat "$T/.es")"
	fi
}
