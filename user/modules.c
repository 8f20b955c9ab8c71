// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's modules, in start order (see struct tcps_module). */
#include <stddef.h>

#include "daemon.h"

const struct tcps_module tcps_modules[] = {
	{ NULL, NULL, NULL, NULL, NULL },
};
