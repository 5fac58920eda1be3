/* Small file-system steps written once. */
#pragma once

#include <sys/types.h>

/* mkdir -p: every missing parent made 0755, path itself last_mode (an
 * existing directory is left as it is, mode included). Returns 0, or -1
 * with errno (ENAMETOOLONG for an empty path or one of PATH_MAX or more). */
int fs_mkdir_p(const char *path, mode_t last_mode);
