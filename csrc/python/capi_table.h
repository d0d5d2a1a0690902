/*
 * capi_table.h -- pool._pool_c's table of the core's functions
 * (sgi_pool_capi.h), compiled into the cffi module by build_pool.py's prelude:
 * C glue only, no Python.
 */
#define SGI_POOL_CAPI_TABLE_ONLY 1 /* the table, not the importer's helpers */
#include "sgi_pool_capi.h"

static const sgi_pool_capi sgi_pool_capi_filled = {
    SGI_POOL_CAPI_VERSION,
    (uint32_t)sizeof(sgi_pool_capi),
    /* generated from sgi_pool.h: begin */
    sgi_pool_options_init,
    sgi_pool_create,
    sgi_pool_destroy,
    sgi_pool_close,
    sgi_pool_allocate_held,
    sgi_pool_free_held,
    sgi_pool_realloc_held,
    sgi_pool_allocate,
    sgi_pool_deallocate,
    sgi_pool_reallocate,
    sgi_pool_deallocate_checked,
    sgi_pool_reallocate_checked,
    sgi_pool_allocate_many,
    sgi_pool_deallocate_many,
    sgi_pool_free,
    sgi_pool_free_checked,
    sgi_pool_realloc,
    sgi_pool_realloc_checked,
    sgi_pool_usable_size,
    sgi_pool_owns,
    sgi_pool_free_many,
    sgi_pool_last_refused,
    sgi_pool_set_heap_limit,
    sgi_pool_heap_limit,
    sgi_pool_heap_size,
    sgi_pool_get_options,
    sgi_pool_nclasses,
    sgi_pool_locking,
    sgi_pool_get_stats,
    sgi_pool_class_counts,
    sgi_pool_chunks,
    sgi_pool_free_list,
    sgi_pool_current_chunk,
    sgi_pool_block_size,
    sgi_pool_live_blocks,
    sgi_pool_blocks,
    sgi_pool_capture_state,
    sgi_pool_process_totals,
    sgi_pool_calloc,
    sgi_pool_trim,
    sgi_pool_get_trim_stats,
    sgi_pool_trim_pages,
    sgi_pool_get_page_stats,
    sgi_pool_deallocate_held,
    sgi_pool_deallocate_held_or_free,
    sgi_pool_forward_malloc,
    sgi_pool_forward_free,
    /* generated from sgi_pool.h: end */
};

/* The table's address (pool/_capi.py wraps it in the capsule). */
static const void *sgi_pool_capi_table(void)
{
    return &sgi_pool_capi_filled;
}
