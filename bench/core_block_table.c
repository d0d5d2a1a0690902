/* csrc/block_table.c under a name of its own: see core_sgi_pool.c. */
#include "block_table.c"
