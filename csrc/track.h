/*
 * track.h -- what the memory checkers (Valgrind's memcheck, AddressSanitizer)
 * are told about the pool's memory, in the pool's own terms (internal).
 *
 * The pool carves blocks out of malloc'ed chunks, so neither checker can see
 * a block's life by itself.  The pool says it with five verbs:
 *
 *   MEM_NOACCESS   uncarved tails and free blocks: any access is an error
 *   MEM_WRITABLE   memory the pool is about to write (undefined until then)
 *   MEM_READABLE   memory the pool itself reads (a free block's link word)
 *   BLOCK_BORN     a block handed out (memcheck: a mempool allocation)
 *   BLOCK_DIED     a block freed (memcheck: a mempool free; ASan: poisoned)
 *
 * Each verb compiles to nothing when neither checker is there: memcheck's
 * requests need Valgrind's headers at build time (Debian's valgrind package)
 * and cost a few no-op instructions outside Valgrind; ASan's need an ASan
 * build (scripts/sanitize.sh).  SGI_POOL_NO_VALGRIND leaves Valgrind out.
 */
#ifndef SGI_POOL_TRACK_H
#define SGI_POOL_TRACK_H

/* Valgrind's client requests, when its headers are installed (Debian's
   valgrind package); otherwise they compile to nothing. */
#if defined(__has_include) && !defined(SGI_POOL_NO_VALGRIND)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SGI_POOL_HAVE_VALGRIND 1
#endif
#endif
#ifndef SGI_POOL_HAVE_VALGRIND
#define VALGRIND_CREATE_MEMPOOL(pool, rzB, is_zeroed) ((void)0)
#define VALGRIND_DESTROY_MEMPOOL(pool) ((void)0)
#define VALGRIND_MEMPOOL_ALLOC(pool, addr, size) ((void)0)
#define VALGRIND_MEMPOOL_FREE(pool, addr) ((void)0)
#define VALGRIND_MOVE_MEMPOOL(pool_a, pool_b) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(addr, len) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(addr, len) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)0)
#define RUNNING_ON_VALGRIND 0
#endif

/* AddressSanitizer's manual poisoning, in ASan builds (scripts/sanitize.sh):
   free blocks and uncarved tails are poisoned like freed malloc memory. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SGI_POOL_ASAN 1
#else
#define SGI_POOL_ASAN 0
#define ASAN_POISON_MEMORY_REGION(addr, len) ((void)(addr), (void)(len))
#define ASAN_UNPOISON_MEMORY_REGION(addr, len) ((void)(addr), (void)(len))
#endif

/* What the memory checkers are told, in the pool's own terms. */
#define BOTH(valgrind_request, asan_call) \
    do {                                  \
        valgrind_request;                 \
        asan_call;                        \
    } while (0)
#define MEM_NOACCESS(addr, len) \
    BOTH(VALGRIND_MAKE_MEM_NOACCESS(addr, len), ASAN_POISON_MEMORY_REGION(addr, len))
#define MEM_WRITABLE(addr, len) \
    BOTH(VALGRIND_MAKE_MEM_UNDEFINED(addr, len), ASAN_UNPOISON_MEMORY_REGION(addr, len))
#define MEM_READABLE(addr, len) \
    BOTH(VALGRIND_MAKE_MEM_DEFINED(addr, len), ASAN_UNPOISON_MEMORY_REGION(addr, len))
#define BLOCK_BORN(pool, addr, size) \
    BOTH(VALGRIND_MEMPOOL_ALLOC(pool, addr, size), ASAN_UNPOISON_MEMORY_REGION(addr, size))
#define BLOCK_DIED(pool, addr, size) \
    BOTH(VALGRIND_MEMPOOL_FREE(pool, addr), ASAN_POISON_MEMORY_REGION(addr, size))

#endif /* SGI_POOL_TRACK_H */
