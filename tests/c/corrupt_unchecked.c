/* A caller's double free corrupts an unchecked pool (the documented hazard);
 * a build with -DSGI_POOL_VALIDATE notices at the next call and aborts with
 * the invariant broken.  "clean" runs a correct program instead. */
#include "sgi_pool.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o); /* unchecked */
    sgi_pool *p = sgi_pool_create(&o);
    void *a = sgi_pool_allocate(p, 24);
    void *b = sgi_pool_allocate(p, 24);
    sgi_pool_deallocate(p, a, 24);
    if (argc > 1 && strcmp(argv[1], "clean") == 0) {
        sgi_pool_deallocate(p, b, 24);
        for (int i = 0; i < 5000; i++)
            sgi_pool_deallocate(p, sgi_pool_allocate(p, (size_t)(i % 300) + 1), (size_t)(i % 300) + 1);
    } else {
        sgi_pool_deallocate(p, a, 24); /* a pushed on itself: a cycle, V3 */
    }
    (void)sgi_pool_heap_size(p); /* any call: the check runs as it unlocks */
    sgi_pool_destroy(p);
    printf("all checks passed\n");
    return 0;
}
