/*
 * validate.c -- pool_is_valid: the invariants V1..V7 (listed in
 * pool_state.h), walked after a pool's calls in builds with
 * -DSGI_POOL_VALIDATE (POOL_VALIDATE=1; scripts/sanitize.sh makes one).
 */
#ifdef SGI_POOL_VALIDATE
#include <stdio.h>

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static bool inside_a_chunk(const sgi_pool *p, uintptr_t start, uintptr_t end)
{
    for (size_t i = 0; i < p->nchunks; i++)
        if (start >= p->chunks[i].base && end <= p->chunks[i].base + p->chunks[i].size)
            return true;
    return false;
}

/* The first invariant broken (its number, V1..V7), or 0; called with the lock
   held.  The walk is O(free blocks x log) and allocates a scratch array
   (with the system's malloc, never the pool's). */
static int pool_is_valid(sgi_pool *p)
{
    if (p->closed)
        return 0;
    size_t heap = 0;
    for (size_t i = 0; i < p->nchunks; i++)
        heap += p->chunks[i].size;
    if (heap != p->heap_size - p->released_bytes)
        return 1;
    if (p->start_free > p->end_free || p->start_free % p->align != 0 ||
        (p->start_free != p->end_free && !inside_a_chunk(p, p->start_free, p->end_free)))
        return 2;
    size_t total = 0;
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t len = walk_free_list(p, cls, NULL, 0);
        if (len > p->carved[cls])
            return 3;
        total += len;
    }
    uintptr_t *all = total ? malloc(total * sizeof *all) : NULL;
    if (total && all == NULL)
        return 0; /* no memory to check with: not a finding */
    int broken = 0;
    size_t k = 0;
    for (size_t cls = 0; cls < p->nlists && !broken; cls++) {
        size_t size = (cls + 1) * p->align;
        for (const free_node *n = p->free_list[cls]; n != NULL; n = read_link(n)) {
            uintptr_t addr = (uintptr_t)n;
            dir_chunk *c = dir_find(&p->dir, addr);
            if (c == NULL || carved_size(p, c, n) != size || live_small_size(p, n) != 0) {
                broken = 4;
                break;
            }
            all[k++] = addr;
        }
    }
    if (!broken && k > 1) {
        qsort(all, k, sizeof *all, compare_addresses);
        for (size_t i = 1; i < k; i++)
            if (all[i] == all[i - 1])
                broken = 5;
    }
    free(all);
    if (broken)
        return broken;
    if (p->checked) {
        size_t *live = calloc(p->nlists, sizeof *live);
        size_t *free_len = calloc(p->nlists, sizeof *free_len);
        if (live != NULL && free_len != NULL) {
            count_classes(p, free_len, live);
            for (size_t cls = 0; cls < p->nlists; cls++)
                if (live[cls] + free_len[cls] != p->carved[cls])
                    broken = 6;
        }
        free(live);
        free(free_len);
        if (broken)
            return broken;
    }
    size_t large = 0, large_bytes = 0;
    for (size_t i = 0; i < p->blocks.capacity; i++) {
        const block_entry *e = &p->blocks.slots[i];
        if (e->addr != 0 && !is_small(p, e->size & ~PENDING_MARK)) {
            large++;
            large_bytes += e->size & ~PENDING_MARK;
        }
    }
    if (large != p->large_live || large_bytes != p->large_bytes)
        return 7;
    return 0;
}

static void validate_or_abort(sgi_pool *p)
{
    size_t n = ++p->validations;
    if (n > VALIDATE_FULL && n % VALIDATE_EVERY != 0)
        return;
    int broken = pool_is_valid(p);
    if (broken) {
        fprintf(stderr, "sgi_pool: invariant V%d broken (pool %p, call %zu; see csrc/core/pool_state.h)\n",
                broken, (void *)p, n);
        abort();
    }
}
#endif /* SGI_POOL_VALIDATE */
