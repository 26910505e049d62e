/* The FUSE adapter's state and operations table. */
#ifndef LM_FUSE_OPS_H
#define LM_FUSE_OPS_H

#include <stdbool.h>

#include "overlay/overlay.h"

struct fuse_lowlevel_ops;

/* What every request handler can reach through fuse_req_userdata(). */
struct lm_fs {
	struct lm_ovl *ovl;   /* owned by main */
	double timeout;       /* entry, attribute and negative-entry timeout */
	bool writeback;       /* kernel writeback cache requested */
};

const struct fuse_lowlevel_ops *lm_fuse_ops(void);

#endif
