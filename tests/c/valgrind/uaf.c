#include "sgi_pool.h"
#include <string.h>
int main(void) {
    sgi_pool *p = sgi_pool_create(NULL);          /* unchecked */
    char *a = sgi_pool_allocate(p, 24);
    memset(a, 1, 24);
    sgi_pool_deallocate(p, a, 24);
    a[12] = 7;                                    /* use after free */
    sgi_pool_destroy(p);
    return 0;
}
