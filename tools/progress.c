/* The progress bar of the long verbs (see progress.h). */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"

#define BAR 30

void lm_progress_init(struct lm_progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->drawn = false;
	p->what = what;
	p->last.tv_sec = 0;
	p->last.tv_nsec = 0;
}

/* True at most every 200 ms. */
static bool due(struct lm_progress *p)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - p->last.tv_sec) * 1000 +
	     (now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (p->drawn && ms < 200)
		return false;
	p->last = now;
	return true;
}

void lm_progress_show(struct lm_progress *p, uint64_t done, uint64_t total,
		      uint64_t count, const char *unit)
{
	static const char hashes[] = "##############################";
	double mib = (double)done / (1024.0 * 1024.0);

	if (!p->on || !due(p))
		return;
	if (total) {
		double f = (double)done / (double)total;
		int w = f >= 1 ? BAR : (int)(f * BAR);

		fprintf(stderr, "\r%s [%.*s%*s] %3d%%  %.1f MiB", p->what, w, hashes,
			BAR - w, "", f >= 1 ? 100 : (int)(f * 100), mib);
	} else {
		fprintf(stderr, "\r%s  %.1f MiB", p->what, mib);
	}
	if (unit)
		fprintf(stderr, ", %llu %s", (unsigned long long)count, unit);
	fputs("\033[K", stderr);
	p->drawn = true;
}

void lm_progress_end(struct lm_progress *p)
{
	if (p->on && p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = false;
}
