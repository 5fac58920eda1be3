/* A fake cgroupfs for the unit tests: a plain directory tree that the cgroup
 * module drives as it drives the kernel's, the backend named since statfs
 * would say tmpfs. Compiled into test_cgroup only (tests/meson.build), never
 * into the library. */
#pragma once

#include "basic/error.h"

/* cgroup_setup() on the fake tree at root, with backend "v1" or "v2". */
int cgroup_setup_fake(const char *root, const char *parent, unsigned flags, const char *backend,
		      struct ward_err *err);
