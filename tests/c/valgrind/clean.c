#include "sgi_pool.h"
#include <string.h>
int main(void) {
    sgi_pool *p = sgi_pool_create(NULL);
    void *v[100];
    for (int i = 0; i < 100; i++) { v[i] = sgi_pool_allocate(p, (size_t)(i % 200) + 1); memset(v[i], i, (size_t)(i % 200) + 1); }
    for (int i = 0; i < 100; i++) sgi_pool_deallocate(p, v[i], (size_t)(i % 200) + 1);
    char *x = sgi_pool_allocate(p, 16); x[15] = 1; x = sgi_pool_reallocate(p, x, 16, 300); x[299] = 2;
    sgi_pool_deallocate(p, x, 300);
    sgi_pool_destroy(p);
    return 0;
}
