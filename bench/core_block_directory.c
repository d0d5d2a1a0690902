/* csrc/block_directory.c under a name of its own: see core_sgi_pool.c. */
#include "block_directory.c"
