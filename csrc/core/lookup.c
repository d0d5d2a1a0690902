/*
 * lookup.c -- what the block directory (B.12, block_directory.h) knows of an
 * address: the size-less calls, checked mode and the validator ask here.
 */

/* Checked pools: the size of the live small block at ptr, or 0. */
static inline size_t live_small_size(sgi_pool *p, const void *ptr)
{
    if (!p->checked)
        return 0;
    dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptr);
    if (c == NULL)
        return 0;
    size_t slot = dir_slot(&p->dir, c, (uintptr_t)ptr);
    if (slot == SIZE_MAX || !dir_is_live(c, slot))
        return 0;
    return dir_extent(&p->dir, c, slot);
}

/* The size of the carved block (live or free) starting at ptr in chunk c,
   or 0: not a block start, the start of the (non-empty) uncarved tail, or
   of a released span. */
static inline size_t carved_size(const sgi_pool *p, const dir_chunk *c, const void *ptr)
{
    uintptr_t addr = (uintptr_t)ptr;
    if (addr == p->start_free && addr != p->end_free)
        return 0;
    size_t slot = dir_slot(&p->dir, c, addr);
    if (slot == SIZE_MAX || !dir_starts(&p->dir, c, slot))
        return 0;
    size_t size = dir_extent(&p->dir, c, slot);
    return size <= p->max_bytes ? size : 0; /* larger: a released span (B.14), no block */
}

/* What a size-less call knows of ptr: a small block's size (checked: a live
   block; unchecked: a carved block's start), or a large block's recorded
   size; 0 when it is no block of this pool. */
static size_t known_size(sgi_pool *p, const void *ptr)
{
    dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptr);
    if (c != NULL)
        return p->checked ? live_small_size(p, ptr) : carved_size(p, c, ptr);
    const block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    return e ? e->size & ~PENDING_MARK : 0;
}
