/* REDIS_URL parsing: every documented form, and what is refused. */
#include "log.h"
#include "redis.h"
#include "tap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mm_redis_url u;
static struct mm_err err;

static int parse(const char *url)
{
	mm_redis_url_free(&u);
	memset(&err, 0, sizeof(err));
	return mm_redis_url_parse(url, &u, &err);
}

static void display_is(const char *url, const char *want)
{
	char *d;

	if (parse(url)) {
		ok(0, "display of %s (parse failed: %s)", url, err.msg);
		return;
	}
	d = mm_redis_url_display(&u);
	is_str(d, want, "display of %s", url);
	free(d);
}


/* No run of 3 or more bytes of secret is in text. */
static int has_fragment(const char *text, const char *secret)
{
	size_t n = strlen(secret), i;
	char frag[4];

	for (i = 0; i + 3 <= n; i++) {
		memcpy(frag, secret + i, 3);
		frag[3] = '\0';
		if (strstr(text, frag))
			return 1;
	}
	return 0;
}

/*
 * Passwords with every character that delimits a URL, and base64 ones;
 * each is written into URLs as it is, with only '%' encoded (as %25).
 */
static const char *const passwords[] = {
	"ab3/Xyz9Secret",
	"12/TopSecretPart",
	"Qw7?Er5#Ty3@Ui9:Op1%As2",
	"Zx8@@Cv6//Bn4??Mk2##",
	"Lp0:Ko9:Ji8@Hu7/",
	"kT3vR9+Yq2Hw/Lz8Xn4Jc6/Pd1Gf5Bs7Ue0Wm==",
	"7Hq/Rk2+Vt9/Nc4+Yw6/Ld8+Fs1/Gb3+Ma5/Ze0=",
	"/Sl4Dk5Fj6",
	"Wn3Eb4Rv5?",
	"%Gh2Jk3Lm4%25",
	NULL,
};

/* pw with '%' written %25, as it goes into a URL. */
static char *pw_raw(const char *pw)
{
	char *out = mm_xmalloc(3 * strlen(pw) + 1), *o = out;

	for (; *pw; pw++) {
		if (*pw == '%') {
			memcpy(o, "%25", 3);
			o += 3;
		} else {
			*o++ = *pw;
		}
	}
	*o = '\0';
	return out;
}

/* pw with every byte but letters and digits percent-encoded. */
static char *pw_encoded(const char *pw)
{
	char *out = mm_xmalloc(3 * strlen(pw) + 1), *o = out;

	for (; *pw; pw++) {
		if (isalnum((unsigned char)*pw))
			*o++ = *pw;
		else
			o += sprintf(o, "%%%02X", (unsigned char)*pw);
	}
	*o = '\0';
	return out;
}

static void password_forms(const char *pw)
{
	char *raw = pw_raw(pw), *enc = pw_encoded(pw), *url;

	url = mm_xasprintf("redis://:%s@cache.internal:6380/3", raw);
	if (ok(parse(url) == 0, "password %s as it is, no user", pw)) {
		is_str(u.password, pw, "password %s read whole", pw);
		is_str(u.host, "cache.internal", "host after the password %s", pw);
		is_int(u.port, 6380, "port after the password %s", pw);
		is_int(u.db, 3, "db after the password %s", pw);
	} else {
		printf("#   %s\n", err.msg);
	}
	free(url);
	url = mm_xasprintf("redis://default:%s@127.0.0.1:6399/0", raw);
	if (ok(parse(url) == 0, "password %s as it is, with a user", pw)) {
		is_str(u.user, "default", "user before the password %s", pw);
		is_str(u.password, pw, "password %s read whole after a user", pw);
		is_int(u.port, 6399, "port after user:%s", pw);
	} else {
		printf("#   %s\n", err.msg);
	}
	free(url);
	/* One word before the '@' is a password, unless it holds a ':'. */
	url = mm_xasprintf(strchr(pw, ':') ? "redis://:%s@h?db=2" : "redis://%s@h?db=2", raw);
	if (ok(parse(url) == 0, "password %s alone before the @, with ?db=", pw)) {
		is_str(u.password, pw, "one word %s is the password", pw);
		is_int(u.db, 2, "?db= after the password %s", pw);
	}
	free(url);
	url = mm_xasprintf("redis://w:%s@[::1]:7000/5", enc);
	if (ok(parse(url) == 0, "password %s percent-encoded", pw))
		is_str(u.password, pw, "password %s percent-decoded", pw);
	free(url);
	url = mm_xasprintf("unix://:%s@/run/redis/r.sock?db=4", raw);
	if (ok(parse(url) == 0, "password %s in a unix:// URL", pw)) {
		is_str(u.password, pw, "unix password %s read whole", pw);
		is_str(u.path, "/run/redis/r.sock", "socket path after the password %s", pw);
		is_int(u.db, 4, "unix db after the password %s", pw);
	}
	free(url);
	free(raw);
	free(enc);
}

/* A URL with pw in it that is wrong elsewhere: refused, no part of pw said. */
struct around {
	const char *pre, *post;
};

static const struct around malformed[] = {
	{"redis://:", "@h:12ab"},
	{"redis://:", "@h:99999/0"},
	{"redis://u:", "@h:6379/x1"},
	{"redis://u:", "@h:6379/0?db=zz"},
	{"redis://u:", "@h:6379/0?timeout=3"},
	{"redis://u:", "@[::1:6379"},
	{"redis://u:", "@[::1]x:6379"},
	{"redis://u:", "@bad host:6379"},
	{"redis://u:", "%zz@h"},
	{"redis://u:", "%4@h"},
	{"redis://u:", "%00@h"},
	{"unix://:", "@relative/path"},
	{"unix://u:", "@/"},
	{"unix://:", "@/tmp/s%zz"},
	{"unix://u:", "@/tmp/s?db=-1"},
	{NULL, NULL},
};

static void no_leak(const struct around *a, const char *pw)
{
	char *raw = pw_raw(pw), *url = mm_xasprintf("%s%s%s", a->pre, raw, a->post);

	is_int(parse(url), MM_EUSAGE, "refused: %s…%s", a->pre, a->post);
	if (!ok(!has_fragment(err.msg, pw), "no part of password %s in: %s", pw, err.msg))
		printf("#   url: %s\n", url);
	free(url);
	free(raw);
}

int main(void)
{
	const char *const *pw;
	const struct around *a;
	char *d;

	is_int(parse(NULL), 0, "no URL means the default");
	is_str(u.host, "127.0.0.1", "default host");
	is_int(u.port, 6379, "default port");
	is_int(u.db, 0, "default db");
	ok(!u.is_unix && !u.user && !u.password, "default has no socket, user or password");

	is_int(parse("redis://cache.internal:6380/3"), 0, "host, port, db");
	is_str(u.host, "cache.internal", "host");
	is_int(u.port, 6380, "port");
	is_int(u.db, 3, "db from the path");

	is_int(parse("redis://cache.internal"), 0, "host alone");
	is_int(u.port, 6379, "port defaults to 6379");
	is_int(u.db, 0, "db defaults to 0");

	is_int(parse("redis://:s3cret@h:1/2"), 0, "password without user");
	ok(u.user == NULL, "no user");
	is_str(u.password, "s3cret", "password");

	is_int(parse("redis://worker:p%40ss%3Aw%2Frd@h/0"), 0, "ACL user and percent-encoded password");
	is_str(u.user, "worker", "user");
	is_str(u.password, "p@ss:w/rd", "password percent-decoded");

	is_int(parse("redis://us%65r:pw@h"), 0, "percent-encoded user");
	is_str(u.user, "user", "user percent-decoded");

	is_int(parse("redis://onlypass@h"), 0, "one word before @ is a password");
	is_str(u.password, "onlypass", "password");

	is_int(parse("redis://[::1]:7000/5"), 0, "IPv6 host with port");
	is_str(u.host, "::1", "IPv6 host without brackets");
	is_int(u.port, 7000, "IPv6 port");
	is_int(u.db, 5, "IPv6 db");

	is_int(parse("redis://[fe80::1]"), 0, "IPv6 host without port");
	is_int(u.port, 6379, "IPv6 default port");

	is_int(parse("redis://h:6379?db=4"), 0, "db as a query parameter");
	is_int(u.db, 4, "db from ?db=");

	is_int(parse("unix:///run/redis/redis.sock"), 0, "unix socket");
	ok(u.is_unix, "is_unix");
	is_str(u.path, "/run/redis/redis.sock", "socket path");

	is_int(parse("unix:///tmp/r.sock?db=2"), 0, "unix socket with db");
	is_int(u.db, 2, "unix db");

	is_int(parse("unix://app:pw@/tmp/r.sock"), 0, "unix socket with credentials");
	is_str(u.user, "app", "unix user");
	is_str(u.password, "pw", "unix password");
	is_str(u.path, "/tmp/r.sock", "unix path after credentials");

	is_int(parse("REDIS://H:1"), 0, "scheme is case-insensitive");

	is_int(parse("redis://h:0"), MM_EUSAGE, "port 0 refused");
	ok(strstr(err.msg, "port") != NULL, "message names the port: %s", err.msg);
	is_int(parse("redis://h:65536"), MM_EUSAGE, "port 65536 refused");
	is_int(parse("redis://h:12ab"), MM_EUSAGE, "non-numeric port refused");
	is_int(parse("redis://h:6379/x"), MM_EUSAGE, "non-numeric db refused");
	is_int(parse("redis://h:6379/-1"), MM_EUSAGE, "negative db refused");
	is_int(parse("redis://h?timeout=3"), MM_EUSAGE, "unknown parameter refused");
	ok(strstr(err.msg, "timeout") != NULL, "message names the parameter: %s", err.msg);
	is_int(parse("redis://[::1:6379"), MM_EUSAGE, "unterminated IPv6 bracket refused");
	is_int(parse("redis://u:%zz@h"), MM_EUSAGE, "bad percent-escape refused");
	ok(strstr(err.msg, "%zz") == NULL, "the bad password is not in the message");
	is_int(parse("redis://u:%4@h"), MM_EUSAGE, "truncated percent-escape refused");
	is_int(parse("redis://u:a%00b@h"), MM_EUSAGE, "encoded NUL refused");
	is_int(parse("http://h:6379"), MM_EUSAGE, "other schemes refused");
	ok(strstr(err.msg, "http") != NULL, "message names the scheme: %s", err.msg);
	is_int(parse("localhost:6379"), MM_EUSAGE, "a bare host:port is not a URL");
	is_int(parse("unix://"), MM_EUSAGE, "unix:// without a path refused");
	is_int(parse("unix://host/path"), MM_EUSAGE, "unix:// with a host refused");
	is_int(parse("redis://user:@h"), MM_EUSAGE, "user with an empty password refused");
	is_int(parse("rediss://h:6380"), 0, "rediss:// accepted");
	ok(u.tls, "tls set");
	is_int(u.port, 6380, "with its port");
	is_int(parse("rediss://u:pw@h"), 0, "rediss:// with user and password");
	ok(u.tls && u.port == 6379, "tls set, the default port");
	display_is("rediss://u:pw@h", "rediss://u@h:6379/0");

	/* The userinfo ends at the last '@': a password holds any character. */
	for (pw = passwords; *pw; pw++)
		password_forms(*pw);
	for (pw = passwords; *pw; pw++)
		for (a = malformed; a->pre; a++)
			no_leak(a, *pw);
	is_int(parse("redis://:ab3/Xyz9Secret@h:6379"), 0, "the issue's first URL parses");
	is_int(u.port, 6379, "with the port after the @");
	is_int(parse("redis://default:12/TopSecretPart@127.0.0.1:6399/0"), 0, "the issue's second URL parses");
	is_str(u.host, "127.0.0.1", "with the host after the last @");
	is_int(parse("redis://h:6379/TopSecretDb"), MM_EUSAGE, "a bad db is refused");
	ok(strstr(err.msg, "database") && !strstr(err.msg, "TopSecret"),
	   "the message names the database, not the value: %s", err.msg);
	is_int(parse("unix:///tmp/a@b.sock"), 0, "an @ in a socket path without credentials");
	is_str(u.path, "/tmp/a@b.sock", "is part of the path");
	is_int(parse("unix://:pw12@/tmp/a%40b.sock"), 0, "after credentials it is written %%40");
	is_str(u.path, "/tmp/a@b.sock", "and decoded");

	display_is("redis://worker:topsecret@h:1/2", "redis://worker@h:1/2");
	display_is("redis://:topsecret@h", "redis://h:6379/0");
	display_is("redis://[::1]:7000/5", "redis://[::1]:7000/5");
	display_is("unix:///tmp/r.sock?db=2", "unix:///tmp/r.sock?db=2");

	parse("redis://:hunter22@h");
	d = mm_redact("auth with hunter22 failed");
	ok(strstr(d, "hunter22") == NULL, "the parsed password is masked in logs: %s", d);
	free(d);

	mm_redis_url_free(&u);
	return done_testing();
}
