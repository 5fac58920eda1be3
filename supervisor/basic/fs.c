/* Small file-system steps written once. See fs.h. */
#include "basic/fs.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int fs_mkdir_p(const char *path, mode_t last_mode)
{
	char buf[PATH_MAX];
	size_t len = path ? strlen(path) : 0;

	if (len == 0 || len >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, last_mode) < 0 && errno != EEXIST ? -1 : 0;
}
