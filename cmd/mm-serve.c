/*
 * mm-serve — serve this machine's verified models, read-only, to fleet
 * peers over HTTP, and advertise the URL in the inventory while it runs.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "manifest.h"
#include "mm.h"
#include "prologue.h"
#include "redis.h"
#include "serve.h"

/* Seconds between rescans of MM_ROOT (and renewals of the advertisement). */
#define RESCAN_SECONDS 30

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm-serve [-qv] [--listen ADDR:PORT] [--machine-id ID]\n"
		"\n"
		"      --listen ADDR:PORT  where to listen (MM_SERVE_LISTEN; default %s)\n"
		"      --machine-id ID     the inventory entry to advertise in (MACHINE_ID)\n"
		"  -q, --quiet             errors only\n"
		"  -v, --verbose           every request on stderr\n"
		"  -h, --help              this help\n"
		"  -V, --version           print the version\n"
		"\n"
		"Limits: MM_SERVE_RATE (bytes/s, e.g. 50M), MM_SERVE_CONNECTIONS (%d),\n"
		"MM_SERVE_PER_CLIENT (%d), MM_SERVE_TIMEOUT (%d s); MM_SERVE_TOKEN: the bearer\n"
		"secret peers must send; MM_SERVE_URL: the URL to advertise.\n",
		MM_SERVE_DEFAULT_LISTEN, MM_SERVE_DEFAULT_CONNS, MM_SERVE_DEFAULT_PER_CLIENT,
		MM_SERVE_DEFAULT_TIMEOUT);
}

static void on_event(void *cls, const struct mm_serve_event *ev)
{
	if (mm_log_get_level() < MM_LOG_DEBUG)
		return;
	/* Never the headers: the bearer token is one of them. */
	mm_debugf("%s %s %s %d %llu", ev->client, ev->method, ev->url, ev->status,
		(unsigned long long)ev->bytes);
}

/*
 * The address peers reach this machine at when it listens on every
 * address: the one the kernel would send from toward the Redis server
 * (127.0.0.1 for a Unix socket), else the host name.
 */
static char *reachable_host(const char *redis_url, int v6)
{
	struct mm_redis_url u = { 0 };
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN], port[16], host[256];
	char *out = NULL;
	int fd;

	if (mm_redis_url_parse(redis_url, &u, NULL) == 0) {
		if (u.is_unix) {
			out = mm_xstrdup(v6 ? "[::1]" : "127.0.0.1");
		} else {
			snprintf(port, sizeof(port), "%d", u.port);
			hints.ai_family = v6 ? AF_INET6 : AF_INET;
			hints.ai_socktype = SOCK_DGRAM;
			if (getaddrinfo(u.host, port, &hints, &ai) == 0) {
				fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
				    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
					if (ss.ss_family == AF_INET &&
					    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a)))
						out = mm_xstrdup(a);
					else if (ss.ss_family == AF_INET6 &&
						 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a)))
						out = mm_xasprintf("[%s]", a);
				}
				if (fd >= 0)
					close(fd);
				freeaddrinfo(ai);
			}
		}
	}
	mm_redis_url_free(&u);
	if (!out && gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		out = mm_xstrdup(host);
	}
	return out ? out : mm_xstrdup("localhost");
}

static char *advertised_url(const struct mm_server *s, const char *redis_url)
{
	const char *u = mm_env("MM_SERVE_URL", NULL);
	const char *addr = mm_server_address(s), *port;
	char *host, *url;

	if (u)
		return mm_xstrdup(u);
	if (!mm_server_wildcard(s))
		return mm_xasprintf("http://%s", addr);
	port = strrchr(addr, ':');
	host = reachable_host(redis_url, addr[0] == '[');
	url = mm_xasprintf("http://%s%s", host, port);
	free(host);
	return url;
}

/* Advertise (again), connecting first when there is no connection. */
static void advertise(struct mm_redis **r, const char *redis_url, const struct mm_redis_opts *ro,
	const char *id, const char *url, int *said)
{
	struct mm_err err = { 0 };

	if (!*r && mm_redis_connect(redis_url, ro, r, &err) != 0) {
		if (!*said)
			mm_warnf("%s; serving without advertising, trying again every %d s", err.msg,
				RESCAN_SECONDS);
		*said = 1;
		return;
	}
	if (mm_serve_advertise(*r, id, url, &err) != 0) {
		mm_warnf("cannot advertise: %s", err.msg);
		mm_redis_close(*r);
		*r = NULL;
		*said = 1;
		return;
	}
	if (*said)
		mm_infof("advertised %s for machine %s in %s", url, id, mm_redis_address(*r));
	*said = 0;
}

static int env_limit(const char *name, long max, unsigned *out)
{
	struct mm_err err = { 0 };
	long v = (long)*out;

	if (mm_env_long(name, 1, max, &v, &err) != 0) {
		mm_errorf("%s", err.msg);
		return MM_EUSAGE;
	}
	*out = (unsigned)v;
	return 0;
}

/* The options and the environment into o and *id: 0 to go on, 1 to exit with *rc. */
static int configure(int argc, char **argv, struct mm_serve_opts *o, const char **id,
	char *host, size_t hostsz, int *rc)
{
	enum { OPT_LISTEN = 256, OPT_MACHINE };
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"machine-id", required_argument, NULL, OPT_MACHINE},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *rate;
	int c;

	*rc = MM_EUSAGE;
	o->listen = mm_env("MM_SERVE_LISTEN", NULL);
	while ((c = getopt_long(argc, argv, "hqVv", longopts, NULL)) != -1) {
		if (mm_prologue_option(c, usage, rc))
			return 1;
		switch (c) {
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_MACHINE: *id = optarg; break;
		}
	}
	if (optind < argc) {
		mm_errorf("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 1;
	}
	rate = mm_env("MM_SERVE_RATE", NULL);
	if (rate) {
		o->rate = mm_parse_size(rate);
		if (o->rate < 0) {
			mm_errorf("MM_SERVE_RATE takes bytes per second like 50M or 500K, not '%s'", rate);
			return 1;
		}
	}
	o->max_conns = MM_SERVE_DEFAULT_CONNS;
	o->per_client = MM_SERVE_DEFAULT_PER_CLIENT;
	o->timeout = MM_SERVE_DEFAULT_TIMEOUT;
	if (env_limit("MM_SERVE_CONNECTIONS", 65536, &o->max_conns) ||
	    env_limit("MM_SERVE_PER_CLIENT", 65536, &o->per_client) ||
	    env_limit("MM_SERVE_TIMEOUT", 86400, &o->timeout))
		return 1;
	o->token = mm_env("MM_SERVE_TOKEN", NULL);
	if (o->token)
		mm_log_secret(o->token);
	if (!*id)
		*id = mm_env("MACHINE_ID", NULL);
	if (!*id && gethostname(host, hostsz) == 0) {
		host[hostsz - 1] = '\0';
		*id = host;
	}
	if (!*id || !**id) {
		mm_errorf("no machine id: set MACHINE_ID or use --machine-id");
		return 1;
	}
	*rc = 0;
	return 0;
}

/* What main holds while it serves. */
struct serving {
	struct mm_server *s;
	struct mm_redis *r;          /* NULL: not advertised (yet) */
	struct mm_redis_opts ro;
	const char *redis_url, *id;
	char *url;                   /* what peers are told */
	int said;                    /* a failure to advertise was said */
};

/* Say what is served, and advertise it where there is a Redis. */
static void announce(struct serving *sv, const struct mm_serve_opts *o)
{
	struct mm_err err = { 0 };
	size_t files = 0;

	if (mm_server_refresh(sv->s, &files, &err) != 0)
		mm_warnf("%s", err.msg);
	mm_infof("serving %zu verified files from %s on http://%s%s%s", files, o->root,
		mm_server_address(sv->s), o->token ? " (bearer token required)" : "",
		o->rate > 0 ? " (rate limited)" : "");
	sv->url = advertised_url(sv->s, sv->redis_url);
	if (sv->redis_url)
		advertise(&sv->r, sv->redis_url, &sv->ro, sv->id, sv->url, &sv->said);
	else
		mm_infof("REDIS_URL is not set: serving without advertising %s", sv->url);
	if (!sv->r && sv->redis_url)
		sv->said = 1;
	else if (sv->r)
		mm_infof("advertised %s for machine %s in %s", sv->url, sv->id, mm_redis_address(sv->r));
}

/*
 * Rescan every RESCAN_SECONDS or on SIGHUP, advertising again, until
 * SIGTERM or SIGINT, which it returns.
 */
static int serve_until_signal(struct serving *sv, const sigset_t *set)
{
	struct mm_err err = { 0 };
	time_t next = time(NULL) + RESCAN_SECONDS;
	size_t files = 0;

	for (;;) {
		struct timespec ts = { 1, 0 };
		int sig = sigtimedwait(set, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig != SIGHUP && time(NULL) < next)
			continue;
		if (mm_server_refresh(sv->s, &files, &err) != 0)
			mm_warnf("%s", err.msg);
		else
			mm_debugf("serving %zu verified files", files);
		if (sv->redis_url)
			advertise(&sv->r, sv->redis_url, &sv->ro, sv->id, sv->url, &sv->said);
		next = time(NULL) + RESCAN_SECONDS;
	}
}

int main(int argc, char **argv)
{
	struct mm_serve_opts o = { 0 };
	struct serving sv = { 0 };
	struct mm_err err = { 0 };
	char host[256], *state_dir = NULL;
	sigset_t set;
	int rc;

	mm_prologue_init(argv[0]);
	if (configure(argc, argv, &o, &sv.id, host, sizeof(host), &rc))
		return rc;
	sv.redis_url = mm_config_redis_url();
	if (mm_redis_opts_from_env(&sv.ro, &err) != 0) {
		mm_errorf("%s", err.msg);
		return MM_EUSAGE;
	}
	o.root = mm_config_root();
	state_dir = mm_config_state_dir(o.root);
	o.state_dir = state_dir;
	o.on_event = on_event;

	/* Signals are taken by sigtimedwait() below; every thread started after this blocks them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	rc = mm_server_start(&o, &sv.s, &err);
	if (rc) {
		mm_errorf("%s", err.msg);
		goto out;
	}
	announce(&sv, &o);
	rc = serve_until_signal(&sv, &set) == SIGINT ? MM_EINT : MM_ETERM;
	/* Out of the inventory first, so no peer is sent here while it stops. */
	if (sv.r) {
		if (mm_serve_withdraw(sv.r, sv.id, sv.url, &err) != 0)
			mm_warnf("cannot withdraw %s: %s", sv.url, err.msg);
		else
			mm_infof("withdrew %s", sv.url);
	}
out:
	mm_server_stop(sv.s);
	mm_redis_close(sv.r);
	free(sv.url);
	free(state_dir);
	return rc;
}
