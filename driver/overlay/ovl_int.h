/* Internals shared by the overlay's source files. Not for other modules. */
#ifndef LM_OVL_INT_H
#define LM_OVL_INT_H

#include <limits.h>
#include <pthread.h>

#include "overlay/overlay.h"

#define LM_MAX_LAYERS 500
#define LM_UPPER 0 /* index of the upper layer in ovl->layers, when there is one */

/* One name of a node. A directory has exactly one; a non-directory has one
 * per hard link the kernel has been told about. */
struct lm_alias {
	struct lm_node *parent;  /* holds a reference (parent->refs) */
	char *name;              /* owned */
	bool upper;              /* the name exists in the upper layer */
	struct lm_alias *next;
};

struct lm_openref {
	struct lm_file *f;        /* borrowed: the adapter detaches it before closing */
	struct lm_openref *next;
};

/* Fields marked [tab] are protected by ovl->tab_lock; [ns] fields change
 * only under ovl->ns held for writing. */
struct lm_node {
	dev_t key_dev;            /* identity: the origin object's (dev, ino) */
	uint64_t key_ino;
	uint64_t ino;             /* st_ino reported for the node, stable */
	mode_t type;              /* S_IFMT bits */
	uint64_t nlookup;         /* [tab] kernel references */
	uint64_t refs;            /* [tab] aliases of other nodes naming this as parent */
	int layer;                /* [tab] index of the layer holding the object */
	struct lm_alias *aliases; /* [tab] */
	int64_t nlink_bias;       /* [ns] names of a copied-up lower hard-link group not
				   * (yet) linked in the upper: added to st_nlink */
	struct lm_openref *open;  /* [tab] open files of the object, for fstat
				   * after its last name is gone */
	int *dl;                  /* [tab] directories: layers merged, top first */
	int ndl;
	struct lm_node *hnext;    /* [tab] hash chain */
};



struct lm_ovl {
	struct lm_layer **layers;  /* upper (if any) first, then lowers top first; owned */
	int nlayers;
	bool has_upper;
	const char *origin_xattr;  /* LM_ORIGIN_XATTR, or the user.* one when unprivileged */
	struct lm_ovl_config cfg;
	dev_t devs[LM_MAX_LAYERS]; /* distinct st_dev of layers, for inode numbers */
	int ndevs;

	/* Lock order: ns, then tab_lock. ns is held for reading by lookups
	 * and reads of the host namespace, for writing by every change to it. */
	pthread_rwlock_t ns;
	pthread_mutex_t tab_lock;
	struct lm_node **tab;      /* [tab] node hash table by key */
	size_t tabsize, nnodes;
	struct lm_remap **remap;   /* [tab] upper ino -> origin, for the mount's life */
	size_t remapsize;
	struct lm_node *root;
};

/* What a copied-up object records of its origin, in the xattr
 * LM_ORIGIN_XATTR (LM_ORIGIN_XATTR_USER where trusted.* is refused), so
 * its inode number and link count survive a remount. Host byte order: the
 * marker never leaves the host. */
#define LM_ORIGIN_XATTR "trusted.lamina.origin"
#define LM_ORIGIN_XATTR_USER "user.lamina.origin"
struct lm_origin {
	uint64_t dev;
	uint64_t ino;
	int64_t nlink_bias;
};
_Static_assert(sizeof(struct lm_origin) == 24, "origin xattr layout");

/* The mount's cache of origin markers, by upper inode number: filled on
 * copy-up and on the first lookup that reads a marker. */
struct lm_remap {
	uint64_t upper_ino;
	struct lm_origin o;
	struct lm_remap *next;
};

/* Result of walking the layers for one name. */
struct lm_walk {
	int layer;                 /* topmost layer holding the object, -1: none */
	struct stat st;            /* its stat (host view) */
	enum lm_ent_kind upper_kind; /* what the upper layer holds under the name */
	bool has_origin;           /* an upper object that records its origin */
	struct lm_origin origin;
	int dl[LM_MAX_LAYERS];     /* directories: the layers merged */
	int ndl;
};

static inline struct lm_layer *ovl_upper(struct lm_ovl *ovl)
{
	return ovl->has_upper ? ovl->layers[LM_UPPER] : NULL;
}

static inline bool is_upper(const struct lm_ovl *ovl, int layer)
{
	return ovl->has_upper && layer == LM_UPPER;
}

/* overlay.c */
int ovl_walk(struct lm_ovl *ovl, struct lm_node *parent, const char *name, struct lm_walk *w);
int ovl_node_path(struct lm_ovl *ovl, struct lm_node *node, bool upper, char *buf, size_t size);
int ovl_child_path(struct lm_ovl *ovl, struct lm_node *parent, const char *name, char *buf,
		   size_t size);
struct lm_node *ovl_node_get(struct lm_ovl *ovl, struct lm_node *parent, const char *name,
			     const struct lm_walk *w);
struct lm_node *ovl_node_find(struct lm_ovl *ovl, const struct lm_walk *w);
/* Records the origin of upper object PATH (inode UPPER_INO): in the
 * marker xattr, so it survives a remount, and in the mount's cache. */
void ovl_origin_set(struct lm_ovl *ovl, const char *path, uint64_t upper_ino,
		    const struct lm_origin *o);
/* Forgets the origin of upper object UPPER_INO (it was deleted). */
void ovl_remap_del(struct lm_ovl *ovl, uint64_t upper_ino);
void ovl_alias_drop(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *parent,
		    const char *name);
int ovl_alias_move(struct lm_ovl *ovl, struct lm_node *node, struct lm_node *p1,
		   const char *n1, struct lm_node *p2, const char *n2);
int ovl_node_stat(struct lm_ovl *ovl, struct lm_node *node, struct stat *st);
int ovl_node_layer(struct lm_ovl *ovl, struct lm_node *node);
/* The st_ino that stat reports for object INO of LAYER (for d_ino). */
uint64_t ovl_entry_ino(struct lm_ovl *ovl, int layer, uint64_t ino);
/* ovl_dir.c: number of visible entries of directory PATH merged over DL. */
int ovl_dir_count(struct lm_ovl *ovl, const char *path, const int *dl, int ndl, size_t *count);
/* The id to store for an id the mount shows (a caller's, a chown's). */
uid_t ovl_uid_in(struct lm_ovl *ovl, uid_t uid);
gid_t ovl_gid_in(struct lm_ovl *ovl, gid_t gid);

#endif
