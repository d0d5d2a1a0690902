/*
 * bias.h -- biased ownership of a thread-safe pool (internal).
 *
 * The first thread to take a pool's lock becomes its owner and from then on
 * runs the allocate/deallocate fast paths with no atomic read-modify-write:
 * it raises the pool's `busy` flag (a plain store), checks it is still the
 * owner, pops or pushes, and lowers the flag.  Any other thread that takes
 * the lock revokes the bias once: it marks the pool revoked, issues
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) -- every running thread of
 * the process executes a full fence, which orders the owner's flag store
 * before its owner re-check -- then waits for the flag to drop.  Either the
 * owner's re-check saw the revocation (it takes the lock), or the revoker saw
 * the flag (it waits): an asymmetric Dekker handshake.  After that the pool
 * is locked as before, for good.  A pool with thread caches (core/thread_cache.c)
 * starts biased too; its revocation switches it to the caches for good
 * (owner BIAS_CACHED: the lock for their exchanges, never a bias again).
 *
 * Threads are told apart by a per-thread id (an initial-exec TLS word, one
 * load), never by an address that could be reused once a thread exits; an
 * owner that has exited leaves its id behind and a lowered flag, so the
 * next thread revokes at once.  Where membarrier's expedited command cannot
 * be registered (old kernels, seccomp), pools start revoked: the lock alone.
 *
 * Restartable sequences (x86-64 Linux with glibc's rseq registration,
 * BIAS_RSEQ): there the unchecked sized pop and push of the owner
 * (sgi_pool_allocate, sgi_pool_deallocate) need no flag.  Each is one rseq
 * critical section (bias_rseq_pop, bias_rseq_push below): the owner word is
 * compared with this thread's id inside the section, and the store of the
 * list head is its commit.  The revoker's membarrier(PRIVATE_EXPEDITED_RSEQ)
 * restarts every section running anywhere in the process (its re-check then
 * fails and the call takes the flag's path, which sees the revocation);
 * a section that has committed is done.  A thread enters that way only when
 * its own rseq area is registered and the process has registered the RSEQ
 * membarrier: its owner word then carries BIAS_RSEQ_BIT, and the revoker,
 * seeing the bit, issues the RSEQ command (also a full fence on every
 * running thread, so the flag's handshake, which such an owner still uses on
 * every other path, holds as before).  Every other thread and target keeps
 * the flag.  ThreadSanitizer sees neither the membarrier nor the section:
 * its builds keep the flag.
 */
#ifndef SGI_POOL_BIAS_H
#define SGI_POOL_BIAS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Values of a pool's owner word besides a thread id (ids count from 1). */
#define BIAS_UNOWNED UINTPTR_MAX       /* no thread has used the pool yet */
#define BIAS_REVOKED (UINTPTR_MAX - 1) /* locked for good */
#define BIAS_CACHED (UINTPTR_MAX - 2)  /* revoked, and thread caches serve (for good) */

/* Whether an owner word is settled for good (REVOKED or CACHED): no thread
   owns the pool nor ever will. */
static inline bool bias_settled(uintptr_t owner)
{
    return owner - BIAS_CACHED <= BIAS_REVOKED - BIAS_CACHED;
}

#if defined(__GNUC__)
#define BIAS_TLS __attribute__((tls_model("initial-exec")))
#else
#define BIAS_TLS
#endif

/* The owner word of a thread that enters by a restartable sequence: its id
   with this bit (ids stay far below it; so do they with it below BIAS_CACHED). */
#define BIAS_RSEQ_BIT (UINTPTR_MAX / 2 + 1)

/* This thread's id; 0 until bias_self_id assigns it (0 owns nothing). */
extern _Thread_local uintptr_t bias_thread_id BIAS_TLS;

/* What this thread leaves in a pool's owner word when it becomes the owner:
   its id, with BIAS_RSEQ_BIT when it enters by rseq; 0 until assigned. */
extern _Thread_local uintptr_t bias_owner_self BIAS_TLS;

/* bias_owner_self when the thread enters by rseq, else 0 (no owner word):
   the fast paths' one compare inside the section. */
extern _Thread_local uintptr_t bias_rseq_self BIAS_TLS;

/* True when the process can revoke a bias (membarrier's private expedited
   command registered); the first call registers. */
bool bias_available(void);

/* The calling thread's id, assigned on first use (with bias_owner_self). */
uintptr_t bias_self_id(void);

/* The calling thread's owner word (bias_owner_self), assigned on first use. */
uintptr_t bias_self_owner(void);

/* Whether an owner word is the calling thread's (either way of entering). */
static inline bool bias_is_self(uintptr_t owner)
{
    return owner == bias_self_owner();
}

/* Whether the calling thread enters its pools by rseq (bias_rseq_self). */
bool bias_self_rseq(void);

/* Revokes the bias of a pool whose owner word is *owner and in-operation flag
   *busy (called with the pool's lock held, by a thread other than the owner):
   afterwards no owner fast path is running or will run. */
void bias_revoke(_Atomic uintptr_t *owner, const atomic_int *busy);

/* The same, leaving `settled` (BIAS_REVOKED or BIAS_CACHED) in *owner. */
void bias_revoke_to(_Atomic uintptr_t *owner, const atomic_int *busy, uintptr_t settled);

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && \
    !defined(__SANITIZE_THREAD__) && !defined(SGI_POOL_NO_RSEQ)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BIAS_NO_RSEQ_HERE
#endif
#endif
#if !defined(BIAS_NO_RSEQ_HERE) && defined(__has_include)
#if __has_include(<sys/rseq.h>)
#define BIAS_RSEQ 1
#endif
#endif
#endif

#ifdef BIAS_RSEQ
#include <stddef.h>

/* The thread pointer's offset of this thread's rseq_cs word (glibc's
   __rseq_offset + 8; a copy in this library: one load); set by
   bias_available before any thread enters by rseq. */
extern ptrdiff_t bias_rseq_cs_at __attribute__((visibility("hidden")));

/* The signature the kernel finds before an abort handler: glibc's RSEQ_SIG
   for x86 (it registered the areas).  Written as the operand of a reserved
   undefined instruction (ud1), so that falling into it traps. */
#define BIAS_RSEQ_SIG "0x53053053"

/* The parts of one critical section (the rseq selftests' layout): the
   descriptor (struct rseq_cs: version, flags, start, length, abort) in
   section __rseq_cs, the signature and abort handler (a jump to the C label
   `lost`) out of line in __rseq_failure.  Label 1: the start (right after
   the store of rseq_cs, so no instruction lies between arming and the
   section), 2: just past the commit, 3: the descriptor, 4: the abort. */
#define BIAS_RSEQ_ARM                                                              \
    "lea 3f(%%rip), %[tmp]\n\t"                                                    \
    "mov %[tmp], %%fs:(%[cs])\n"                                                   \
    "1:\n\t"
#define BIAS_RSEQ_TABLES                                                           \
    "2:\n\t"                                                                       \
    ".pushsection __rseq_failure, \"ax\"\n\t"                                     \
    ".byte 0x0f, 0xb9, 0x3d\n\t"                                                   \
    ".long " BIAS_RSEQ_SIG "\n"                                                    \
    "4:\n\t"                                                                       \
    "jmp %l[lost]\n\t"                                                             \
    ".popsection\n\t"                                                              \
    ".pushsection __rseq_cs, \"aw\"\n\t"                                          \
    ".balign 32\n"                                                                 \
    "3:\n\t"                                                                       \
    ".long 0, 0\n\t"                                                               \
    ".quad 1b, 2b - 1b, 4b\n\t"                                                    \
    ".popsection\n\t"

/* Fault injection for tests/c/stress_rseq.c only (never in a real build):
   BIAS_RSEQ_TEST_DELAY=N puts N `pause` instructions between the owner
   compare and the list's load, widening the window a revoker must close;
   BIAS_RSEQ_TEST_BROKEN moves the compare (and the delay) before the
   section, the mistake bias.h warns of: it must fail under revocation. */
#ifndef BIAS_RSEQ_TEST_DELAY
#define BIAS_RSEQ_TEST_DELAY 0
#endif
#define BIAS_RSEQ_STR_(x) #x
#define BIAS_RSEQ_STR(x) BIAS_RSEQ_STR_(x)
#define BIAS_RSEQ_CHECK                                                            \
    "cmp %[self], %[owner]\n\t"                                                    \
    "jne %l[lost]\n\t"                                                             \
    ".rept " BIAS_RSEQ_STR(BIAS_RSEQ_TEST_DELAY) "\n\tpause\n\t.endr\n\t"
#ifdef BIAS_RSEQ_TEST_BROKEN
#define BIAS_RSEQ_ENTER BIAS_RSEQ_CHECK BIAS_RSEQ_ARM /* (wrong: see above) */
#else
#define BIAS_RSEQ_ENTER BIAS_RSEQ_ARM BIAS_RSEQ_CHECK
#endif

/* The owner's pop, in one critical section: if *owner is self (this
   thread's rseq owner word), takes the head of *head into *out (NULL when
   the list is empty) and returns true; false when *owner is not self or the
   section was restarted (nothing changed: the caller takes the flag's path). */
__attribute__((always_inline)) static inline bool bias_rseq_pop(const _Atomic uintptr_t *owner,
                                                                uintptr_t self, void **head,
                                                                void **out)
{
    void *block, *tmp;
    __asm__ __volatile__ goto(BIAS_RSEQ_ENTER "mov %[head], %[block]\n\t"
                                            "test %[block], %[block]\n\t"
                                            "jz %l[empty]\n\t"
                                            "mov (%[block]), %[tmp]\n\t"
                                            "mov %[tmp], %[head]\n" BIAS_RSEQ_TABLES
                              : [block] "=&r"(block), [tmp] "=&r"(tmp)
                              : [cs] "r"(bias_rseq_cs_at), [self] "r"(self), [owner] "m"(*owner),
                                [head] "m"(*head)
                              : "memory", "cc"
                              : lost, empty);
    if (block == NULL) /* (the fall-through popped a block: tells the compiler) */
        __builtin_unreachable();
    *out = block;
    return true;
empty:
    *out = NULL;
    return true;
lost:
    return false;
}

/* The owner's push of node onto *head, in one critical section: true when
   pushed; false (nothing changed but node's first word) when *owner is not
   self, *closed is set, or the section was restarted. */
__attribute__((always_inline)) static inline bool bias_rseq_push(const _Atomic uintptr_t *owner,
                                                                 uintptr_t self, void **head,
                                                                 void *node, const bool *closed)
{
    void *tmp;
    __asm__ __volatile__ goto(BIAS_RSEQ_ENTER "cmpb $0, %[closed]\n\t"
                               "jne %l[lost]\n\t"
                               "mov %[head], %[tmp]\n\t"
                               "mov %[tmp], (%[node])\n\t"
                               "mov %[node], %[head]\n" BIAS_RSEQ_TABLES
                 : [tmp] "=&r"(tmp)
                 : [cs] "r"(bias_rseq_cs_at), [self] "r"(self), [owner] "m"(*owner),
                   [head] "m"(*head), [node] "r"(node), [closed] "m"(*closed)
                 : "memory", "cc"
                 : lost);
    return true;
lost:
    return false;
}
#endif /* BIAS_RSEQ */

#endif /* SGI_POOL_BIAS_H */
