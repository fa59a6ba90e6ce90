# shellcheck shell=sh
# tests/lib-entry.sh — a machine for the mm-entrypoint tests, sourced after
# tests/lib.sh: the fixture API with one workflow of three models (one needs
# HF_TOKEN, one is redirected to another host), a redis-server, and a
# stand-in for ComfyUI.

for _b in mm-discover mm-fetch mm-verify mm-report; do
	[ -x "$MM_BIN/$_b" ] || skip_all "$_b is not built"
done
ENTRY=$MM_TOP/scripts/mm-entrypoint
PATH=$MM_BIN:$PATH
export PATH

# entry_setup: the fixture, the catalog, redis, and the environment.
entry_setup() {
	start_fixture
	start_redis
	make_file files/a.safetensors 300000
	make_file files/b.safetensors 200000
	make_file files/c.safetensors 100000
	entry_rules
	api_workflow wf "[
	 {\"name\": \"a.safetensors\", \"downloadUrl\": \"$FIX_URL/files/a.safetensors\",
	  \"saveTo\": \"models/checkpoints/a.safetensors\", \"fileSize\": 300000,
	  \"hash\": \"sha256:$(sha256_of "$FIX_ROOT/files/a.safetensors")\"},
	 {\"name\": \"b.safetensors\", \"downloadUrl\": \"$FIX_URL/files/b.safetensors\",
	  \"saveTo\": \"models/loras/b.safetensors\", \"fileSize\": 200000,
	  \"isAuthReq\": true, \"authEnvVar\": \"HF_TOKEN\",
	  \"hash\": \"$(md5_of "$FIX_ROOT/files/b.safetensors")\"},
	 {\"name\": \"c.safetensors\", \"downloadUrl\": \"$FIX_URL/files/c.safetensors\",
	  \"saveTo\": \"models/vae/c.safetensors\", \"fileSize\": 100000,
	  \"hash\": \"$(sha256_of "$FIX_ROOT/files/c.safetensors")\"}]"
	EMPROPS_API_BASE_URL=$FIX_URL WORKFLOW_IDS=wf MM_ROOT=$T/root
	MM_STATE_DIR=$T/root/.mm MACHINE_ID=test-machine HF_TOKEN=hf_entry_secret
	export EMPROPS_API_BASE_URL WORKFLOW_IDS MM_ROOT MM_STATE_DIR MACHINE_ID HF_TOKEN
	# The fixture stands in for Hugging Face, over plain http.
	HF_ENDPOINT=$FIX_URL MM_ALLOW_HTTP_AUTH=1
	export HF_ENDPOINT MM_ALLOW_HTTP_AUTH
}

# entry_rules: the token and the redirect (again after fix_reset).
entry_rules() {
	fix_rule '{"path": "/files/b.safetensors", "require_token": "hf_entry_secret"}'
	fix_rule "{\"path\": \"/files/c.safetensors\", \"host\": \"127.0.0.1\",
		\"redirect\": \"http://127.0.0.2:{alt_port}/files/c.safetensors\"}"
}

# The stand-in for ComfyUI: it notes its pid, whether the ready marker and
# the models were there when it started, then runs until SIGTERM (exit 42)
# or for $COMFY_SECONDS (default: at once, exit 0).
cat > "$T/comfy" <<'EOS'
#!/bin/sh
# What it saw is complete before its pid appears: tests wait for the pid.
{
	[ -e "$MM_STATE_DIR/ready" ] && echo "ready"
	cd "$MM_ROOT" 2>/dev/null && find models -type f ! -name '.*' | sort
} > "$T/comfy.saw.tmp"
mv "$T/comfy.saw.tmp" "$T/comfy.saw"
echo $$ > "$T/comfy.pid.tmp"
mv "$T/comfy.pid.tmp" "$T/comfy.pid"
trap 'echo TERM > "$T/comfy.term"; exit 42' TERM
i=0
while [ "$i" -lt "${COMFY_SECONDS:-0}0" ]; do
	sleep 0.1
	i=$((i + 1))
done
exit 0
EOS
chmod +x "$T/comfy"
export T

# entry_track: stop the heartbeat watcher of this state directory when the
# test ends.
entry_track() {
	for _f in "$MM_STATE_DIR"/watch-*.pid; do
		[ -s "$_f" ] && track_pid "$(cat "$_f")"
	done
	return 0
}

# boot WANT DESC [ARG…]: run mm-entrypoint (ARGs, or the stand-in) expecting
# exit WANT; its stderr is kept in $T/boot.err.
boot() {
	_want=$1 _desc=$2
	shift 2
	[ $# -gt 0 ] || set -- "$T/comfy"
	rm -f "$T/comfy.pid" "$T/comfy.saw"
	exit_is "$_want" "$_desc" sh "$ENTRY" "$@"
	cp "$T/err" "$T/boot.err"
	entry_track
}
