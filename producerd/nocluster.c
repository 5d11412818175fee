/*
 * nocluster.c: a producerd built without libnats has no cluster backend;
 * --cluster is refused at start (config.c) saying how to get one.
 */
#include <stddef.h>

#include "backend.h"

const struct backend *
cluster_backend(void)
{
	return NULL;
}
