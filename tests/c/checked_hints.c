/*
 * checked_hints.c -- a checked pool's fast allocate sets a block's live bit
 * where the fast free of that block left it (pool_state.h's hints); a trim
 * that releases the block's chunk must forget that, or a chunk that later
 * starts at the same address gets a block whose live bit went to the
 * released chunk's bitmap, and the block's free is refused.  Built by
 * tests/core/test_trim_c.py with tests/c/chunk_reuse_hook.h forced into
 * sgi_pool.c: chunks are 64 KiB slots, a released slot the next one used.
 */
#include "sgi_pool.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>

#define SLOT 65536
#define SLOTS 16

static alignas(16) unsigned char arena[SLOTS][SLOT];
static int next_slot;
static void *released; /* the slot released last, handed out next */

void *test_chunk(size_t n)
{
    void *mem = NULL;
    if (n <= SLOT) {
        if (released != NULL) {
            mem = released;
            released = NULL;
        } else if (next_slot < SLOTS) {
            mem = arena[next_slot++];
        }
    }
    return mem;
}

void test_chunk_release(void *base, size_t size)
{
    (void)size;
    released = base;
}

#define FAIL(what)                                                                             \
    do {                                                                                       \
        printf("FAILED: %s\n", what);                                                          \
        return 1;                                                                              \
    } while (0)

int main(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = 1;
    sgi_pool *p = sgi_pool_create(&o);
    /* the first chunk: 640 bytes, 40 blocks of 16; the 41st block is the
       second chunk's first */
    void *a[41];
    for (int i = 0; i < 41; i++)
        a[i] = sgi_pool_allocate(p, 16);
    if (a[1] != (unsigned char *)a[0] + 16 || a[0] != (void *)arena[0] ||
        a[40] != (void *)arena[1])
        FAIL("the first chunk's layout");
    /* every block of the first chunk freed, a[1] last: its class's hint */
    for (int i = 39; i >= 0; i--)
        if (i != 1 && sgi_pool_deallocate_checked(p, a[i], 16) != SGI_POOL_OK)
            FAIL("a free");
    if (sgi_pool_deallocate_checked(p, a[1], 16) != SGI_POOL_OK)
        FAIL("a free");
    if (sgi_pool_trim(p) != 640 || released != arena[0])
        FAIL("the trim of the first chunk");
    /* the lists of class 16, then a chunk at the released one's address:
       its refill hands out a[0]'s address and lists a[1]'s first */
    for (int i = 0;; i++) {
        void *b = sgi_pool_allocate(p, 16);
        if (b == NULL || i > 1000)
            FAIL("no chunk at the released address");
        if (b == a[0])
            break;
    }
    void *again = sgi_pool_allocate(p, 16); /* the head: a[1]'s address */
    if (again != a[1])
        FAIL("the refill's order");
    int s = sgi_pool_deallocate_checked(p, again, 16);
    if (s != SGI_POOL_OK) {
        printf("FAILED: the free of a live block refused (%d)\n", s);
        return 1;
    }
    if (sgi_pool_deallocate_checked(p, again, 16) != SGI_POOL_ENOTLIVE)
        FAIL("a double free accepted");
    sgi_pool_destroy(p);
    printf("ok: hints forgotten at trim\n");
    return 0;
}
