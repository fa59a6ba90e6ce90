#!/bin/sh
# One rule, one place: config.c is the only reader of the environment, and
# no library file but prologue.c (which a command calls) seeds rand() or
# sets a signal's disposition by itself.
. tests/lib.sh

# code FILE...: the files' C code without comments or string literals.
code() {
	awk '
	FNR == 1 { inc = 0 }
	{
		s = $0
		gsub(/'"'"'(\\.|[^\\'"'"'])'"'"'/, "0", s)
		gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
		out = ""
		while (s != "") {
			if (inc) { i = index(s, "*/"); if (!i) { s = ""; break } s = substr(s, i + 2); inc = 0; continue }
			i = index(s, "/*")
			if (!i) { out = out s; break }
			out = out substr(s, 1, i - 1); s = substr(s, i + 2); inc = 1
		}
		sub(/\/\/.*/, "", out)
		print FILENAME ": " out
	}' "$@"
}

cd "$MM_TOP" || exit 1
is "$(code lib/*.c cmd/*.c | grep -E '\b(secure_)?getenv *\(' | grep -v '^lib/config\.c: ')" "" \
	"only lib/config.c calls getenv"
is "$(code lib/*.c | grep -E '\bsrand *\(' | grep -v '^lib/prologue\.c: ')" "" \
	"only the prologue seeds rand()"
done_testing
