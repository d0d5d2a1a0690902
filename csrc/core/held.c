/*
 * held.c -- held blocks (B.1): a foreign owner's blocks that may outlive
 * close() (numpy's data-memory handler: an array can outlive its pool).  The
 * pool counts them; a close() while some are live moves the memory into a
 * copy that only these calls see (lifecycle.c's retire_memory), released
 * when the last held block is freed, or at destroy.
 */
/* Where ptr's memory is, under p's lock: p while open, the retired copy after
   a close() under held blocks, none once that memory is gone. */
static sgi_pool *held_memory(sgi_pool *p)
{
    if (!p->closed)
        return p;
    return p->retired_live ? p->retired : NULL;
}

static void held_block_gone(sgi_pool *p)
{
    if (p->held != 0) /* (a held block freed through the other calls: not counted) */
        p->held--;
    if (p->held == 0 && p->retired_live)
        release_retired(p);
}

void *sgi_pool_allocate_held(sgi_pool *p, size_t n)
{
    REQUIRE(p != NULL);
    /* Fast path of sgi_pool_allocate's locked pools (numpy's default pool):
       the pop and the count, by the bias owner or under an uncontended lock;
       a closed pool's lists are empty. */
    if (LIKELY(n - 1 < p->locked_max)) {
        bool biased = bias_enter(p);
        if (biased || pool_try_lock(p)) {
            size_t cls = class_index(p, n);
            free_node *block = p->retired != NULL ? p->free_list[cls] : NULL;
            if (LIKELY(block != NULL)) {
                p->free_list[cls] = block->next;
                p->held++;
            }
            if (biased)
                bias_leave(p);
            else
                pool_unlock_raw(p);
            if (LIKELY(block != NULL))
                return block;
        }
    }
    void *block = NULL;
    pool_lock(p);
    if (p->retired == NULL && !p->closed)
        p->retired = malloc(pool_bytes(p->nlists)); /* once: close() must not fail later */
    if (p->retired != NULL) {
        block = allocate_locked(p, n); /* NULL on a closed pool */
        if (block != NULL)
            p->held++;
    } else {
        last_refused = 0;
    }
    pool_unlock(p);
    return block;
}

int sgi_pool_free_held(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
    bool foreign = false;
    if (LIKELY(p->locked_max != 0) && LIKELY(free_fast(p, ptr, 0, true, &foreign)))
        return SGI_POOL_OK; /* (a closed pool's directory is empty: never here) */
    if (foreign) /* an open pool's answer: the system's block (numpy's large data) */
        return SGI_POOL_ENOTLIVE;
    pool_lock(p);
    sgi_pool *m = held_memory(p);
    size_t n = m ? known_size(m, ptr) : 0;
    if (n) {
        free_block(m, ptr, n);
        held_block_gone(p);
    }
    pool_unlock(p);
    return n ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
}

/* sgi_pool_free_held with the block's size, as sgi_pool_deallocate trusts it:
   on an open pool with the locked lists (the pools numpy's handler uses), the
   push onto n's list by the bias owner or under an uncontended lock, with no
   directory lookup -- the list effect of free_held's free_fast for a block of
   n's class, the held count included.  Everything else (a closed pool's
   retired memory, a busy lock, checked or single-thread pools, thread
   caches, n 0) takes free_held, which looks the block up and reports. */
int sgi_pool_deallocate_held(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
    if (LIKELY(n - 1 < p->locked_max)) {
        bool biased = bias_enter(p);
        if (biased || pool_try_lock(p)) {
            bool open = !p->closed;
            if (LIKELY(open)) {
                free_node *node = ptr;
                size_t cls = class_index(p, n);
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
                if (p->held != 0) /* as free_fast: an open pool's count alone */
                    p->held--;
            }
            if (biased)
                bias_leave(p);
            else
                pool_unlock(p);
            if (LIKELY(open))
                return SGI_POOL_OK;
        }
    }
    return sgi_pool_free_held(p, ptr);
}

/* A held block of a closed pool, resized: it moves to malloc (the pool serves
   nothing more), and its old block goes as by sgi_pool_free_held. */
static int move_out(sgi_pool *p, sgi_pool *r, void *ptr, size_t old_n, size_t new_n,
                    void **out)
{
    void *q = malloc(new_n);
    if (q == NULL)
        return SGI_POOL_ENOMEM;
    memcpy(q, ptr, old_n < new_n ? old_n : new_n);
    free_block(r, ptr, old_n);
    held_block_gone(p);
    *out = q;
    return SGI_POOL_OK;
}

int sgi_pool_realloc_held(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) { /* as realloc(NULL, n): allocate(n) */
        if (new_n == 0)
            return SGI_POOL_OK;
        *out = sgi_pool_allocate_held(p, new_n);
        return *out ? SGI_POOL_OK : SGI_POOL_ENOMEM;
    }
    if (new_n == 0)
        return sgi_pool_free_held(p, ptr);
    pool_lock(p);
    int status = SGI_POOL_ENOTLIVE;
    sgi_pool *m = held_memory(p);
    size_t old_n = m ? known_size(m, ptr) : 0;
    if (old_n != 0)
        status = m == p ? reallocate_locked(p, ptr, old_n, new_n, out)
                        : move_out(p, m, ptr, old_n, new_n, out);
    pool_unlock(p);
    return status;
}
