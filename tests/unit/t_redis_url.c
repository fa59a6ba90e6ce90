/* REDIS_URL parsing: every documented form, and what is refused. */
#include "log.h"
#include "redis.h"
#include "tap.h"

#include <stdlib.h>

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

int main(void)
{
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
#ifdef MM_HAVE_HIREDIS_SSL
	is_int(parse("rediss://h:6380"), 0, "rediss:// accepted with TLS support");
	ok(u.tls, "tls set");
#else
	is_int(parse("rediss://h:6380"), MM_EUSAGE, "rediss:// refused without TLS support");
	ok(strstr(err.msg, "TLS") != NULL, "message says TLS is missing: %s", err.msg);
#endif

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
