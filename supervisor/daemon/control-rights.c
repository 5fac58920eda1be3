/* Who may do what on the control socket: root everything, the admin group
 * everything, the operator group read+operate, the viewer group read. The
 * groups are looked up once, when the socket is made, never per
 * connection. */
#include "daemon/control-internal.h"

#include "sandbox/caps.h"

static bool peer_in_group(const struct control_gids *g, int which, gid_t gid, const gid_t *groups,
			  size_t n_groups)
{
	if (!g->known[which])
		return false; /* a group that cannot be found grants nothing */
	if (g->gid[which] == gid)
		return true;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] == g->gid[which])
			return true;
	return false;
}

void control_resolve_groups(const struct ward_config *cfg, struct control_gids *g)
{
	const char *names[] = {cfg->admin_group, cfg->operator_group, cfg->viewer_group};

	for (int i = 0; i < 3; i++)
		g->known[i] = caps_group_gid(names[i], &g->gid[i]);
}

enum control_right control_gids_right(const struct control_gids *g, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups)
{
	if (uid == 0)
		return RIGHT_ADMIN;
	if (peer_in_group(g, CONTROL_GID_ADMIN, gid, groups, n_groups))
		return RIGHT_ADMIN;
	if (peer_in_group(g, CONTROL_GID_OPERATOR, gid, groups, n_groups))
		return RIGHT_OPERATE;
	if (peer_in_group(g, CONTROL_GID_VIEWER, gid, groups, n_groups))
		return RIGHT_READ;
	return RIGHT_NONE;
}

enum control_right control_peer_right(const struct ward_config *cfg, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups)
{
	struct control_gids g;

	control_resolve_groups(cfg, &g);
	return control_gids_right(&g, uid, gid, groups, n_groups);
}
