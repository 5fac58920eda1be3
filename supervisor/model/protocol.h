/* The control protocol's words that both ends say: what wardd answers and
 * wardctl checks or prints before it asks (so the two never drift). */
#pragma once

/* The one message for an offboarding asked without archive or purge. */
#define OFFBOARD_NEEDS_ARCHIVE_OR_PURGE                                                            \
	"refusing to offboard without --archive FILE or --purge: the data would be lost"
