/* dlopen_host.c -- a C program (no C++ runtime at start, as Python) that
   loads a C++ library with RTLD_LOCAL and calls its work(), for
   tests/integrations/test_preload.py.   dlopen_host LIBRARY */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    int (*work)(void);
    void *sym = dlsym(lib, "work");
    if (sym == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    memcpy(&work, &sym, sizeof work);
    fflush(stdout);
    return work();
}
