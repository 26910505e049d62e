/* uid/gid mapping tables in fuse-overlayfs's uidmapping=/gidmapping= form.
 *
 * The spec comes from the command line, which a container engine builds
 * from its user namespace configuration. It is still parsed as hostile
 * text: only plain decimal digits are numbers (no sign, no spaces, no hex),
 * every number must fit in 32 bits, a range must not reach past 2^32, and
 * anything else is -EINVAL with *m left empty. Ranges are not checked for
 * overlap (fuse-overlayfs does not either); a lookup takes the first range
 * that contains the id, in the order given.
 */
#include "overlay/idmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LM_IDMAP_FIELDS 3 /* C:H:LEN */

/* Parse one decimal field starting at *pp and ending at ':' or NUL.
 * Advances *pp to that terminator. Returns 0 or -EINVAL. */
static int idmap_parse_u32(const char **pp, uint32_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (*p != ':' && *p != '\0')
		return -EINVAL;
	*out = (uint32_t)v;
	*pp = p;
	return 0;
}

/* Number of ':'-separated fields in @s (an empty string has one). */
static size_t idmap_count_fields(const char *s)
{
	size_t n = 1;

	for (; *s; s++)
		if (*s == ':')
			n++;
	return n;
}

static bool idmap_range_fits(uint32_t first, uint32_t len)
{
	return (uint64_t)first + len <= (uint64_t)UINT32_MAX + 1;
}

/* Parse one C:H:LEN triple at *pp into @e; on success *pp points just past
 * it (past the ':' separating it from the next triple, if any). */
static int idmap_parse_ent(const char **pp, struct lm_idmap_ent *e)
{
	uint32_t f[LM_IDMAP_FIELDS];
	const char *p = *pp;

	for (size_t i = 0; i < LM_IDMAP_FIELDS; i++) {
		int rc = idmap_parse_u32(&p, &f[i]);

		if (rc < 0)
			return rc;
		if (*p == ':')
			p++;
		else if (i + 1 < LM_IDMAP_FIELDS)
			return -EINVAL; /* string ended inside a triple */
	}
	if (f[2] == 0 || !idmap_range_fits(f[0], f[2]) ||
	    !idmap_range_fits(f[1], f[2]))
		return -EINVAL;
	e->cont = f[0];
	e->host = f[1];
	e->len = f[2];
	*pp = p;
	return 0;
}

/* *m is overwritten, not released: a caller replacing a map it already
 * holds releases the old one itself. On success *m owns a new array (free
 * with lm_idmap_release); on failure *m is empty. A NULL or empty spec is
 * -EINVAL, not the identity: the option was given with nothing in it. */
int lm_idmap_parse(const char *spec, struct lm_idmap *m)
{
	struct lm_idmap_ent *v;
	size_t nfields, n;
	const char *p;
	int rc;

	m->v = NULL;
	m->n = 0;
	if (!spec)
		return -EINVAL;
	if (*spec == ':')
		spec++;
	if (*spec == '\0')
		return -EINVAL;
	nfields = idmap_count_fields(spec);
	if (nfields % LM_IDMAP_FIELDS != 0)
		return -EINVAL;
	n = nfields / LM_IDMAP_FIELDS;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	p = spec;
	for (size_t i = 0; i < n; i++) {
		rc = idmap_parse_ent(&p, &v[i]);
		if (rc < 0)
			goto out_free;
	}
	m->v = v;
	m->n = n;
	return 0;

out_free:
	free(v);
	return rc;
}

/* Frees the array and leaves *m as the identity map; safe to call twice. */
void lm_idmap_release(struct lm_idmap *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

uint32_t lm_idmap_to_host(const struct lm_idmap *m, uint32_t cont_id)
{
	if (m->n == 0)
		return cont_id;
	for (size_t i = 0; i < m->n; i++) {
		const struct lm_idmap_ent *e = &m->v[i];

		if (cont_id >= e->cont && cont_id - e->cont < e->len)
			return e->host + (cont_id - e->cont);
	}
	return LM_IDMAP_OVERFLOW;
}

uint32_t lm_idmap_to_cont(const struct lm_idmap *m, uint32_t host_id)
{
	if (m->n == 0)
		return host_id;
	for (size_t i = 0; i < m->n; i++) {
		const struct lm_idmap_ent *e = &m->v[i];

		if (host_id >= e->host && host_id - e->host < e->len)
			return e->cont + (host_id - e->host);
	}
	return LM_IDMAP_OVERFLOW;
}
