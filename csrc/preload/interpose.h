/*
 * interpose.h -- what the two LD_PRELOAD shims share to stand in front of the
 * C library's allocator: csrc/preload/sgi_preload.c (libsgipool.so) and
 * csrc/preload/trace_recorder.c (the trace recorder) include it, nothing else.
 *
 *   - the malloc family's function-pointer types;
 *   - interpose_lookup: the next definition of a name (dlsym(RTLD_NEXT)),
 *     copied into a function pointer the POSIX way;
 *   - the bootstrap buffer: while dlsym runs (glibc's may calloc) the next
 *     allocator is not known yet, so requests take space from a static
 *     buffer, zero and never reused; free and realloc recognise its blocks
 *     with interpose_in_boot.  How a block is laid out in it (the recorder
 *     keeps its size in front) is each file's own.
 *
 * Only static definitions: each shim gets its own copy.  Needs _GNU_SOURCE
 * (RTLD_NEXT) defined before the first system header.
 */
#ifndef POOL_PRELOAD_INTERPOSE_H
#define POOL_PRELOAD_INTERPOSE_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);
typedef void *(*aligned_fn)(size_t, size_t); /* aligned_alloc, memalign */
typedef void *(*valloc_fn)(size_t);          /* valloc, pvalloc */
typedef size_t (*usable_size_fn)(void *);    /* malloc_usable_size */

/* POSIX: a function pointer's bytes may be copied from dlsym's void *
   (ISO C has no cast between the two).  slot: the function pointer's address. */
static inline void interpose_lookup(void *slot, const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    memcpy(slot, &sym, sizeof sym);
}

/* ---- Bootstrap buffer: while dlsym runs ------------------------------------- */

#define INTERPOSE_BOOT_SIZE (64 * 1024)

static _Alignas(16) unsigned char interpose_boot[INTERPOSE_BOOT_SIZE];
static atomic_size_t interpose_boot_used;

/* `need` bytes of the buffer (a multiple of 16 keeps the next block aligned),
   zero; NULL when they do not fit in what is left. */
static inline unsigned char *interpose_boot_take(size_t need)
{
    if (need > sizeof interpose_boot)
        return NULL;
    size_t at = atomic_fetch_add(&interpose_boot_used, need);
    return at + need <= sizeof interpose_boot ? interpose_boot + at : NULL;
}

static inline bool interpose_in_boot(const void *ptr)
{
    return (uintptr_t)ptr - (uintptr_t)interpose_boot < sizeof interpose_boot;
}

#endif /* POOL_PRELOAD_INTERPOSE_H */
