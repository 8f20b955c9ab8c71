// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --events-file FILE: every transition appended as a JSON line (the same
 * objects as 'run --json'), reopened on SIGHUP so that logrotate can move
 * the file away (the usual "postrotate kill -HUP" contract).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exports.h"
#include "evjson.h"
#include "output.h"

/* Write errors are reported once per this many ns, not per line. */
#define WARN_EVERY_NS (60ULL * 1000000000ULL)
/* Our own stdio buffer, flushed before a line would not fit: the file
 * only ever grows by whole lines (a reader, tail -f | jq, never sees half
 * an object), in writes of up to this size. */
#define EVF_BUF (1u << 20)

static struct {
	FILE *f;
	const char *path;
	__u32 mode;
	volatile sig_atomic_t hup;	/* our own SIGHUP flag, see start */
	bool dirty;			/* lines written since the last flush */
	size_t buffered;		/* bytes in the stdio buffer */
	__u64 last_warn, lost;
} evf;

static void on_hup(int sig)
{
	(void)sig;
	evf.hup = 1;
}

static int evfile_open(void)
{
	/* 0600: connection metadata is for root, as the maps are. */
	int fd = open(evf.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	evf.f = fdopen(fd, "a");
	if (!evf.f) {
		int err = -errno;

		close(fd);
		return err;
	}
	setvbuf(evf.f, NULL, _IOFBF, EVF_BUF);
	evf.buffered = 0;
	return 0;
}

int tcps_evfile_start(struct tcps_daemon *d)
{
	struct sigaction old;
	int err;

	if (!d->opts->events_file)
		return 0;
	evf.path = d->opts->events_file;
	evf.mode = d->opts->mode;
	err = evfile_open();
	if (err) {
		pr_err("--events-file %s: %s", evf.path, strerror(-err));
		return err == -EACCES || err == -EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	/* The daemon core may own SIGHUP (and bump d->reopen_logs); if
	 * nobody does, SIGHUP would kill us, so take it. */
	if (!sigaction(SIGHUP, NULL, &old) && old.sa_handler == SIG_DFL) {
		struct sigaction sa = { .sa_handler = on_hup };

		sigaction(SIGHUP, &sa, NULL);
	}
	pr_info("transitions appended to %s (SIGHUP reopens it)", evf.path);
	return 0;
}

static void evfile_flush(__u64 now)
{
	if (!evf.f || !evf.dirty)
		return;
	evf.dirty = false;
	evf.buffered = 0;
	if (fflush(evf.f) == EOF || ferror(evf.f)) {
		clearerr(evf.f);
		if (!evf.last_warn || now - evf.last_warn > WARN_EVERY_NS) {
			pr_warn("--events-file %s: %s", evf.path, strerror(errno));
			evf.last_warn = now;
		}
	}
}

void tcps_evfile_tick(struct tcps_daemon *d, __u64 now)
{
	int err;

	if (!evf.path)
		return;
	evfile_flush(now);
	/* The core sets reopen_logs for exactly one round of ticks. */
	if (!evf.hup && !d->reopen_logs && evf.f)
		return;
	evf.hup = 0;
	if (evf.f)
		fclose(evf.f);
	evf.f = NULL;
	err = evfile_open();
	if (err && (!evf.last_warn || now - evf.last_warn > WARN_EVERY_NS)) {
		/* Retried every tick until it works. */
		pr_warn("--events-file %s: cannot reopen: %s", evf.path, strerror(-err));
		evf.last_warn = now;
	}
}

void tcps_evfile_event(struct tcps_daemon *d, const struct tcps_event *e)
{
	(void)d;
	if (!evf.path)
		return;		/* no --events-file */
	if (!evf.f) {
		evf.lost++;
		return;
	}
	/* Flushed every tick (100 ms), not per line: one write per batch;
	 * and before a line that would not fit, so no write splits one. */
	{
		size_t n;
		const char *line = tcps_event_json_line(e, evf.mode, &n);

		if (!line) {
			evf.lost++;
			return;
		}
		if (evf.buffered + n + 1 > EVF_BUF)
			evfile_flush(tcps_mono_now());
		fwrite(line, 1, n, evf.f);
		fputc('\n', evf.f);
		evf.buffered += n + 1;
	}
	evf.dirty = true;
}

void tcps_evfile_stop(struct tcps_daemon *d)
{
	(void)d;
	if (evf.f) {
		evfile_flush(tcps_mono_now());
		fclose(evf.f);
		evf.f = NULL;
	}
	if (evf.lost)
		pr_warn("--events-file %s: %llu transitions not written (file could not be opened)",
			evf.path, (unsigned long long)evf.lost);
	evf.path = NULL;
}
