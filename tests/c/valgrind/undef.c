#include "sgi_pool.h"
#include <stdio.h>
int main(void) {
    sgi_pool *p = sgi_pool_create(NULL);
    char *a = sgi_pool_allocate(p, 24);
    if (a[3] == 5) puts("five");                  /* reads an undefined byte */
    char *b = sgi_pool_allocate(p, 24);
    b[24] = 1;                                    /* past the block: its neighbour is free */
    sgi_pool_deallocate(p, a, 24); sgi_pool_deallocate(p, b, 24);
    sgi_pool_destroy(p);
    return 0;
}
