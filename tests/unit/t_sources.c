/*
 * Mirror templates (sources.h): expansion, encoding, and the templates
 * refused; the liars recorded for the fleet's counter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources.h"
#include "tap.h"

#define H "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expands(const char *tmpl, const char *name, const char *save_to, const char *want)
{
	struct mm_err err = { 0 };
	char *u = mm_mirror_expand(tmpl, H, name, save_to, &err);

	is_str(u, want, "%s", tmpl);
	free(u);
}

static void refused(const char *tmpl, const char *why)
{
	struct mm_err err = { 0 };
	char *u = mm_mirror_expand(tmpl, H, "n", "s", &err);

	ok(u == NULL && err.code == MM_EINPUT && strstr(err.msg, why), "%s: refused (%s)", tmpl, err.msg);
	free(u);
}

/* MM_MIRRORS as a whole: 0 or the code, and the message holds why. */
static void config(const char *spec, int want, const char *why)
{
	struct mm_sources *s = NULL;
	struct mm_err err = { 0 };
	int rc = mm_sources_new(spec, &s, &err);

	is_int(rc, want, "MM_MIRRORS='%s': %d", spec, want);
	if (want)
		ok(s == NULL && strstr(err.msg, why), "  says: %s", err.msg);
	mm_sources_free(s);
}

static void order(void)
{
	struct mm_sources *s = NULL;
	struct mm_source_list l;
	struct mm_err err = { 0 };

	ok(mm_sources_new(" https://m1.example/sha256/{sha256}\thttp://m2.example/by-name/{saveTo}?n={name} ",
			  &s, &err) == 0, "two mirrors, white space around");
	mm_sources_for(s, H, "a b", "models/loras/a b.safetensors", "https://origin.example/a", &l);
	is_int(l.n, 3, "two mirrors then the origin");
	if (l.n == 3) {
		is_str(l.v[0].url, "https://m1.example/sha256/" H, "mirror 1");
		is_str(l.v[0].label, "mirror 1", "its label");
		is_int(l.v[0].kind, MM_SOURCE_MIRROR, "its kind");
		is_int(l.v[0].mirror, 1, "its place");
		is_str(l.v[1].url, "http://m2.example/by-name/models/loras/a%20b.safetensors?n=a%20b", "mirror 2");
		is_str(l.v[2].url, "https://origin.example/a", "the origin last");
		is_int(l.v[2].kind, MM_SOURCE_ORIGIN, "its kind");
		is_str(l.v[2].label, "origin", "its label");
	}
	mm_source_list_free(&l);

	/* No sha256 known (md5, AutoV2): the origin alone. */
	mm_sources_for(s, NULL, "a", "models/a", "https://origin.example/a", &l);
	is_int(l.n, 1, "no sha256: the origin alone");
	is_int(l.n ? (int)l.v[0].kind : -1, MM_SOURCE_ORIGIN, "  and it is the origin");
	mm_source_list_free(&l);
	mm_sources_for(s, "abc", "a", "models/a", "https://origin.example/a", &l);
	is_int(l.n, 1, "a digest that is not a sha256: the origin alone");
	mm_source_list_free(&l);
	mm_sources_free(s);

	/* Without sources (NULL): the origin alone. */
	mm_sources_for(NULL, H, "a", "models/a", "https://origin.example/a", &l);
	is_int(l.n, 1, "no sources: the origin alone");
	mm_source_list_free(&l);

	/* Peers asked for but not looked up: none used. */
	ok(mm_sources_new(NULL, &s, &err) == 0, "no MM_MIRRORS");
	mm_sources_use_peers(s, NULL, "me", "tok", 120);
	is_str(mm_sources_peer_token(s), "tok", "the token for peers");
	mm_sources_for(s, H, "a", "models/a", "https://origin.example/a", &l);
	is_int(l.n, 1, "peers not looked up: the origin alone");
	mm_source_list_free(&l);
	mm_sources_free(s);
}

/* A source as fetch.c holds it: kind, label, and a peer's machine id. */
static struct mm_source src(enum mm_source_kind kind, const char *label, const char *peer)
{
	struct mm_source v = { 0 };

	v.kind = kind;
	v.label = (char *)label;
	v.peer = (char *)peer;
	return v;
}

/* mm_sources_blame records each lying peer once, mirrors and the origin never. */
static void liars(void)
{
	struct mm_sources *s = NULL;
	struct mm_err err = { 0 };
	struct mm_source p7 = src(MM_SOURCE_PEER, "peer gpu-7", "gpu-7");
	struct mm_source p9 = src(MM_SOURCE_PEER, "peer gpu-9", "gpu-9");
	struct mm_source m1 = src(MM_SOURCE_MIRROR, "mirror 1", NULL);
	struct mm_source o = src(MM_SOURCE_ORIGIN, "origin", NULL);
	struct mm_source anon = src(MM_SOURCE_PEER, "peer ?", NULL);
	struct mm_source empty = src(MM_SOURCE_PEER, "peer ", "");
	const char *const *v;
	size_t n = 99;

	is_int(mm_sources_blame(NULL, &p7), 0, "no sources: nothing recorded");
	v = mm_sources_liars(NULL, &n);
	ok(v == NULL && n == 0, "and none listed");
	ok(mm_sources_new(NULL, &s, &err) == 0, "sources");
	is_int(mm_sources_blame(s, NULL), 0, "no source: nothing recorded");
	mm_sources_liars(s, &n);
	is_int(n, 0, "none at first");
	is_int(mm_sources_blame(s, &p7), 1, "a peer is recorded");
	is_int(mm_sources_blame(s, &p7), 0, "once, however many files it spoiled");
	is_int(mm_sources_blame(s, &m1), 0, "a mirror has no machine id: not recorded");
	is_int(mm_sources_blame(s, &o), 0, "nor the origin");
	is_int(mm_sources_blame(s, &anon), 0, "nor a peer without an id");
	is_int(mm_sources_blame(s, &empty), 0, "nor one with an empty id");
	is_int(mm_sources_blame(s, &p9), 1, "a second peer");
	v = mm_sources_liars(s, &n);
	is_int(n, 2, "two recorded");
	if (n == 2) {
		is_str(v[0], "gpu-7", "the machine ids, in the order blamed");
		is_str(v[1], "gpu-9", "  the second");
	}

	/* Without peers (MM_PEERS=0, no REDIS_URL) nothing is sent, and that is no error. */
	is_int(mm_sources_report_liars(s, &err), 0, "peers off: nothing sent, 0");
	is_int(mm_sources_report_liars(NULL, &err), 0, "no sources: 0");
	mm_sources_free(s);

	/* Peers on, Redis out of reach: nothing recorded is nothing sent; a report lost says so. */
	ok(mm_sources_new(NULL, &s, &err) == 0, "sources");
	mm_sources_use_peers(s, "redis://127.0.0.1:1/0", "gpu-1", NULL, 120);
	is_int(mm_sources_report_liars(s, &err), 0, "no liars: no connection, 0");
	mm_sources_blame(s, &p7);
	mm_sources_blame(s, &p9);
	ok(mm_sources_report_liars(s, &err) != 0, "Redis out of reach: an error code");
	ok(strstr(err.msg, "cannot report 2 lying peers to Redis") != NULL, "  says: %s", err.msg);
	mm_sources_free(s);
}

int main(void)
{
	expands("https://m.example/sha256/{sha256}", "x", "y", "https://m.example/sha256/" H);
	expands("https://m.example/{name}", "flux dev/fp8+ü?#&%", "y",
		"https://m.example/flux%20dev%2Ffp8%2B%C3%BC%3F%23%26%25");
	expands("https://m.example/files/{saveTo}", "x", "models/unet/a b#c.safetensors",
		"https://m.example/files/models/unet/a%20b%23c.safetensors");
	expands("https://m.example/{sha256}/{name}?p={saveTo}", "n.bin", "m/n.bin",
		"https://m.example/" H "/n.bin?p=m/n.bin");
	expands("https://m.example/{sha256}{sha256}", "x", "y", "https://m.example/" H H);
	expands("https://m.example/{name}", "", "y", "https://m.example/");
	expands("https://m.example/{name}", "..", "y", "https://m.example/..");
	refused("https://m.example/{sha}", "unknown placeholder {sha}");
	refused("https://m.example/{SHA256}", "unknown placeholder {SHA256}");
	refused("https://m.example/{}", "unknown placeholder {}");
	refused("https://m.example/{sha256", "not closed");
	refused("https://m.example/{name}/{", "not closed");

	config(NULL, 0, "");
	config("", 0, "");
	config("   ", 0, "");
	config("https://m.example/sha256/{sha256} http://n.example/{name}", 0, "");
	config("https://m.example/{bogus}", MM_EUSAGE, "entry 1 an unknown placeholder {bogus}");
	config("https://m.example/{sha256} ftp://n.example/{sha256}", MM_EUSAGE, "entry 2 is not an http");
	config("{sha256}", MM_EUSAGE, "entry 1 is not an http");
	config("https://{name}.example/x", MM_EUSAGE, "placeholder before its path");
	config("https://m.example{sha256}", MM_EUSAGE, "placeholder before its path");
	config("https:///{sha256}", MM_EUSAGE, "has no host");
	config("https://m.example/static.bin", MM_EUSAGE, "names no file");
	config("https://m.example/{sha256}\"x", MM_EUSAGE, "a character a URL cannot");
	config("https://m.example/{sha256} https://user:secret@n.example/{nope}", MM_EUSAGE, "entry 2");
	{
		struct mm_sources *s = NULL;
		struct mm_err err = { 0 };

		mm_sources_new("https://user:secret@n.example/{nope}", &s, &err);
		ok(!strstr(err.msg, "secret"), "the message does not show the template: %s", err.msg);
	}
	is_str(mm_source_kind_name(MM_SOURCE_PEER), "peer", "kind names");
	is_str(mm_source_kind_name(MM_SOURCE_MIRROR), "mirror", "kind names");
	is_str(mm_source_kind_name(MM_SOURCE_ORIGIN), "origin", "kind names");
	order();
	liars();
	return done_testing();
}
