/*
 * block_life.c -- what Part B adds to a small block's birth and death
 * (classic.c calls these at A.5 and A.8): memcheck's view of the block
 * (track.h), checked mode's live bit (B.5), the debug fill (B.9).
 */

/* Marks a small block live: for memcheck, the checked-mode record, the fill. */
static void block_born(sgi_pool *p, void *block, size_t n)
{
    BLOCK_BORN(p, block, round_up(p, n));
    if (p->checked)
        dir_mark_live(&p->dir, block);
    if (UNLIKELY(p->debug_fill))
        memset(block, CLEAN_BYTE, round_up(p, n));
}

/* Marks a small block free, before it is pushed on its list. */
static void block_died(sgi_pool *p, void *block, size_t n)
{
    if (p->checked)
        dir_unmark_live(&p->dir, block);
    if (UNLIKELY(p->debug_fill)) /* the link word is written next */
        memset((char *)block + sizeof(free_node), DEAD_BYTE, round_up(p, n) - sizeof(free_node));
    BLOCK_DIED(p, block, round_up(p, n));
}
