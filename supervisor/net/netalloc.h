/* Address allocation: each tenant's subnet (from its profile, or from the
 * daemon's pool, kept across restarts in the allocations file) and each
 * service's address in it (kept too, so a reordered or extended profile does
 * not renumber running services). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"
#include "model/profile.h"

struct netalloc;

/* path: the JSON allocations file (created on first change, with its
 * directory; written atomically: PATH.tmp mode 0600, fsync, rename, fsync of
 * the directory). A missing file is an empty one; a file that is corrupt, not
 * a regular file, or writable by others than root is refused (NULL, err
 * naming it) and left as it is. pool: where subnets without a profile subnet
 * come from, each of size /prefix, pool's prefix <= prefix <= 30 (pool NULL:
 * none; such a tenant is refused). */
struct netalloc *netalloc_open(const char *path, const struct ward_cidr *pool, uint8_t prefix,
			       struct ward_err *err);
void netalloc_free(struct netalloc *na);

/* Whether the tenant's network (its profile subnet, or the subnet it holds;
 * neither: no conflict) overlaps a subnet another tenant holds; fills other
 * (may be NULL) with that tenant's name. Changes nothing. */
bool netalloc_conflict(struct netalloc *na, const struct ward_tenant *t, char *other, size_t len);

/* The tenant's subnet (the profile's, else the one it holds, else the first
 * free block of the pool), gateway (first host) and one address per service
 * (addrs[i] for t->services[i], t->n_services entries: a service keeps its
 * address while it is inside the subnet, a new one gets the lowest free,
 * gateway and broadcast excluded). Persists what changed, and only then;
 * forgets the addresses of services the profile no longer has. -1 with err
 * when the pool is exhausted, the subnet is too small (or a /31, /32), it
 * overlaps another tenant's, or the file cannot be written; then nothing
 * changed. Addresses in host byte order. */
int netalloc_tenant(struct netalloc *na, const struct ward_tenant *t, struct ward_cidr *subnet,
		    uint32_t *gateway, uint32_t *addrs, struct ward_err *err);

/* Releases everything the tenant holds (offboarding); 0 if it held nothing. */
int netalloc_release(struct netalloc *na, const char *tenant, struct ward_err *err);

/* Loading many tenants at once (daemon start, reload): each change would
 * rewrite and fsync the whole file, O(n^2) for n tenants. After
 * netalloc_defer changes stay in memory (nothing fails for the file's
 * sake) until netalloc_flush writes them all at once; a failed flush keeps
 * them pending for the next flush. */
void netalloc_defer(struct netalloc *na);
int netalloc_flush(struct netalloc *na, struct ward_err *err);
