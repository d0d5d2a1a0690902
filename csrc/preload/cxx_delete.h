/*
 * cxx_delete.h -- whether libsgipool.so may take C++'s sized deletes
 * (operator delete(void *, size_t) and operator delete[](void *, size_t),
 * `_ZdlPvm` and `_ZdaPvm`) with their size, or must pass them on
 * (csrc/preload/cxx_delete.c decides; sgi_preload.c holds the entry points).
 *
 * The size is the pool's to trust only when the block came from libstdc++'s
 * operator new, which takes it from malloc with the same n (n 0 as 1): then a
 * block of the pool's range has n's class.  A program that replaced operator
 * new or delete keeps its own pairing: its sized deletes go on to the next
 * definition, as without this library.
 */
#ifndef SGI_PRELOAD_CXX_DELETE_H
#define SGI_PRELOAD_CXX_DELETE_H

#include <stddef.h>

typedef void (*sized_delete_fn)(void *, size_t);

enum cxx_mode {
    CXX_UNDECIDED, /* not looked at yet */
    CXX_SIZED,     /* libstdc++'s operators throughout: the pool frees with the size */
    CXX_FORWARD,   /* to the next definitions (libstdc++'s, or the program's own) */
    CXX_LATE       /* no C++ runtime at start: forward, the next ones found at the first call */
};

typedef struct {
    sized_delete_fn next_delete;       /* the next _ZdlPvm, or NULL */
    sized_delete_fn next_delete_array; /* the next _ZdaPvm, or NULL */
    char why[192];                     /* not CXX_SIZED: why, for the stats and the banner */
} cxx_verdict;

/* Writes the strings up to a NULL after out's end (each cut to max bytes, the
   whole cut to room - 1, NUL-ended): the start-up's messages without
   snprintf, whose formatting code would be paged into every program the
   library is loaded into (its pages count in the program's RSS). */
void text_join(char *out, size_t room, size_t max, ...);

/* CXX_SIZED when the next _ZdlPvm and _ZdaPvm (dlsym RTLD_NEXT) are
   libstdc++'s and every operator new and unsized delete the program sees
   (dlsym RTLD_DEFAULT: plain, array, nothrow) is absent or in that same
   libstdc++; CXX_FORWARD when one is elsewhere; CXX_LATE when no libstdc++
   is loaded (then without a dlsym: a failing one allocates its message) or
   neither sized delete is found.  Fills *out (the next definitions, and why
   when not CXX_SIZED).  Takes the dynamic loader's lock. */
enum cxx_mode cxx_decide(cxx_verdict *out);

/* CXX_LATE's first call: the sized deletes of the libstdc++ loaded now
   (dlopen RTLD_NOLOAD, which finds a copy loaded RTLD_LOCAL, as Python loads
   its extensions), else those the object holding `caller` sees; not `own`
   (this library's _ZdlPvm) nor `own_array`.  NULL where none is found. */
void cxx_find_late(cxx_verdict *out, const void *caller, sized_delete_fn own,
                   sized_delete_fn own_array);

#endif /* SGI_PRELOAD_CXX_DELETE_H */
