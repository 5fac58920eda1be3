/* The firewall as operators see it: the drop counters, out of nft's JSON
 * listing of the dropcnt set, as the object `wardctl net` shows. */
#include "net/firewall-view.h"

#include <errno.h>

#include "basic/cleanup.h"

json_t *fw_counters_view(const char *out, struct ward_err *err)
{
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_(json_decrefp) json_t *res = json_object();
	json_error_t jerr;
	json_t *item, *elem;
	size_t i, j;

	if (!res)
		return ward_err_set(err, ENOMEM, "firewall counters"), NULL;
	if (!(root = json_loads(out, 0, &jerr)))
		return ward_err_set(err, EPROTO, "firewall counters: nft output: %s", jerr.text),
		       NULL;
	json_array_foreach(json_object_get(root, "nftables"), i, item)
	{
		json_t *set = json_object_get(item, "set");

		/* {"elem": {"val": "wrd...", "counter": {"packets": N, "bytes": N}}} */
		json_array_foreach(json_object_get(set, "elem"), j, elem)
		{
			json_t *e = json_object_get(elem, "elem");
			json_t *c = json_object_get(e, "counter");
			const char *name = json_string_value(json_object_get(e, "val"));
			json_t *pk = json_object_get(c, "packets"),
			       *by = json_object_get(c, "bytes");

			if (!name || !json_is_integer(pk) || !json_is_integer(by))
				return ward_err_set(err, EPROTO,
						    "firewall counters: unexpected element"),
				       NULL;
			if (json_object_set_new(res, name,
						json_pack("{sIsI}", "packets",
							  json_integer_value(pk), "bytes",
							  json_integer_value(by))) < 0)
				return ward_err_set(err, ENOMEM, "firewall counters"), NULL;
		}
	}
	return TAKE_PTR(res);
}
