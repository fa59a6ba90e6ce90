/* report.c — one inventory report, and --watch's loop of them. */
#include "report.h"
#include "config.h"
#include "log.h"
#include "scan.h"
#include "watch.h"

#include <poll.h>
#include <stdlib.h>
#include <time.h>

int mm_report_collect(const struct mm_report_opts *o, struct mm_scan *scan,
		      struct mm_inv_model **recs, size_t *n, struct mm_err *err)
{
	struct mm_scan_opts so = {0};
	int rc;

	so.root = o->root;
	so.state_dir = o->state_dir;
	rc = mm_scan(&so, scan, err);
	if (rc)
		return rc;
	mm_inv_from_disk(scan, o->m, recs, n, NULL);
	return 0;
}

int mm_report_once(const struct mm_report_opts *o, struct mm_reporter *rep, struct mm_redis *r,
		   struct mm_err *err)
{
	struct mm_scan scan = {0};
	struct mm_inv_model *recs = NULL;
	struct mm_inv_stats st;
	size_t n = 0;
	int rc;

	rc = mm_report_collect(o, &scan, &recs, &n, err);
	if (!rc)
		rc = mm_reporter_report(rep, r, recs, n, mm_inv_missing(o->m, recs, n), o->full, &st, err);
	if (!rc) {
		struct mm_list wf;

		mm_inv_workflows(o->m, recs, n, &wf);
		rc = mm_inv_report_workflows(r, o->machine_id, &wf, err);
		mm_list_free(&wf);
	}
	if (!rc)
		mm_debugf("reported %zu models for %s: +%zu -%zu, %zu commands, %zu round trips%s",
			  n, o->machine_id, st.added, st.removed, st.commands, st.round_trips,
			  st.models_written ? ", models rewritten" : "");
	if (o->on_report)
		o->on_report(o->report_arg, o, rc ? NULL : recs, rc ? 0 : n, rc ? NULL : &st, rc);
	free(recs);
	mm_scan_free(&scan);
	return rc;
}

int mm_report_run(const struct mm_report_opts *o, struct mm_err *err)
{
	struct mm_redis *r = NULL;
	struct mm_reporter *rep;
	int rc, tries;

	rc = mm_redis_connect(o->redis_url, o->ropts, &r, err);
	if (rc)
		return rc;
	rep = mm_reporter_new(o->machine_id);
	for (tries = 1;; tries++) {
		rc = mm_report_once(o, rep, r, err);
		if (rc != MM_EUNAVAIL || tries == 3)
			break;
		mm_warnf("%s; reconnecting", err->msg);
		mm_reporter_forget(rep);
		rc = mm_redis_reconnect(r, err);
		if (rc)
			break;
	}
	mm_reporter_free(rep);
	mm_redis_close(r);
	return rc;
}

/* The watch loop's state between beats. */
struct watch {
	const struct mm_report_opts *o;
	struct mm_redis_opts quick;       /* connects without waiting: the loop retries */
	struct mm_reporter *rep;
	struct mm_dirwatch *dw;
	struct mm_redis *r;
	char *models_dir;
	double next, backoff;
	int down, passed;
};

static void sleep_until(const struct watch *w, double t)
{
	while (!*w->o->stop) {
		double left = t - mm_now();
		struct timespec ts;

		if (left <= 0)
			return;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

/*
 * One beat: connect if need be, report, and set when the next one is due
 * (the interval, or a doubling backoff while Redis is away).  Returns
 * MM_EUSAGE when the loop must end, 0 otherwise.
 */
static int beat(struct watch *w, struct mm_err *err)
{
	const struct mm_report_opts *o = w->o;
	int rc = 0;

	if (!w->r) {
		rc = mm_redis_connect(o->redis_url, &w->quick, &w->r, err);
		if (rc == MM_EUSAGE)
			return rc;
		if (rc && o->on_report)
			o->on_report(o->report_arg, o, NULL, 0, NULL, rc);
	}
	if (w->r) {
		rc = mm_report_once(o, w->rep, w->r, err);
		if (rc == MM_EUNAVAIL) {
			mm_redis_close(w->r);
			w->r = NULL;
			mm_reporter_forget(w->rep);
		}
	}
	if (!rc) {
		if (w->down)
			mm_infof("redis %s is back; reporting again", w->r ? mm_redis_address(w->r) : "");
		w->down = 0;
		w->backoff = 1;
		w->next = mm_now() + o->interval;
	} else if (rc == MM_EUNAVAIL) {
		if (!w->down)
			mm_warnf("%s; retrying", err->msg);
		w->down = 1;
		w->next = mm_now() + w->backoff;
		w->backoff = w->backoff * 2 > o->interval ? o->interval : w->backoff * 2;
	} else if (rc == MM_EUSAGE) {
		return rc;
	} else {
		/* A refused write or a scan problem: say so, try at the next beat. */
		mm_warnf("%s", err->msg);
		w->next = mm_now() + o->interval;
	}
	return 0;
}

/*
 * Wait for the next beat or a change under the models folder; a burst of
 * changes (a folder copied in) settles first.  Returns 1 when something
 * changed.
 */
static int wait_change(struct watch *w)
{
	struct pollfd pfd;
	double now = mm_now();
	int changed = 0;

	if (!w->dw) {
		sleep_until(w, w->next < now + 1 ? w->next : now + 1);
		return 0;
	}
	pfd.fd = mm_dirwatch_fd(w->dw);
	pfd.events = POLLIN;
	if (poll(&pfd, 1, w->next > now ? (int)((w->next - now) * 1000) + 1 : 0) <= 0)
		return 0;
	do {
		int ch = mm_dirwatch_drain(w->dw);

		if (ch < 0) {
			mm_dirwatch_close(w->dw);
			w->dw = NULL;
			break;
		}
		changed |= ch;
	} while (!*w->o->stop && poll(&pfd, 1, 300) > 0);
	return changed;
}

/* After a signal: out of the inventory, unless asked to stay. */
static void deregister(struct watch *w, struct mm_err *err)
{
	const struct mm_report_opts *o = w->o;

	if (o->keep_on_exit)
		return;
	if (!w->r)
		mm_redis_connect(o->redis_url, &w->quick, &w->r, err);
	if (w->r && mm_inv_deregister(w->r, o->machine_id, err) == 0)
		mm_infof("deregistered %s", o->machine_id);
	else
		mm_warnf("could not deregister %s: %s", o->machine_id, err->msg);
}

static int first_done(struct watch *w, struct mm_err *err)
{
	if (w->passed)
		return 0;
	w->passed = 1;
	return w->o->first_done ? w->o->first_done(w->o->arg, err) : 0;
}

int mm_report_watch(const struct mm_report_opts *o, struct mm_err *err)
{
	struct watch w = {0};
	int rc = 0;

	w.o = o;
	w.quick = *o->ropts;
	w.quick.retry_for = 0;
	w.rep = mm_reporter_new(o->machine_id);
	w.models_dir = mm_xasprintf("%s/models", o->root);
	w.backoff = 1;
	while (!*o->stop) {
		int changed = 0;

		if (!w.dw && mm_dirwatch_open(w.models_dir, &w.dw, err) == 0)
			changed = 1;  /* new folder: look at it now */
		if (mm_now() >= w.next || changed) {
			rc = beat(&w, err);
			if (rc)
				break;
		}
		rc = first_done(&w, err);
		if (rc)
			break;
		if (wait_change(&w))
			w.next = 0;
	}
	if (*o->stop) {
		deregister(&w, err);
		first_done(&w, err);
	}
	mm_dirwatch_close(w.dw);
	mm_redis_close(w.r);
	mm_reporter_free(w.rep);
	free(w.models_dir);
	if (*o->stop)
		return *o->stop == SIGINT ? MM_EINT : MM_ETERM;
	return rc;
}
