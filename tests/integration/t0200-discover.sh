#!/bin/sh
# mm-discover against the fixture API: workflows, collections, components,
# model names, merging, the cache, and every exit status it can give.
. tests/lib.sh

start_fixture
export MM_STATE_DIR="$T/state"
export EMPROPS_API_BASE_URL="$FIX_URL"

# A small catalog.
flux='{"name":"flux1-dev-fp8.safetensors","downloadUrl":"https://huggingface.co/x/flux1-dev-fp8.safetensors","saveTo":"models/unet/flux1-dev-fp8.safetensors","fileSize":"17.2GB","isAuthReq":true,"authEnvVar":"HF_TOKEN","hash":"7fac5935ad7b22c0e9147b26ae3f890b"}'
vae='{"name":"ae.safetensors","download_url":"http://example.com/ae.safetensors","save_to":"models/vae/ae.safetensors","file_size":"0.3GB"}'
esr='{"name":"esrgan.pth","downloadUrl":"http://example.com/esrgan.pth","saveTo":"models/upscale_models/esrgan.pth","fileSize":"64MB"}'
api_workflow txt2img-flux "[$flux,$vae]"
api_workflow upscale "[\"esrgan.pth\"]"
api_model esrgan.pth "$esr"
api_collection c0ffee '["txt2img-flux","upscale"]'

# jqish FILE EXPR: evaluate a Python expression over the manifest `m`.
jqish() {
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}

exit_is 0 "a workflow is discovered" mm mm-discover -w txt2img-flux
cp "$T/out" "$T/wf.json"
is "$(jqish "$T/wf.json" 'len(m["models"])')" 2 "both of its models are listed"
is "$(jqish "$T/wf.json" 'm["models"][0]["source"]')" "workflow:txt2img-flux" "each says which workflow asked"
is "$(jqish "$T/wf.json" 'm["models"][0]["sizeBytes"]')" 18468359372 "fileSize is parsed into sizeBytes"
is "$(jqish "$T/wf.json" '"save_to" in json.dumps(m) or "downloadUrl" not in m["models"][1]')" False \
	"snake_case answers are written back in camelCase"
is "$(jqish "$T/wf.json" 'm["source"]["workflow_ids"]')" "['txt2img-flux']" "the manifest records what was asked"
is "$(jqish "$T/wf.json" 'm["total_models"], m["total_size_gb"]')" "(2, 17.5)" "totals are computed"

exit_is 0 "a workflow naming its models resolves them" mm mm-discover -w upscale
is "$(jqish "$T/out" 'm["models"][0]["saveTo"]')" "models/upscale_models/esrgan.pth" \
	"the model name became its model object"

exit_is 0 "WORKFLOW_IDS from the environment" env WORKFLOW_IDS=" txt2img-flux , upscale,," "$MM_BIN/mm-discover"
is "$(jqish "$T/out" 'len(m["models"])')" 3 "a list with spaces and empty items is read"

fix_reset
exit_is 0 "a collection expands into its workflows" mm mm-discover -c c0ffee -w txt2img-flux
is "$(jqish "$T/out" 'len(m["models"])')" 3 "a model asked for twice is listed once"
is "$(jqish "$T/out" '[x["sources"] for x in m["models"] if x["name"]=="ae.safetensors"][0]')" \
	"['workflow:txt2img-flux', 'collection:c0ffee/workflow:txt2img-flux']" "and its sources name every asker"
is "$(fix_count /workflows/name/txt2img-flux)" 1 "a workflow wanted twice is fetched once"

# Some deployments answer /collections/{id} with components[].
mkdir -p "$FIX_ROOT/collections"
printf '{"data":{"components":[{"name":"upscale"}]},"error":null}' > "$FIX_ROOT/collections/beef"
exit_is 0 "a collection served as components[] is read" mm mm-discover -c beef
is "$(jqish "$T/out" 'm["models"][0]["sources"]')" "['collection:beef/workflow:upscale']" "with its source"

exit_is 0 "COLLECTIONS is an alias of COLLECTION_IDS" env COLLECTIONS=beef "$MM_BIN/mm-discover"

exit_is 0 "legacy COMPONENTS are resolved as workflows" env COMPONENTS=upscale "$MM_BIN/mm-discover"
is "$(jqish "$T/out" 'm["models"][0]["source"]')" "component:upscale" "tagged as a component"
unlike "$(cat "$T/err")" "WORKFLOW_IDS=" "no migration notice without MIGRATE_TO_WORKFLOWS"

exit_is 0 "MIGRATE_TO_WORKFLOWS treats components as workflows" \
	env COMPONENTS=upscale WORKFLOW_IDS=txt2img-flux MIGRATE_TO_WORKFLOWS=true "$MM_BIN/mm-discover"
like "$(cat "$T/err")" "^WORKFLOW_IDS=txt2img-flux,upscale$" "and prints the WORKFLOW_IDS line to use"
is "$(jqish "$T/out" '[x["source"] for x in m["models"] if x["name"]=="esrgan.pth"][0]')" "workflow:upscale" \
	"tagged as a workflow"

# Configuration errors: exit 2.
exit_is 2 "nothing configured is a usage error" mm mm-discover
like "$(cat "$T/err")" "WORKFLOW_IDS.*COLLECTION_IDS.*COMPONENTS" "which says what to set"
exit_is 2 "no API URL is a usage error" env -u EMPROPS_API_BASE_URL "$MM_BIN/mm-discover" -w x
like "$(cat "$T/err")" "EMPROPS_API_BASE_URL" "naming the variable"
exit_is 2 "an unknown flag is a usage error" mm mm-discover --frobnicate
exit_is 2 "a bad -j is a usage error" mm mm-discover -j zero -w x
exit_is 0 "--help exits 0" mm mm-discover --help
like "$(cat "$T/out")" "^usage: mm-discover" "and prints usage on stdout"
exit_is 0 "EMPROPS_API_URL is an alias" env -u EMPROPS_API_BASE_URL EMPROPS_API_URL="$FIX_URL" \
	"$MM_BIN/mm-discover" -w upscale

# Unknown names and API errors: exit 3, naming them.
exit_is 3 "an unknown workflow is bad input" mm mm-discover -w no-such-flow
like "$(cat "$T/err")" "unknown workflow 'no-such-flow'" "naming the workflow"
exit_is 3 "an unknown collection is bad input" mm mm-discover -c no-such-coll
like "$(cat "$T/err")" "unknown collection 'no-such-coll'" "naming the collection"
is "$(wc -c < "$T/out")" 0 "nothing is printed on stdout when discovery fails"
api_workflow gone '[]'
printf '{"data":null,"error":"workflow is archived"}' > "$FIX_ROOT/workflows/name/gone"
exit_is 3 "an answer carrying an error is bad input" mm mm-discover -w gone
like "$(cat "$T/err")" "workflow is archived" "and the API's error is shown"

# The cache: API down, 5xx, offline.
exit_is 0 "with the API down, the cached answer is used" mm mm-discover --api http://127.0.0.1:1 -w txt2img-flux
like "$(cat "$T/err")" "warning: .*unreachable.*cached" "with a warning"
is "$(jqish "$T/out" 'len(m["models"])')" 2 "and the same models"
exit_is 4 "with the API down and nothing cached, exit 4" mm mm-discover --api http://127.0.0.1:1 -w never-seen
like "$(cat "$T/err")" "never-seen.*no answer is cached" "saying why"
fix_reset
fix_rule '{"path":"/workflows/name/upscale","status":503}'
exit_is 0 "a 503 storm falls back to the cache" mm mm-discover -w upscale
is "$(fix_count /workflows/name/upscale)" 3 "after three tries"
fix_reset
fix_rule '{"path":"/workflows/name/upscale","status":500,"times":1}'
exit_is 0 "one 500 is retried" mm mm-discover -w upscale
unlike "$(cat "$T/err")" "cached" "and the fresh answer is used, not the cache"
fix_reset
fix_rule '{"path":"/workflows/name/upscale","status":429,"retry_after":"0","times":1}'
exit_is 0 "a 429 is retried" mm mm-discover -w upscale
is "$(fix_count /workflows/name/upscale)" 2 "once"
fix_reset
exit_is 0 "--offline answers from the cache" mm mm-discover --offline -w txt2img-flux,upscale
is "$(fix_count /workflows/name/txt2img-flux)" 0 "without asking the API"
exit_is 4 "--offline with nothing cached is exit 4" mm mm-discover --offline -w never-seen
fix_rule '{"prefix":"/workflows/","gzip":true}'
exit_is 0 "a gzip-encoded answer is read" mm mm-discover -w txt2img-flux
is "$(fix_header /workflows/name/txt2img-flux accept-encoding)" "gzip" "gzip was asked for"
fix_reset

# Hostile answers: exit 3, nothing on stdout, nothing written outside the state dir.
hostile() {
	# hostile NAME BODY DESC
	printf '%s' "$2" > "$FIX_ROOT/workflows/name/$1"
	exit_is 3 "hostile answer refused: $3" mm mm-discover -w "$1"
	is "$(wc -c < "$T/out")" 0 "  and nothing on stdout ($3)"
}
hostile h1 'this is not json' "not JSON"
hostile h2 '{"data":"models","error":null}' "data of the wrong type"
hostile h3 '{"data":{"models":{"a":1}},"error":null}' "models not an array"
hostile h4 '{"data":{"models":[{"saveTo":"models/x"}]},"error":null}' "a model with no name"
hostile h5 '{"data":{"models":[{"name":"x","downloadUrl":"http://e/x","saveTo":"../../etc/x"}]},"error":null}' "saveTo ../../etc/x"
hostile h6 '{"data":{"models":[{"name":"x","downloadUrl":"http://e/x","saveTo":"/etc/passwd"}]},"error":null}' "saveTo /etc/passwd"
hostile h7 '{"data":{"models":[{"name":"x","downloadUrl":"http://e/x","saveTo":"models/./x"}]},"error":null}' "saveTo models/./x"
hostile h8 '{"data":{"models":[{"name":"x","downloadUrl":"http://e/x","saveTo":"models/x\u0000.txt"}]},"error":null}' "a NUL in saveTo"
hostile h9 '{"data":{"models":[7]},"error":null}' "a model that is a number"
hostile h10 '{"data":{"models":[{"name":"x","downloadUrl":"http://e/x","saveTo":"a\\b"}]},"error":null}' "a backslash in saveTo"
hostile h11 '[1,2,3]' "an array instead of an envelope"
api_workflow big '[]'
fix_rule '{"path":"/workflows/name/big","status":200,"body_size":52428800,"body_fill":"x"}'
exit_is 3 "a 50 MB answer is refused" mm mm-discover -w big
like "$(cat "$T/err")" "larger than" "saying it is too large"
fix_rule '{"path":"/workflows/name/redir","redirect":"file:///etc/passwd"}'
exit_is 3 "a redirect to file:///etc/passwd is refused" mm mm-discover -w redir
like "$(cat "$T/err")" "refused" "saying so"
fix_rule '{"path":"/workflows/name/loop","redirect":"/workflows/name/loop"}'
exit_is 3 "a redirect loop ends" mm mm-discover -w loop
fix_reset
is "$(find "$T" -path "$T/www" -prune -o -path "$T/state" -prune -o -type f -newer "$T/wf.json" -print | grep -v -e '/out$' -e '/err$' -e '/\.' | head -1)" "" \
	"no file was written outside the state directory"

# A conflict between two workflows: exit 3 naming both sources.
api_workflow other '[{"name":"ae2","downloadUrl":"http://example.com/other-ae","saveTo":"models/vae/ae.safetensors"}]'
exit_is 3 "two files for one saveTo is a conflict" mm mm-discover -w txt2img-flux,other
like "$(cat "$T/err")" "workflow:txt2img-flux.*workflow:other" "naming both sources"

# Interrupted while the API stalls: 143, and stdout holds no partial JSON.
fix_reset
fix_rule '{"path":"/workflows/name/upscale","stall_after":5,"stall_seconds":30,"times":1}'
"$MM_BIN/mm-discover" -w upscale > "$T/int.out" 2> "$T/int.err" &
pid=$!
track_pid "$pid"
fix_wait --bytes 5 /workflows/name/upscale
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM ends mm-discover with 143"
is "$(wc -c < "$T/int.out")" 0 "with nothing on stdout"
fix_reset

# JSON logs.
exit_is 4 "MM_LOG_FORMAT=json" env MM_LOG_FORMAT=json "$MM_BIN/mm-discover" --api http://127.0.0.1:1 -w nope
check "  writes one JSON object a line on stderr" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["level"] and o["prog"] == "mm-discover" and o["msg"]' "$T/err"

done_testing
