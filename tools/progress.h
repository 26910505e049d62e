/* A progress bar on stderr for the long verbs (layer import, verify,
 * export), drawn only when stderr is a terminal and at most a few times a
 * second; nothing at all otherwise, so logs and pipes stay clean. */
#ifndef LM_PROGRESS_H
#define LM_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct lm_progress {
	bool on;                 /* stderr is a terminal */
	bool drawn;              /* a line is on the screen */
	const char *what;        /* "import", ... (borrowed) */
	struct timespec last;
};

void lm_progress_init(struct lm_progress *p, const char *what);

/* Shows @done of @total bytes (a bar; @total 0: bytes only) and @count
 * @unit ("entries", "chunks"; NULL for none). */
void lm_progress_show(struct lm_progress *p, uint64_t done, uint64_t total,
		      uint64_t count, const char *unit);

/* Clears the line, before a message or the end. */
void lm_progress_end(struct lm_progress *p);

#endif
