/* t_state.c — the state directory: made 0700, refused when lax or not ours, never followed out of. */
#include "tap.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Not the running user: tests run as root, so a co-tenant is nobody. */
#define OTHER 65534

static char dir[] = "/tmp/t_state.XXXXXX";

static char *at(const char *rel)
{
	return mm_xasprintf("%s/%s", dir, rel);
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

/* The bytes of a file, or "" (caller frees). */
static char *slurp(const char *path)
{
	char *buf = mm_xcalloc(1, 4096);
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		if (read(fd, buf, 4095) < 0)
			buf[0] = '\0';
		close(fd);
	}
	return buf;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		printf("# cannot write %s\n", path);
	close(fd);
}

/* Open path; the code, and the message in msg. */
static int try_open(const char *path, int create, char *msg)
{
	struct mm_err err = { 0 };
	struct mm_state s;
	int rc = mm_state_open(&s, path, create, &err);

	strcpy(msg, rc ? err.msg : "");
	if (rc == 0)
		mm_state_close(&s);
	else if (s.fd != -1)
		printf("# a failed open left a descriptor\n");
	return rc;
}

static void test_create(void)
{
	char *p = at("fresh/nested/.mm"), *q, msg[MM_ERRSZ];
	struct mm_err err = { 0 };
	struct mm_state s;
	int fd;

	is_int(try_open(p, 0, msg), MM_EFAIL, "a missing state directory is not made without create");
	is_int(mm_state_open(&s, p, 1, &err), 0, "a missing state directory is made");
	is_int(mode_of(p), 0700, "with mode 0700");
	q = at("fresh/nested");
	is_int(mode_of(q), 0755, "its missing parents 0755");
	free(q);
	fd = mm_state_subdir(&s, "quarantine/models/loras", 1, &err);
	ok(fd >= 0, "folders beneath it are made");
	if (fd >= 0)
		close(fd);
	q = at("fresh/nested/.mm/quarantine/models/loras");
	is_int(mode_of(q), 0700, "each 0700");
	free(q);
	fd = mm_state_subdir(&s, "quarantine/models/loras", 0, &err);
	ok(fd >= 0, "and opened again when they exist");
	if (fd >= 0)
		close(fd);
	mm_state_close(&s);
	is_int(try_open(p, 1, msg), 0, "a state directory of ours opens again");
	chmod(p, 0755);
	is_int(try_open(p, 1, msg), 0, "0755 is fine: only writable by others is refused, as ssh does");
	free(p);
}

static void test_lax(void)
{
	char *p = at("lax"), want[MM_ERRSZ], msg[MM_ERRSZ];

	mkdir(p, 0700);
	chmod(p, 0777);
	snprintf(want, sizeof(want),
		"state directory '%s' is writable by others (mode 0777); run: chmod 700 '%s'", p, p);
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a world-writable state directory is refused");
	is_str(msg, want, "saying how to fix it");
	chmod(p, 0770);
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a group-writable one too");
	chmod(p, 01777);
	is_int(try_open(p, 1, msg), MM_EUSAGE, "sticky or not");
	chmod(p, 0700);
	if (chown(p, OTHER, OTHER) != 0)
		printf("# chown: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "one owned by another uid is refused");
	ok(strstr(msg, "owned by uid 65534") && strstr(msg, "mv '"),
		"naming the owner and how to fix it: %s", msg);
	free(p);
	p = at("afile");
	put(p, "x");
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a file where the state directory should be is refused");
	free(p);
}

static void test_links(void)
{
	char *p = at("link"), *t = at("target"), *lax = at("laxtarget"), msg[MM_ERRSZ];

	mkdir(t, 0700);
	if (symlink(t, p) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), 0, "a state directory that is our own symlink to our folder opens");
	if (lchown(p, OTHER, OTHER) != 0)
		printf("# lchown: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a symlink owned by another uid is refused");
	ok(strstr(msg, "is a symlink owned by uid 65534") != NULL, "saying so: %s", msg);
	unlink(p);
	mkdir(lax, 0700);
	chmod(lax, 0777);
	if (symlink("laxtarget", p) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "our symlink to a lax folder is refused");
	ok(strstr(msg, lax) != NULL, "naming the folder: %s", msg);
	unlink(p);
	if (symlink("missing-target", p) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), 0, "our dangling symlink: its target is made");
	free(t);
	t = at("missing-target");
	is_int(mode_of(t), 0700, "mode 0700");
	free(t);
	free(lax);
	free(p);
}

static void test_beneath(void)
{
	char *p = at("s"), *q, *out = at("outside"), msg[MM_ERRSZ];
	struct mm_err err = { 0 };
	struct mm_state s;
	int fd;

	mkdir(p, 0700);
	mkdir(out, 0755);
	q = at("s/quarantine");
	if (symlink(out, q) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a symlinked quarantine/ is refused at open");
	ok(strstr(msg, "is a symlink") && strstr(msg, "run: rm '"), "saying how to fix it: %s", msg);
	unlink(q);
	free(q);
	q = at("s/verified");
	if (symlink("/etc/passwd", q) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "so is a symlinked verified");
	unlink(q);
	free(q);
	q = at("s/locks");
	mkdir(q, 0700);
	if (chown(q, OTHER, OTHER) != 0)
		printf("# chown: %s\n", strerror(errno));
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a locks/ owned by another uid is refused");
	rmdir(q);
	free(q);
	q = at("s/api");
	mkdir(q, 0777);
	chmod(q, 0777);
	is_int(try_open(p, 1, msg), MM_EUSAGE, "a world-writable api/ is refused");
	rmdir(q);
	free(q);

	is_int(mm_state_open(&s, p, 1, &err), 0, "the state directory opens");
	q = at("s/quarantine");
	mkdir(q, 0700);
	free(q);
	q = at("s/quarantine/models");
	if (symlink(out, q) != 0)
		printf("# symlink: %s\n", strerror(errno));
	fd = mm_state_subdir(&s, "quarantine/models/loras", 1, &err);
	ok(fd < 0 && err.code == MM_EUSAGE, "a symlinked folder deeper down is refused");
	ok(strstr(err.msg, "quarantine/models' is a symlink") != NULL, "naming it: %s", err.msg);
	free(q);
	q = at("outside/loras");
	ok(access(q, F_OK) != 0, "and nothing was made through it");
	free(q);
	if (fd >= 0)
		close(fd);
	q = at("outside/x");
	put(q, "");
	free(q);
	fd = mm_state_openat(s.fd, "quarantine/models/x", O_RDONLY, 0);
	ok(fd < 0, "no file is opened through a symlinked folder");
	q = at("s/ready");
	if (symlink(out, q) != 0)
		printf("# symlink: %s\n", strerror(errno));
	errno = 0;
	fd = mm_state_openat(s.fd, MM_STATE_READY, O_WRONLY | O_CREAT, 0600);
	ok(fd < 0 && errno == ELOOP, "nor through a symlink at the file itself");
	free(q);
	mm_state_close(&s);
	free(out);
	free(p);
}

static void test_write(void)
{
	char *p = at("w"), *victim = at("victim"), *q, name[300], *got;
	struct mm_err err = { 0 };
	struct mm_state s;
	struct stat st;

	put(victim, "precious\n");
	mkdir(p, 0700);
	/* Every temporary name this process would try first, planted. */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "%s/verified.%ld.%d.tmp", p, (long)getpid(), i);
		if (symlink(victim, name) != 0)
			printf("# symlink: %s\n", strerror(errno));
	}
	is_int(mm_state_open(&s, p, 1, &err), 0, "the state directory opens");
	is_int(mm_state_write(s.fd, MM_STATE_VERIFIED, "new\n", 4, &err), 0,
		"a file is written past planted temporary names");
	got = slurp(victim);
	is_str(got, "precious\n", "the file the planted links name is untouched");
	free(got);
	q = at("w/verified");
	got = slurp(q);
	is_str(got, "new\n", "the file holds what was written");
	free(got);
	ok(lstat(q, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
		"a regular file, mode 0600");
	unlink(q);
	if (symlink(victim, q) != 0)
		printf("# symlink: %s\n", strerror(errno));
	is_int(mm_state_write(s.fd, MM_STATE_VERIFIED, "again\n", 6, &err), 0,
		"a symlink at the name itself is replaced");
	got = slurp(victim);
	is_str(got, "precious\n", "not written through");
	free(got);
	ok(lstat(q, &st) == 0 && S_ISREG(st.st_mode), "the name is now a regular file");
	free(q);
	mm_state_close(&s);
	free(victim);
	free(p);
}

int main(void)
{
	char cmd[300];

	umask(022);
	if (!mkdtemp(dir))
		return 1;
	test_create();
	test_lax();
	test_links();
	test_beneath();
	test_write();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
	return done_testing();
}
