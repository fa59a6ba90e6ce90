#!/bin/sh
# mm-entrypoint's own log lines with MM_LOG_FORMAT=json are one JSON object
# a line whatever the message holds (a newline, a tab, a quote, a
# backslash, an escape character, a carriage return), and their time has
# milliseconds, or whole seconds where date has no %N: never a literal %3N.
. tests/lib.sh
ENTRY=$MM_TOP/scripts/mm-entrypoint
PATH=$MM_BIN:$PATH
export PATH MM_LOG_FORMAT=json

# Not a command: its name comes back in the error line.
name=$(printf 'no\nsuch "cmd"\t\\ \033[2J\r\001end')
exit_is 127 "a command that is not there" sh "$ENTRY" "$name"
cp "$T/err" "$T/say.err"
is "$(wc -l < "$T/say.err" | tr -d ' ')" 1 "one line on stderr"
check "it is JSON, with the message as it was" python3 -c '
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
o = json.loads(lines[0])
assert o["msg"] == sys.argv[2] + ": command not found", repr(o["msg"])
assert o["level"] == "error" and o["prog"] == "mm-entrypoint", o
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o["time"]
' "$T/say.err" "$name"

# A date without %N (busybox, BSD): whole seconds, still valid.
mkdir "$T/bin"
real=$(command -v date)
cat > "$T/bin/date" <<EOF2
#!/bin/sh
# date as it is where %N is not known: the directive comes out as it is.
for a; do shift; set -- "\$@" "\$(printf '%s' "\$a" | sed 's/%3N/%%3N/g; s/%N/%%N/g')"; done
exec "$real" "\$@"
EOF2
chmod +x "$T/bin/date"
PATH=$T/bin:$PATH exit_is 127 "the same with a date that has no %N" sh "$ENTRY" nosuchcmd
cp "$T/err" "$T/say.err"
check "the time is whole seconds, no %3N" python3 -c '
import json, re, sys
o = json.loads(open(sys.argv[1]).readline())
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["time"]), o["time"]
' "$T/say.err"
done_testing
