/* fork_registry.c -- the pools locked across fork() (fork_registry.h). */
#include "fork_registry.h"
#include "bias.h"
#include "spin_lock.h"

#include <pthread.h>
#include <stddef.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static fork_entry *registry_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (fork_entry *e = registry_head; e != NULL; e = e->next) {
        spin_lock_acquire(e->lock);
        if (e->bias_owner != NULL) {
            uintptr_t owner = atomic_load_explicit(e->bias_owner, memory_order_relaxed);
            if (!bias_settled(owner) && owner != BIAS_UNOWNED && owner != bias_self_id())
                bias_revoke_to(e->bias_owner, e->bias_busy, e->bias_revoked_to);
        }
        if (e->before_fork != NULL)
            e->before_fork(e);
    }
}

static void fork_release(void)
{
    for (fork_entry *e = registry_head; e != NULL; e = e->next)
        spin_lock_release(e->lock);
    pthread_mutex_unlock(&registry_lock);
}

static void fork_child(void)
{
    for (fork_entry *e = registry_head; e != NULL; e = e->next)
        if (e->in_child != NULL)
            e->in_child(e);
    fork_release();
}

static void install_atfork(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_child);
}

void fork_registry_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

void fork_registry_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

void fork_registry_add(fork_entry *e)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&registry_lock);
    e->prev = NULL;
    e->next = registry_head;
    if (registry_head != NULL)
        registry_head->prev = e;
    registry_head = e;
    pthread_mutex_unlock(&registry_lock);
}

void fork_registry_remove(fork_entry *e)
{
    pthread_mutex_lock(&registry_lock);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        registry_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&registry_lock);
}
