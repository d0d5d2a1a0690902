/*
 * trim.c -- sgi_pool_trim: chunks whose carved blocks are all free go back
 * to the system (docs/algorithm.md B.13, an addition of ours: SGI's pool
 * never returns a chunk before the process ends).
 *
 * Every byte of a chunk is a carved block (live or free) or part of the
 * uncarved tail [start_free, end_free): a new chunk is carved at once, a
 * leftover tail becomes a block (3.2), a salvaged block becomes the tail
 * (3.4).  So a chunk whose free blocks add up to its size holds nothing
 * live and is not the current chunk (whose tail is on no list).  The trim:
 *
 *   1. hands the thread caches' blocks back to the lists (as salvage does);
 *   2. adds up the free bytes per chunk, walking every list once;
 *   3. unlinks the blocks of those chunks, keeping the order of the rest:
 *      step 2 noted each list's runs of neighbours from one chunk, so the
 *      kept runs are joined without walking the released ones again (a list
 *      of too many runs, or no memory for them: a second walk that stops
 *      once the list's kept blocks are all relinked);
 *   4. gives the chunks back (POOL_CHUNK_RELEASE), drops their records and
 *      their directory entries (dir_remove), and counts them.
 *
 * heap_size, the growth term of 3.1, keeps counting every chunk ever
 * obtained; what the pool holds (held(), which the heap limit checks) is
 * heap_size - released_bytes + large_bytes.
 *
 * Scratch memory comes from calloc (and realloc, free), never malloc, and no
 * libc call here allocates: in the LD_PRELOAD build malloc is the chunk
 * source (csrc/preload/sys_alloc.h), calloc the system's.
 */

typedef struct trim_chunk {
    uintptr_t base;
    size_t size;
    size_t free_bytes; /* bytes of its blocks on the lists (and caches) */
    size_t *per_class; /* its free blocks per class */
    bool release;
} trim_chunk;

/* Consecutive blocks of one list that lie in one chunk (NULL: in none). */
typedef struct trim_run {
    free_node *first, *last;
    const trim_chunk *chunk;
} trim_run;

/* Runs noted per trim at most: 1.5 MiB (free lists made by bursts have a few
   runs per chunk; a list shuffled block by block has one per block). */
#define TRIM_MAX_RUNS ((size_t)1 << 16)

typedef struct trim_scan {
    trim_chunk *chunks; /* sorted by base */
    size_t n;
    size_t hint;    /* the chunk found last: list neighbours share chunks */
    size_t *keep;   /* per class: blocks that stay on the list */
    size_t *drop;   /* per class: blocks of released chunks */
    size_t *counts; /* nlists counters per chunk, then keep, then drop */
    trim_run *runs; /* the lists' runs, class after class; NULL: none noted */
    size_t nruns, runs_cap;
    size_t *run_start; /* per class: its first run (nlists + 1 entries) */
} trim_scan;

/* Notes a run of the list being walked: `count` blocks from first to last,
   all in chunk c; gives the runs up (NULL) when there are too many, or no
   memory. */
static void trim_note(trim_scan *s, size_t cls, trim_chunk *c, free_node *first, free_node *last,
                      size_t count)
{
    if (c != NULL)
        c->per_class[cls] += count;
    if (s->runs == NULL)
        return;
    if (s->nruns == s->runs_cap) {
        size_t cap = 2 * s->runs_cap;
        trim_run *grown = cap <= TRIM_MAX_RUNS ? realloc(s->runs, cap * sizeof *grown) : NULL;
        if (grown == NULL) {
            free(s->runs);
            free(s->run_start);
            s->runs = NULL;
            s->run_start = NULL;
            return;
        }
        s->runs = grown;
        s->runs_cap = cap;
    }
    s->runs[s->nruns++] = (trim_run){first, last, c};
}

/* Heapsort by base: qsort may call malloc for its scratch (glibc's does for
   large arrays), and in the LD_PRELOAD build malloc is this pool. */
static void trim_sift(trim_chunk *a, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && a[child + 1].base > a[child].base)
            child++;
        if (a[root].base >= a[child].base)
            return;
        trim_chunk t = a[root];
        a[root] = a[child];
        a[child] = t;
    }
}

static void trim_sort(trim_chunk *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        trim_sift(a, i, n);
    for (size_t end = n; end-- > 1;) {
        trim_chunk t = a[0];
        a[0] = a[end];
        a[end] = t;
        trim_sift(a, 0, end);
    }
}

/* The chunk holding addr, or NULL (only a corrupted unchecked list can hold
   such an address). */
static trim_chunk *trim_find(trim_scan *s, uintptr_t addr)
{
    trim_chunk *h = &s->chunks[s->hint];
    if (addr - h->base < h->size)
        return h;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < s->chunks[mid].base)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == 0 || addr - s->chunks[lo - 1].base >= s->chunks[lo - 1].size)
        return NULL;
    s->hint = lo - 1;
    return &s->chunks[lo - 1];
}

/* Makes the scratch tables; false when memory is short (nothing changed). */
static bool trim_scan_init(const sgi_pool *p, trim_scan *s)
{
    *s = (trim_scan){0};
    if (p->nchunks == 0)
        return true;
    s->chunks = calloc(p->nchunks, sizeof *s->chunks);
    s->counts = calloc((p->nchunks + 2) * p->nlists, sizeof *s->counts);
    if (s->chunks == NULL || s->counts == NULL) {
        free(s->chunks);
        free(s->counts);
        return false;
    }
    s->n = p->nchunks;
    s->keep = s->counts + s->n * p->nlists;
    s->drop = s->keep + p->nlists;
    for (size_t i = 0; i < s->n; i++)
        s->chunks[i] = (trim_chunk){p->chunks[i].base, p->chunks[i].size, 0, NULL, false};
    trim_sort(s->chunks, s->n);
    for (size_t i = 0; i < s->n; i++)
        s->chunks[i].per_class = s->counts + i * p->nlists;
    return true;
}

/* Makes room for noting runs (trim only); without it the unlinking walks. */
static void trim_scan_runs(const sgi_pool *p, trim_scan *s)
{
    s->runs_cap = 64;
    s->runs = calloc(s->runs_cap, sizeof *s->runs);
    s->run_start = calloc(p->nlists + 1, sizeof *s->run_start);
    if (s->runs == NULL || s->run_start == NULL) {
        free(s->runs);
        free(s->run_start);
        s->runs = NULL;
        s->run_start = NULL;
    }
}

static void trim_scan_free(trim_scan *s)
{
    free(s->chunks);
    free(s->counts);
    free(s->runs);
    free(s->run_start);
}

/* Step 2: free blocks per chunk and class, from the lists and (for the
   stats, which move no block) the thread caches; then which chunks go, and
   per class how many blocks stay (`keep`, lists only) and go (`drop`).
   The walks stop after `carved` nodes, as every list walk of the pool does. */
static void trim_count(const sgi_pool *p, trim_scan *s)
{
    if (s->n == 0)
        return;
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t seen = 0, run = 0;
        if (s->runs != NULL)
            s->run_start[cls] = s->nruns;
        /* per block only a range compare while the list stays in one chunk */
        trim_chunk *c = NULL;
        free_node *first = NULL, *last = NULL;
        for (free_node *n = p->free_list[cls]; n != NULL && seen <= p->carved[cls];
             n = read_link(n), seen++) {
            if (c == NULL || (uintptr_t)n - c->base >= c->size) {
                trim_chunk *found = trim_find(s, (uintptr_t)n);
                if (run != 0 && found != c) {
                    trim_note(s, cls, c, first, last, run);
                    run = 0;
                }
                if (run == 0)
                    first = n;
                c = found;
            }
            last = n;
            run++;
        }
        if (run != 0)
            trim_note(s, cls, c, first, last, run);
        s->keep[cls] = seen; /* the list's length, for now */
        if (s->runs != NULL)
            s->run_start[cls + 1] = s->nruns;
        for (const tcache *t = p->caches; t != NULL; t = t->pool_next)
            for (const free_node *n = t->cls[cls].head; n != NULL && seen <= p->carved[cls];
                 n = n->next, seen++) {
                trim_chunk *found = trim_find(s, (uintptr_t)n);
                if (found != NULL)
                    found->per_class[cls]++;
            }
    }
    for (size_t k = 0; k < p->nspans; k++) { /* released spans: nothing in use (B.14) */
        trim_chunk *c = trim_find(s, p->spans[k].start);
        if (c != NULL)
            c->free_bytes += p->spans[k].end - p->spans[k].start;
    }
    bool tail = p->start_free != p->end_free;
    for (size_t i = 0; i < s->n; i++) {
        trim_chunk *c = &s->chunks[i];
        bool current = tail && p->start_free - c->base < c->size;
        for (size_t cls = 0; cls < p->nlists; cls++)
            c->free_bytes += c->per_class[cls] * ((cls + 1) << p->align_shift);
        c->release = c->free_bytes == c->size && !current;
        if (c->release)
            for (size_t cls = 0; cls < p->nlists; cls++)
                s->drop[cls] += c->per_class[cls];
    }
    /* (a trim hands the caches back first; the stats read only the chunks) */
    for (size_t cls = 0; cls < p->nlists; cls++)
        s->keep[cls] = s->keep[cls] > s->drop[cls] ? s->keep[cls] - s->drop[cls] : 0;
}

static size_t trim_units(sgi_pool *p, trim_scan *s, bool apply);

/* Bytes (and chunks) a trim would release now, and (pages not NULL) the
   bytes of the pages a page trim would release beyond them (B.14); the
   caller holds the lock. */
static size_t trim_releasable(sgi_pool *p, size_t *chunks, size_t *pages)
{
    trim_scan s;
    size_t bytes = 0;
    *chunks = 0;
    if (pages != NULL)
        *pages = 0;
    if (p->closed || !trim_scan_init(p, &s))
        return 0;
    trim_count(p, &s);
    for (size_t i = 0; i < s.n; i++) {
        if (s.chunks[i].release) {
            bytes += s.chunks[i].size;
            ++*chunks;
        }
    }
    if (pages != NULL)
        *pages = trim_units(p, &s, false);
    trim_scan_free(&s);
    return bytes;
}

/* Step 3 for one list, from its runs: the kept runs are joined in order. */
static void trim_join(sgi_pool *p, const trim_scan *s, size_t cls)
{
    free_node *head = NULL, *last = NULL;
    for (size_t r = s->run_start[cls]; r < s->run_start[cls + 1]; r++) {
        const trim_run *run = &s->runs[r];
        if (run->chunk != NULL && run->chunk->release)
            continue;
        if (last == NULL)
            head = run->first;
        else
            write_link(last, run->first);
        last = run->last;
    }
    if (last != NULL)
        write_link(last, NULL);
    p->free_list[cls] = head;
    p->carved[cls] -= s->drop[cls];
}

/* Step 3 for one list, walking it: the blocks of kept chunks stay, in their
   order. */
static void trim_unlink(sgi_pool *p, trim_scan *s, size_t cls)
{
    free_node *head = NULL, *last = NULL, *last_next = NULL;
    size_t kept = 0, seen = 0;
    for (free_node *n = p->free_list[cls]; n != NULL && kept < s->keep[cls] &&
                                           seen <= p->carved[cls];
         seen++) {
        free_node *next = read_link(n);
        trim_chunk *c = trim_find(s, (uintptr_t)n);
        if (c == NULL || !c->release) {
            if (last == NULL)
                head = n;
            else if (last_next != n) /* a run of kept blocks needs no write */
                write_link(last, n);
            last = n;
            last_next = next;
            kept++;
        }
        n = next;
    }
    if (last != NULL && last_next != NULL) /* the rest of the list is released */
        write_link(last, NULL);
    p->free_list[cls] = head;
    p->carved[cls] -= s->drop[cls];
}

size_t sgi_pool_trim(sgi_pool *p)
{
    REQUIRE(p != NULL);
    pool_lock(p);
    trim_scan s;
    if (p->closed || p->nchunks == 0 || !trim_scan_init(p, &s)) {
        pool_unlock(p);
        return 0;
    }
    if (p->caches != NULL) /* 1. */
        tcache_flush_all(p, false);
    trim_scan_runs(p, &s);
    trim_count(p, &s); /* 2. */

    size_t released = 0, nreleased = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.chunks[i].release) {
            released += s.chunks[i].size;
            nreleased++;
        }
    }
    if (released == 0) {
        trim_scan_free(&s);
        pool_unlock(p);
        return 0;
    }

    for (size_t cls = 0; cls < p->nlists; cls++) { /* 3. */
        if (s.drop[cls] == 0)
            continue;
        if (s.runs != NULL)
            trim_join(p, &s, cls);
        else
            trim_unlink(p, &s, cls);
    }

    /* 4. the records keep their acquisition order */
    size_t kept = 0;
    for (size_t i = 0; i < p->nchunks; i++) {
        chunk_record r = p->chunks[i];
        trim_chunk *c = trim_find(&s, r.base);
        if (!c->release) {
            p->chunks[kept++] = r;
            continue;
        }
        if (p->start_free - r.base <= r.size) /* an empty tail at or inside it */
            p->start_free = p->end_free = 0;
        dir_remove(&p->dir, r.base);
        MEM_WRITABLE((void *)r.base, r.size); /* back to the system's */
        POOL_CHUNK_RELEASE((void *)r.base, r.size);
        totals_sub(1, r.size);
    }
    p->nchunks = kept;
    size_t spans_kept = 0; /* the spans of released chunks go with them, the others keep
                              their order */
    for (size_t k = 0; k < p->nspans; k++) {
        span_record sp = p->spans[k];
        trim_chunk *c = trim_find(&s, sp.start);
        if (c != NULL && c->release)
            p->span_bytes -= sp.end - sp.start;
        else
            p->spans[spans_kept++] = sp;
    }
    p->nspans = spans_kept;
    if (nreleased != 0) /* the hints may name a released chunk's bitmap */
        forget_hints(p);
    p->released_chunks += nreleased;
    p->released_bytes += released;
    trim_scan_free(&s);
    pool_unlock(p);
    POOL_CHUNKS_RELEASED(); /* outside the lock: it walks the system's heap */
    return released;
}

/* ---- B.14: the pages of kept chunks ---------------------------------------- */

/* The unit of a page trim, counted from each chunk's base: 4096 bytes, or
   8192 when blocks may exceed 2048 bytes, so that a released span (at least
   a unit less one block) is always larger than max_small: what tells its
   start from a block's in the directory. */
static size_t trim_unit(const sgi_pool *p)
{
    return p->max_bytes <= POOL_TRIM_PAGE / 2 ? POOL_TRIM_PAGE : 2 * POOL_TRIM_PAGE;
}

/* Per chunk of a scan: which granules free blocks cover, which units they
   cover wholly, and per unit the first start and the last end of those
   blocks. */
typedef struct unit_scan {
    uint64_t *cover;
    unsigned char *whole;
    uintptr_t *first, *last;
    size_t nunits;
} unit_scan;

static void unit_scan_free(unit_scan *u, size_t n)
{
    for (size_t i = 0; u != NULL && i < n; i++) {
        free(u[i].cover);
        free(u[i].whole);
        free(u[i].first);
        free(u[i].last);
    }
    free(u);
}

/* The units of the chunks a whole-chunk trim keeps that blocks on the free
   lists (and, for the stats, in the thread caches) cover wholly; their
   bytes.  With `apply` (the caches handed back, the lock held), their
   blocks leave the lists (stable filters) and each run of such units
   becomes a released span: from the first block starting in it to the end
   of the last, the start bits inside cleared; the run's pages go back.  A
   page trim short of scratch memory releases no page. */
static size_t trim_units(sgi_pool *p, trim_scan *s, bool apply)
{
    size_t unit = trim_unit(p), shift = p->align_shift, bytes = 0;
    size_t per_unit = unit >> shift; /* granules: a multiple of 64 */
    if (s->n == 0)
        return 0;
    unit_scan *u = calloc(s->n, sizeof *u);
    if (u == NULL)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        const trim_chunk *c = &s->chunks[i];
        if (c->release || c->size < unit)
            continue;
        u[i].nunits = c->size / unit;
        u[i].cover = calloc(((c->size >> shift) + 63) / 64, sizeof *u[i].cover);
        u[i].whole = calloc(u[i].nunits, 1);
        u[i].first = apply ? calloc(u[i].nunits, sizeof *u[i].first) : NULL;
        u[i].last = apply ? calloc(u[i].nunits, sizeof *u[i].last) : NULL;
        if (u[i].cover == NULL || u[i].whole == NULL ||
            (apply && (u[i].first == NULL || u[i].last == NULL))) {
            unit_scan_free(u, s->n);
            return 0;
        }
    }
    /* which granules free blocks cover */
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t seen = 0, width = cls + 1;
        const tcache *t = p->caches;
        const free_node *n = p->free_list[cls];
        bool cached = false;
        for (;;) {
            if (n == NULL) { /* the list, then each cache's blocks (the stats only) */
                if (t == NULL)
                    break;
                n = t->cls[cls].head;
                t = t->pool_next;
                cached = true;
                continue;
            }
            if (seen++ > p->carved[cls])
                break;
            trim_chunk *c = trim_find(s, (uintptr_t)n);
            unit_scan *cu = c != NULL ? &u[c - s->chunks] : NULL;
            if (cu != NULL && cu->cover != NULL) {
                size_t g = ((uintptr_t)n - c->base) >> shift;
                for (size_t k = g; k < g + width; k++)
                    cu->cover[k / 64] |= (uint64_t)1 << (k % 64);
            }
            n = cached ? n->next : read_link(n);
        }
    }
    size_t runs = 0;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < u[i].nunits; k++) {
            size_t w = k * per_unit / 64, end = w + per_unit / 64;
            while (w < end && u[i].cover[w] == ~(uint64_t)0)
                w++;
            if (w == end) {
                u[i].whole[k] = 1;
                bytes += unit;
                runs += k == 0 || !u[i].whole[k - 1];
            }
        }
    }
    if (!apply || bytes == 0) {
        unit_scan_free(u, s->n);
        return bytes;
    }
    if (p->nspans + runs > p->spans_cap) {
        size_t cap = p->nspans + runs;
        span_record *grown = realloc(p->spans, cap * sizeof *grown);
        if (grown == NULL) {
            unit_scan_free(u, s->n);
            return 0;
        }
        p->spans = grown;
        p->spans_cap = cap;
    }
    /* the blocks starting in those units leave their lists */
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t size = (cls + 1) << shift, seen = 0, dropped = 0;
        free_node *head = NULL, *last = NULL;
        for (free_node *n = p->free_list[cls]; n != NULL && seen <= p->carved[cls]; seen++) {
            free_node *next = read_link(n);
            trim_chunk *c = trim_find(s, (uintptr_t)n);
            unit_scan *cu = c != NULL ? &u[c - s->chunks] : NULL;
            size_t k = c != NULL ? ((uintptr_t)n - c->base) / unit : 0;
            if (cu != NULL && k < cu->nunits && cu->whole[k]) {
                if (cu->first[k] == 0 || (uintptr_t)n < cu->first[k])
                    cu->first[k] = (uintptr_t)n;
                if ((uintptr_t)n + size > cu->last[k])
                    cu->last[k] = (uintptr_t)n + size;
                dropped++;
            } else {
                if (last == NULL)
                    head = n;
                else
                    write_link(last, n);
                last = n;
            }
            n = next;
        }
        if (last != NULL)
            write_link(last, NULL);
        p->free_list[cls] = head;
        p->carved[cls] -= dropped;
    }
    /* each run of units: a span, chunk by chunk in the order they were
       obtained (as their records), each in address order */
    for (size_t r = 0; r < p->nchunks; r++) {
        const trim_chunk *c = trim_find(s, p->chunks[r].base);
        size_t i = (size_t)(c - s->chunks);
        dir_chunk *d = u[i].nunits != 0 ? dir_find(&p->dir, c->base) : NULL;
        for (size_t k = 0; k < u[i].nunits; k++) {
            if (!u[i].whole[k])
                continue;
            size_t b = k;
            while (b + 1 < u[i].nunits && u[i].whole[b + 1])
                b++;
            uintptr_t start = u[i].first[k], end = u[i].last[b];
            if (d != NULL)
                dir_clear_starts(&p->dir, d, ((start - c->base) >> shift) + 1,
                                 (end - c->base) >> shift);
            MEM_NOACCESS((void *)start, end - start);
            POOL_PAGES_RELEASE(c->base + k * unit, (b + 1 - k) * unit);
            p->spans[p->nspans++] = (span_record){start, end};
            p->span_bytes += end - start;
            k = b;
        }
    }
    p->released_page_bytes += bytes;
    unit_scan_free(u, s->n);
    return bytes;
}

size_t sgi_pool_trim_pages(sgi_pool *p)
{
    REQUIRE(p != NULL);
    size_t got = sgi_pool_trim(p);
    pool_lock(p);
    trim_scan s;
    if (p->closed || p->nchunks == 0 || !trim_scan_init(p, &s)) {
        pool_unlock(p);
        return got;
    }
    if (p->caches != NULL) /* (blocks cached since the chunks' trim) */
        tcache_flush_all(p, false);
    trim_count(p, &s);
    got += trim_units(p, &s, true);
    trim_scan_free(&s);
    pool_unlock(p);
    return got;
}

void sgi_pool_get_trim_stats(sgi_pool *p, sgi_pool_trim_stats *out)
{
    REQUIRE(p != NULL && out != NULL);
    pool_lock(p);
    tc_pause_others(p);
    size_t chunks;
    size_t bytes = trim_releasable(p, &chunks, NULL);
    tc_resume_others(p);
    *out = (sgi_pool_trim_stats){
        .releasable_bytes = bytes,
        .releasable_chunks = chunks,
        .released_chunks = p->released_chunks,
        .released_bytes = p->released_bytes,
    };
    pool_unlock(p);
}

void sgi_pool_get_page_stats(sgi_pool *p, sgi_pool_page_stats *out)
{
    REQUIRE(p != NULL && out != NULL);
    pool_lock(p);
    tc_pause_others(p);
    size_t chunks, pages;
    (void)trim_releasable(p, &chunks, &pages);
    tc_resume_others(p);
    *out = (sgi_pool_page_stats){
        .releasable_page_bytes = pages,
        .released_page_bytes = p->released_page_bytes,
        .spans = p->nspans,
        .span_bytes = p->span_bytes,
    };
    pool_unlock(p);
}
