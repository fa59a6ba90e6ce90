#!/bin/sh
# mm-entrypoint's switches: MODEL_MANAGER_ENABLED=false goes straight to the
# command, nothing configured starts it with a notice, bad usage is refused
# before anything is downloaded, and a bad setting is a warning.
. tests/lib.sh
. tests/lib-entry.sh

entry_setup

MODEL_MANAGER_ENABLED=false boot 0 "MODEL_MANAGER_ENABLED=false runs the command"
check "the command ran" test -s "$T/comfy.pid"
is "$(fix_count)" 0 "no request"
check "nothing is written under MM_ROOT" test ! -e "$MM_ROOT"
is "$(rcli dbsize)" 0 "nothing in Redis"
like "$(cat "$T/boot.err")" 'MODEL_MANAGER_ENABLED=false' "it says why"
MODEL_MANAGER_ENABLED=false exit_is 0 "--wait returns at once when disabled" sh "$ENTRY" --wait --timeout 5

# The command's own arguments and exit status are untouched.
MODEL_MANAGER_ENABLED=false boot 3 "the command's exit status is kept" sh -c 'exit 3'
MODEL_MANAGER_ENABLED=false exit_is 0 "its arguments are kept" sh "$ENTRY" -- printf '%s|' a 'b c' --wait
is "$(cat "$T/out")" "a|b c|--wait|" "quoting and options after -- survive"

WORKFLOW_IDS='' boot 0 "nothing configured starts the command"
check "the command ran" test -s "$T/comfy.pid"
like "$(cat "$T/boot.err")" 'no models configured \(set WORKFLOW_IDS, COLLECTION_IDS or COMPONENTS\)' "with a notice naming the variables"
is "$(head -n 1 "$T/comfy.saw")" ready "after the ready marker"
is "$(fix_count)" 0 "no request"

exit_is 2 "no command" sh "$ENTRY"
like "$(cat "$T/err")" '^usage: mm-entrypoint' "prints the usage"
exit_is 2 "an unknown option" sh "$ENTRY" --bogus "$T/comfy"
exit_is 2 "--timeout without --wait" sh "$ENTRY" --timeout 3 "$T/comfy"
exit_is 2 "--timeout that is not a number" sh "$ENTRY" --wait --timeout soon
exit_is 2 "--wait with a command" sh "$ENTRY" --wait "$T/comfy"
exit_is 127 "a command that does not exist" sh "$ENTRY" "$T/no-such-comfy"
like "$(cat "$T/err")" 'no-such-comfy: command not found' "says so"
is "$(fix_count)" 0 "and nothing was asked of the API"
exit_is 0 "--help" sh "$ENTRY" --help
like "$(cat "$T/out")" '^usage: mm-entrypoint' "--help prints the usage on stdout"
exit_is 0 "--version" sh "$ENTRY" --version
like "$(cat "$T/out")" '^mm-entrypoint [0-9]+\.[0-9]+' "prints the version"

# Installed: the tools are found next to the script, PATH or not.
mkdir -p "$T/inst/bin"
cp "$ENTRY" "$MM_BIN/mm-discover" "$MM_BIN/mm-fetch" "$MM_BIN/mm-verify" "$MM_BIN/mm-report" "$T/inst/bin/"
PATH=/usr/bin:/bin exit_is 0 "an installed mm-entrypoint finds its tools next to it" \
	"$T/inst/bin/mm-entrypoint" "$T/comfy"
entry_track
is "$(head -n 1 "$T/comfy.saw")" ready "the command started after the models were ready"
check "with the models on disk" test -s "$MM_ROOT/models/vae/c.safetensors"

# A setting that is not understood is a warning: the command still starts.
MM_ON_FAILURE=ignore boot 0 "a bad MM_ON_FAILURE starts the command"
like "$(cat "$T/boot.err")" 'MM_ON_FAILURE is continue or abort' "names the variable"
MODEL_MANAGER_ENABLED=maybe boot 0 "a bad MODEL_MANAGER_ENABLED starts the command"
like "$(cat "$T/boot.err")" 'MODEL_MANAGER_ENABLED is true or false' "names the variable"
MM_ON_FAILURE=abort MODEL_MANAGER_ENABLED=maybe boot 2 "unless MM_ON_FAILURE is abort"

done_testing
