/* uid/gid mapping, as fuse-overlayfs's uidmapping=/gidmapping= options
 * describe it: "C:H:LEN" shows an id C+n stored in the layers as H+n
 * through the mount (containers-storage passes the container's uid_map,
 * so inside the user namespace the stored ids show again). In the names
 * below, "cont" is the stored side and "host" the side the mount shows. */
#ifndef LM_IDMAP_H
#define LM_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#define LM_IDMAP_OVERFLOW 65534u

struct lm_idmap_ent {
	uint32_t cont; /* first id as stored in the layers */
	uint32_t host; /* first id as the mount shows it */
	uint32_t len;
};

struct lm_idmap {
	struct lm_idmap_ent *v; /* owned */
	size_t n;               /* 0: identity */
};

/* Parse "C:H:LEN[:C:H:LEN...]" (a leading ':' is tolerated) into *m.
 * Returns 0 or -EINVAL (malformed, zero length, overflowing range). */
int lm_idmap_parse(const char *spec, struct lm_idmap *m);
void lm_idmap_release(struct lm_idmap *m);
/* An empty map is the identity; an id outside every range maps to
 * LM_IDMAP_OVERFLOW. */
uint32_t lm_idmap_to_host(const struct lm_idmap *m, uint32_t cont_id);
uint32_t lm_idmap_to_cont(const struct lm_idmap *m, uint32_t host_id);

#endif
