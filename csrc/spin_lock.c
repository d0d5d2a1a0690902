/* spin_lock.c -- the contended path of the pool's spin lock (spin_lock.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#endif

#include "spin_lock.h"

#include <sched.h>

/* Spins before yielding the CPU: long enough for a free-list pop or push by
   the holder, short enough not to burn a core on a 2-core machine. */
#define SPIN_BEFORE_YIELD 64

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void spin_lock_contended(atomic_int *lock)
{
    for (;;) {
        unsigned spins = 0;
        while (atomic_load_explicit(lock, memory_order_relaxed)) {
            if (++spins < SPIN_BEFORE_YIELD) {
                cpu_relax();
            } else {
                sched_yield(); /* the holder may be descheduled */
                spins = 0;
            }
        }
        if (spin_lock_try(lock))
            return;
    }
}
