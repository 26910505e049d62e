/* The FUSE adapter's state and operations table. */
#ifndef LM_FUSE_OPS_H
#define LM_FUSE_OPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "overlay/overlay.h"

struct fuse_lowlevel_ops;
struct lm_fuse_uring;

/* Largest read or write a request carries. */
#define LM_FUSE_MAX_WRITE (1u << 20)

/* What every request handler can reach through fuse_req_userdata(). */
struct lm_fs {
	struct lm_ovl *ovl;   /* owned by main */
	double timeout;       /* entry, attribute and negative-entry timeout */
	bool writeback;       /* kernel writeback cache requested */
	unsigned readahead_kb; /* kernel read-ahead asked for; 0: the default */
	struct lm_fuse_uring *uring; /* io_uring transport or NULL; owned by main */

	/* Readdirplus policy (see do_readdir): how many more directories to
	 * answer with every entry's attributes, and the last directories
	 * answered with attributes of subdirectories only, whose files'
	 * lookups tell that the caller wants them. Heuristic state: races
	 * only cost a round trip. */
	atomic_int rdp_full_left;
	_Atomic uint64_t rdp_probe[8];
	atomic_uint rdp_probe_next;
};

const struct fuse_lowlevel_ops *lm_fuse_ops(void);

#endif
