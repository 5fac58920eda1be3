/* Onboarding and offboarding practices: a tenant made from a template with
 * ids and a subnet from the daemon's pools, its data directory and profile
 * written, and started; or stopped and removed with its data archived or
 * purged. Either all of it happens or nothing is left half-done.
 *
 * A template (TEMPLATES_DIR/NAME.json) is a profile without "tenant", "ids",
 * "network.subnet" and "network.ingress": onboarding sets the first three,
 * and a fixed host port would be claimed by every tenant made from the
 * template (forward one by editing the tenant's profile afterwards). Every
 * string value may hold "{tenant}", replaced by the tenant's name
 * ("groups": ["{tenant}-staff"]). A template file must be root's and not
 * writable by group or others, like a profile. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "daemon/audit.h"
#include "model/config.h"
#include "basic/error.h"
#include "model/protocol.h"
#include "basic/loop.h"
#include "net/network.h"
#include "daemon/supervise.h"

struct onboarding;

/* net may be NULL (no networks): templates with a network then fail. The
 * loop runs the offboarding's child processes (tar, the removal of a data
 * tree) and its deferred steps. */
struct onboarding *onboarding_new(const struct ward_config *cfg, struct loop *loop,
				  struct supervisor *sup, struct network *net, struct audit *audit);
/* Ends what is under way, each with its done callback: an offboarding that
 * has not started removing data is undone (the archive deleted, the profile
 * put back: the tenant comes back with the next wardd); one that removes
 * data is waited for and finished. Call it once the loop has stopped, and
 * before supervisor_free and control_free. */
void onboarding_free(struct onboarding *ob);

/* Creates and starts tenant `name` from TMPL.json in the templates
 * directory, `display_name` (may be NULL) replacing the template's. `by`
 * names who asked, for the audit log. In order: the name is checked unused
 * (no live tenant, profile, data or log directory, offboarding); the
 * template is loaded, filled and validated; a uid range (the first of the
 * pool no profile file, live tenant or process uses) and a subnet (network
 * allocations file) are taken; DATA_DIR/NAME is made (owner uid:uid, 0700);
 * TENANTS/NAME.json is written (NAME.json.tmp, fsync, rename, fsync of the
 * directory) and a reload starts it. Returns what was allocated
 * ({"tenant", "display_name", "template", "uid", "count", "subnet" (null
 * without a network), "data_dir", "profile"}), or NULL with err, and then
 * nothing is left behind. Audited ("onboard") either way. */
json_t *onboard_tenant(struct onboarding *ob, const char *name, const char *tmpl,
		       const char *display_name, const char *by, struct ward_err *err);

/* Called once offboarding is over: report, or NULL and the error. */
typedef void (*offboard_done_fn)(json_t *report, const char *error, void *ud);
/* Stops the tenant; once it is down, removes its cgroups, archives its data
 * directory to `archive` (tar, pax format, sparse files as holes, numeric
 * owners and modes kept; refused, and undone, before tar starts when what
 * the data has allocated exceeds the free space of the archive's file system;
 * created by wardd, O_EXCL, mode 0600) or removes it (purge; neither crosses
 * a mount point nor follows a symlink), releases its network allocation,
 * and deletes its profile. Its logs (LOG_DIR/NAME) are kept, renamed to
 * NAME.offboarded-TIME, on archive; removed on purge. Exactly one of
 * archive (an absolute path outside DATA_DIR) and purge. Returns 0 (done
 * is called later, from the loop) or -1 with err (done is not called,
 * nothing changed). A failure before any data is removed puts everything
 * back and starts the tenant again. Audited ("offboard") when it starts
 * and when it ends. The report: {"tenant", "uid", "count", "subnet",
 * "data_dir", "archive" | "purged": true, "logs", "warnings": [...]}. */
int offboard_tenant(struct onboarding *ob, const char *name, const char *archive, bool purge,
		    const char *by, offboard_done_fn done, void *ud, struct ward_err *err);
