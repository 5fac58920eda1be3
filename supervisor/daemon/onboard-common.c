/* Small helpers the files of onboarding share (onboard-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "model/names.h"
#include "basic/text.h"
#include "daemon/onboard-internal.h"

int ob_path_join(char *buf, size_t size, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(buf, size, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

void ob_cidr_string(const struct ward_cidr *c, char buf[20])
{
	char a[IP4_STRING_MAX];

	(void)snprintf(buf, 20, "%s/%u", ip4_string(c->addr, a),
		       (unsigned)c->prefix); /* at most 18 bytes */
}

int ob_fsync_dir(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

/* Text from files and children in a message: no control bytes. A child's
 * stderr runs over lines, which read better joined by spaces than by '?'. */
void ob_sanitize(char *s)
{
	for (char *p = s; (p = strchr(p, '\n')); p++)
		*p = ' ';
	text_clean(s);
}

int ob_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	if (c > SIZE_MAX / size)
		return -1;
	p = realloc(*v, c * size);
	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

bool ob_name_listed(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	}
	return false;
}
