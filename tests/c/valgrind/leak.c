#include "sgi_pool.h"
static sgi_pool *keep;
int main(void) {
    keep = sgi_pool_create(NULL);
    for (int i = 0; i < 10; i++) {
        char *a = sgi_pool_allocate(keep, 40);    /* lost: never freed */
        a[0] = 1;
    }
    return 0;                                     /* pool still reachable */
}
