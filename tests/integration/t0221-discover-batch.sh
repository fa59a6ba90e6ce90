#!/bin/sh
# mm-discover asks the deployed API's batch endpoints, POST
# /workflows/dependencies and /collections/dependencies, once each; falls
# back to the per-item endpoints where they are missing; caches both.
. tests/lib.sh

need python3
start_fixture
unset HF_ENDPOINT
export MM_STATE_DIR="$T/state"
export EMPROPS_API_BASE_URL="$FIX_URL"

jqish() {
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}
# body N: the JSON body of the N-th logged request, keys sorted.
body() {
	fix_log "$@" | python3 -c 'import json,sys; print(json.dumps(json.loads(json.load(sys.stdin)[-1]["body"]), sort_keys=True))'
}

wf1=3f2a1b4c-0d5e-4f6a-8b7c-9d0e1f2a3b4c
wf2=AABBCCDD-0000-4111-8222-333344445555
col1=11111111-2222-4333-8444-555555555555
col2=99999999-8888-4777-8666-555555555555
flux='{"id":"model-uuid","name":"flux1-dev-fp8.safetensors","type":"diffusion","description":"Flux development model","huggingface_id":"lllyasviel/flux1_dev","status":"active"}'
sd15='{"id":"model-uuid2","name":"v1-5-pruned.safetensors","type":"text-to-image","description":"Stable Diffusion v1.5 model","download_url":"http://example.com/sd15","save_path":"checkpoints/v1-5-pruned.safetensors","status":"active"}'
nodes='[{"id":"node-uuid","name":"flux-custom-nodes","repositoryUrl":"https://github.com/flux/custom-nodes","description":"Custom nodes for Flux","branch":"main","commit":null,"recursive":false,"requirements":true,"env":{"CUDA_VERSION":"11.8"},"version":"2.0.0"}]'
api_deps_workflow "$wf1" txt2img-flux "[$flux]" "$nodes"
api_deps_workflow "$wf2" img2img-sd15 "[$sd15]"
api_deps_collection "$col1" "[$flux,$sd15]" '[{"id":"n2","name":"comfy-ui-manager","env":{"PYTHON_VERSION":"3.8"}}]'
api_deps_collection "$col2" "[$sd15]"
api_deps_on

exit_is 0 "workflows by name and by id" mm mm-discover -w "txt2img-flux,$wf2"
cp "$T/out" "$T/wf.json"
is "$(fix_count --method POST /workflows/dependencies)" 1 "in one request"
is "$(fix_count '/workflows/name/*') $(fix_count '/models/*')" "0 0" "and no other"
is "$(body /workflows/dependencies)" "{\"workflow_ids\": [\"$wf2\"], \"workflow_names\": [\"txt2img-flux\"]}" \
	"a UUID goes in workflow_ids, a name in workflow_names"
is "$(fix_header /workflows/dependencies content-type)" "application/json" "sent as JSON"
is "$(jqish "$T/wf.json" '[(x["name"], x["source"], x["saveTo"]) for x in m["models"]]')" \
	"[('flux1-dev-fp8.safetensors', 'workflow:txt2img-flux', 'models/diffusion_models/flux1-dev-fp8.safetensors'), ('v1-5-pruned.safetensors', 'workflow:$wf2', 'models/checkpoints/v1-5-pruned.safetensors')]" \
	"each workflow's models, tagged with what was asked"
is "$(jqish "$T/wf.json" 'json.dumps(m["custom_nodes"], sort_keys=True)')" \
	"$(python3 -c 'import json,sys; print(json.dumps({"workflow:txt2img-flux": json.loads(sys.argv[1]), "workflow:'"$wf2"'": []}, sort_keys=True))' "$nodes")" \
	"custom_nodes pass through untouched, per source"
unlike "$(cat "$T/err")" "asking for each" "no fallback when the batch endpoint answers"

fix_reset
api_deps_on
exit_is 0 "collections" mm mm-discover -c "$col1,$col2"
cp "$T/out" "$T/coll.json"
is "$(fix_count --method POST /collections/dependencies) $(fix_count '/collections/*')" "1 1" "in one request and no other"
is "$(body /collections/dependencies)" "{\"collection_ids\": [\"$col1\", \"$col2\"]}" "with every collection id"
is "$(jqish "$T/coll.json" '[(x["name"], x["sources"]) for x in m["models"]]')" \
	"[('flux1-dev-fp8.safetensors', ['collection:$col1']), ('v1-5-pruned.safetensors', ['collection:$col1', 'collection:$col2'])]" \
	"every model once, with every collection that asked"
is "$(jqish "$T/coll.json" 'm["custom_nodes"]["collection:'"$col1"'"][0]["env"]')" "{'PYTHON_VERSION': '3.8'}" \
	"with each collection's custom_nodes"

fix_reset
api_deps_on
exit_is 0 "workflows and collections together" mm mm-discover -w txt2img-flux -c "$col2"
is "$(fix_count '/*')" 2 "take two requests"

exit_is 3 "a workflow missing from the batch answer is unknown" mm mm-discover -w "txt2img-flux,no-such-flow"
like "$(cat "$T/err")" "unknown workflow 'no-such-flow'" "naming it"
exit_is 3 "a collection missing from the batch answer is unknown" mm mm-discover -c "$col1,c-gone"
like "$(cat "$T/err")" "unknown collection 'c-gone'" "naming it"

# The cache, --offline and the API-down fallback after a batch answer.
fix_reset
exit_is 0 "--offline after a batch answer" mm mm-discover --offline -w "txt2img-flux,$wf2"
is "$(fix_count '/*')" 0 "asks nothing"
is "$(jqish "$T/out" '[x["name"] for x in m["models"]]')" "$(jqish "$T/wf.json" '[x["name"] for x in m["models"]]')" \
	"and lists the same models"
exit_is 0 "with the API down, the cached batch answer is used" mm mm-discover --api http://127.0.0.1:1 -c "$col1,$col2"
like "$(cat "$T/err")" "warning: .*unreachable.*POST /collections/dependencies.*cached" "with a warning"
is "$(jqish "$T/out" 'len(m["models"])')" 2 "and the same models"
fix_rule '{"path":"/workflows/dependencies","status":503}'
exit_is 0 "a 503 storm on the batch endpoint falls back to its cache" mm mm-discover -w "txt2img-flux,$wf2"
is "$(fix_count --method POST /workflows/dependencies) $(fix_count '/workflows/name/*')" "3 0" "after three tries"

# A deployment without the batch endpoints: the per-item endpoints.
api_workflow txt2img-flux "[$flux]"
api_workflow plan-only '[{"name":"p.bin","downloadUrl":"http://example.com/p","saveTo":"models/p.bin"}]'
api_collection c-plan '["txt2img-flux"]'
for st in 404 405 501; do
	fix_reset
	fix_rule '{"path":"/workflows/dependencies","status":'$st'}'
	fix_rule '{"path":"/collections/dependencies","status":'$st'}'
	exit_is 0 "HTTP $st from the batch endpoints: the per-item ones are used" \
		mm mm-discover -v -w plan-only -c c-plan
	is "$(fix_count --method POST '/*') $(fix_count /workflows/name/plan-only) $(fix_count /collections/c-plan/public)" \
		"2 1 1" "  one try each, then the plan's endpoints (HTTP $st)"
	like "$(cat "$T/err")" "no POST /workflows/dependencies \\(HTTP $st\\); asking for each workflow" "  and -v says so ($st)"
	is "$(jqish "$T/out" 'sorted(x["source"] for x in m["models"])')" \
		"['collection:c-plan/workflow:txt2img-flux', 'workflow:plan-only']" "  with the same sources as before ($st)"
done
fix_reset
exit_is 0 "without -v the fallback is quiet" mm mm-discover -w plan-only
is "$(grep -c . "$T/err")" 0 "  nothing on stderr"
fix_reset
exit_is 0 "--offline after a per-item answer" mm mm-discover --offline -w plan-only
is "$(fix_count '/*')" 0 "  asks nothing"
exit_is 4 "--offline with neither answer cached is exit 4" mm mm-discover --offline -w never-asked
like "$(cat "$T/err")" "never-asked" "  naming the workflow"

# Bad batch answers: exit 3, nothing on stdout.
fix_reset
fix_rule '{"path":"/workflows/dependencies","status":400,"body":{"data":null,"error":"workflow_names must be an array"}}'
exit_is 3 "a 400 from the batch endpoint is bad input" mm mm-discover -w x1
like "$(cat "$T/err")" "HTTP 400" "with the status"
fix_reset
fix_rule '{"path":"/workflows/dependencies","body":{"data":{"models":[]},"error":null}}'
exit_is 3 "a batch answer whose data is not an array" mm mm-discover -w x2
like "$(cat "$T/err")" "POST /workflows/dependencies: data is not an array" "says so"
is "$(wc -c < "$T/out")" 0 "nothing on stdout"
fix_reset
fix_rule '{"path":"/workflows/dependencies","body":{"data":null,"error":"database is down"}}'
exit_is 3 "a batch answer carrying an error" mm mm-discover -w x3
like "$(cat "$T/err")" "database is down" "shows the API's words"
fix_reset
fix_rule '{"path":"/workflows/dependencies","body":{"data":[{"workflow_name":"x4","models":[{"name":"m","url":"http://e/m","saveTo":"../m"}]}],"error":null}}'
exit_is 3 "a hostile model in a batch answer" mm mm-discover -w x4
like "$(cat "$T/err")" "saveTo '../m'" "is refused like any other"

# Models that arrive without download details: GET /models/name/{name},
# concurrently (at most -j at once), cached.
fix_reset
api_deps_on
lk='{"name":"lk1.safetensors","type":"lora"},{"name":"lk2.safetensors","type":"lora"},{"name":"lk3.safetensors","type":"lora"},{"name":"lk4.safetensors","type":"lora"}'
api_deps_workflow 44444444-0000-4000-8000-000000000004 lookups "[$lk,$sd15]"
for n in 1 2 3 4; do
	api_model "lk$n.safetensors" '{"name":"lk'$n'.safetensors","download_url":"http://example.com/lk'$n'","save_path":"loras/lk'$n'.safetensors","file_size_gb":0.5,"auth_provider":"civitai","auth_required":true}'
done
fix_rule '{"prefix":"/models/name/","delay":0.5}'
exit_is 0 "models without download details are looked up by name" mm mm-discover -j 2 -w lookups
cp "$T/out" "$T/lk.json"
is "$(fix_count '/models/name/*') $(fix_count /models/name/v1-5-pruned.safetensors)" "4 0" \
	"once each, and only those without a URL"
is "$(jqish "$T/lk.json" '[(x["downloadUrl"], x["saveTo"], x["authEnvVar"], x["type"]) for x in m["models"][:1]][0]')" \
	"('http://example.com/lk1', 'models/loras/lk1.safetensors', 'CIVITAI_TOKEN', 'lora')" \
	"the answer fills in what was missing"
is "$(fix_log '/models/name/*' | python3 -c '
import json, sys
log = json.load(sys.stdin)
print(max(sum(1 for o in log if o["time"] <= e["time"] < o["done"]) for e in log))')" 2 \
	"at most -j at once, and more than one"
fix_reset
exit_is 0 "--offline after the lookups" mm mm-discover --offline -w lookups
is "$(fix_count '/*')" 0 "asks nothing"
is "$(jqish "$T/out" '[x["downloadUrl"] for x in m["models"]]')" "$(jqish "$T/lk.json" '[x["downloadUrl"] for x in m["models"]]')" \
	"and finds the same URLs in the cache"

# dependencies: ids of other models, included once; an unknown id or a cycle is exit 3.
fix_reset
api_deps_on
api_deps_workflow 55555555-0000-4000-8000-000000000005 deps '[
 {"id":"a","name":"a.bin","download_url":"http://e/a","save_path":"checkpoints/a.bin","dependencies":["b","d"]},
 {"id":"b","name":"b.bin","download_url":"http://e/b","save_path":"vae/b.bin","dependencies":[]},
 {"id":"c","name":"c.bin","download_url":"http://e/c","save_path":"loras/c.bin","dependencies":["b"]}]'
_lib_write "$FIX_ROOT/models/d" '{"data":{"id":"d","name":"d.bin","download_url":"http://e/d","save_path":"clip/d.bin","dependencies":["e"]},"error":null}'
_lib_write "$FIX_ROOT/models/e" '{"data":{"name":"e.bin","download_url":"http://e/e","save_path":"clip/e.bin"},"error":null}'
exit_is 0 "dependencies are resolved" mm mm-discover -w deps
is "$(jqish "$T/out" '[(x["name"], x["source"]) for x in m["models"]]')" \
	"[('a.bin', 'workflow:deps'), ('b.bin', 'workflow:deps'), ('c.bin', 'workflow:deps'), ('d.bin', 'workflow:deps'), ('e.bin', 'workflow:deps')]" \
	"each once, with those no answer listed fetched by id, and theirs in turn"
is "$(fix_count /models/d) $(fix_count /models/e) $(fix_count '/models/*')" "1 1 2" "one request per missing id"
api_deps_workflow 66666666-0000-4000-8000-000000000006 cycle '[
 {"id":"x","name":"x.bin","download_url":"http://e/x","save_path":"checkpoints/x.bin","dependencies":["y"]},
 {"id":"y","name":"y.bin","download_url":"http://e/y","save_path":"vae/y.bin","dependencies":["z"]},
 {"id":"z","name":"z.bin","download_url":"http://e/z","save_path":"vae/z.bin","dependencies":["x"]}]'
exit_is 3 "a dependency cycle is bad input" mm mm-discover -w cycle
like "$(cat "$T/err")" "dependencies form a cycle: x\\.bin -> y\\.bin -> z\\.bin -> x\\.bin" "naming the models on it"
is "$(wc -c < "$T/out")" 0 "nothing on stdout"
api_deps_workflow 77777777-0000-4000-8000-000000000007 unknown-dep '[
 {"id":"u","name":"u.bin","download_url":"http://e/u","save_path":"vae/u.bin","dependencies":["no-such-id"]}]'
exit_is 3 "an unknown dependency id is bad input" mm mm-discover -w unknown-dep
like "$(cat "$T/err")" "unknown model id 'no-such-id'.*workflow:unknown-dep" "naming the id and who asked"
api_deps_workflow 88888888-0000-4000-8000-000000000008 bad-dep '[
 {"id":"v","name":"v.bin","download_url":"http://e/v","save_path":"vae/v.bin","dependencies":"w"}]'
exit_is 3 "dependencies that are not a list of ids" mm mm-discover -w bad-dep
like "$(cat "$T/err")" "model v.bin: dependencies is not an array" "say so"

done_testing
