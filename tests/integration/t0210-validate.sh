#!/bin/sh
# mm-discover --validate: the example manifest of DESIGN.md is accepted and
# printed normalised; every bad input is refused with exit 3, every problem
# listed, nothing on stdout.
. tests/lib.sh

# The example of the design, as written there (ellipses and all).
cat > "$T/example.json" <<'EOF2'
{
  "timestamp": "2026-01-12T10:30:00Z",
  "source": {"workflow_ids": ["txt2img-flux"], "collection_ids": ["373617e1-…"], "components": []},
  "models": [
    {"name": "flux1-dev-fp8.safetensors",
     "downloadUrl": "https://huggingface.co/…/flux1-dev-fp8.safetensors",
     "saveTo": "models/unet/flux1-dev-fp8.safetensors",
     "fileSize": "17.2GB", "sizeBytes": 18468359372,
     "isAuthReq": true, "authEnvVar": "HF_TOKEN",
     "hash": "7fac5935ad7b22c0e9147b26ae3f890b",
     "source": "workflow:txt2img-flux",
     "sources": ["workflow:txt2img-flux", "collection:373617e1-…/workflow:txt2img-flux"]}
  ],
  "total_models": 1,
  "total_size_gb": 17.2
}
EOF2
exit_is 0 "the example manifest of the design is valid" mm mm-discover --validate "$T/example.json"
cp "$T/out" "$T/normalised.json"
check "  and is printed as JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/normalised.json"
is "$(json_get models.0.sizeBytes "$T/normalised.json") $(json_get total_size_gb "$T/normalised.json")" \
	"18468359372 17.2" "  with its sizes and totals intact"
exit_is 0 "it is read from stdin too" sh -c "'$MM_BIN/mm-discover' --validate < '$T/example.json'"
exit_is 0 "and from '-'" sh -c "'$MM_BIN/mm-discover' --validate - < '$T/example.json'"

# Each bad input on its own: exit 3, a message, nothing on stdout.
bad() {
	# bad DESC TEXT PATTERN
	printf '%s' "$2" > "$T/bad.json"
	exit_is 3 "refused: $1" mm mm-discover --validate "$T/bad.json"
	like "$(cat "$T/err")" "$3" "  saying why ($1)"
	is "$(wc -c < "$T/out")" 0 "  and printing nothing on stdout ($1)"
}
m() { printf '{"models":[%s]}' "$1"; }
bad "not JSON" 'this is not json' 'line 1, column 1'
bad "malformed JSON on line 3" '{
  "models": [
    {"name": "a",, "saveTo": "x"}]}' 'line 3, column'
bad "no models array" '{"data": []}' 'no "models" array'
bad "models of the wrong type" '{"models": "all"}' 'not an array'
bad "a model with missing fields" "$(m '{"downloadUrl":"http://e/x"}')" 'name is missing'
bad "saveTo ../../etc/x" "$(m '{"name":"x","saveTo":"../../etc/x"}')" "'\\.\\.' component"
bad "saveTo /etc/passwd" "$(m '{"name":"x","saveTo":"/etc/passwd"}')" 'absolute path'
bad "saveTo models/./x" "$(m '{"name":"x","saveTo":"models/./x"}')" "'\\.' component"
bad "a NUL in saveTo" "$(m '{"name":"x","saveTo":"models/x\u0000.txt"}')" 'NUL'
bad "a backslash in saveTo" "$(m '{"name":"x","saveTo":"models\\\\x"}')" 'backslash'
bad "an unknown hash" "$(m '{"name":"x","saveTo":"models/x","hash":"xyz"}')" 'hash'
bad "a size that is not one" "$(m '{"name":"x","saveTo":"models/x","fileSize":"huge"}')" 'fileSize'
bad "invalid UTF-8" "$(printf '{"models":[{"name":"\377","saveTo":"x"}]}')" 'UTF-8'
bad "two files for one saveTo" "$(m '{"name":"a","downloadUrl":"http://e/a","saveTo":"m/x","source":"workflow:one"},{"name":"b","downloadUrl":"http://e/b","saveTo":"m/x","source":"workflow:two"}')" \
	'workflow:one.*workflow:two'
bad "an empty file" '' 'empty'

# Several problems at once: every one is listed.
m '{"name":"a","saveTo":"../a"},{"saveTo":"/b"},{"name":"c","saveTo":"c","hash":"zz"}' > "$T/many.json"
exit_is 3 "a manifest with several problems" mm mm-discover --validate "$T/many.json"
is "$(grep -c 'models\[' "$T/err")" 4 "lists every problem, each naming its model"
like "$(cat "$T/err")" '4 problems found' "and counts them"

exit_is 2 "a missing file is a usage error" mm mm-discover --validate "$T/no-such.json"
exit_is 2 "two files are a usage error" mm mm-discover --validate "$T/example.json" "$T/example.json"

done_testing
