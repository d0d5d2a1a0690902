"""trim(pages=True): the pages of kept chunks that free blocks cover go back
(docs/algorithm.md B.14), against the model."""

import random

import pytest

from pool import InvalidBlockError, Pool, ReferencePool

SIZES = [8, 16, 24, 32, 48, 64, 100, 128]


def sparse(pool, rng_seed=1, count=20000):
    """count blocks of mixed sizes, all freed but a few clustered ones (every
    700th id and its two successors) and 30 chosen at random: most pages of
    most chunks hold free blocks only.  Returns (sizes, {id: addr} kept)."""
    rng = random.Random(rng_seed)
    sizes = [rng.choice(SIZES) for _ in range(count)]
    addrs = [pool.allocate(n) for n in sizes]
    order = list(range(count))
    rng.shuffle(order)
    keep = {i for i in range(count) if i % 700 < 3} | set(order[:30])
    for i, (a, n) in enumerate(zip(addrs, sizes)):
        if i not in keep:
            pool.deallocate(a, n)
    return sizes, {i: addrs[i] for i in keep}


def both(**options):
    return Pool(**options), ReferencePool(**options)


def same(pools):
    c, m = (p.snapshot() for p in pools)
    assert c == m, c.differences(m)


OPTIONS = [
    {},
    {"checked": False},
    {"align": 16},
    {"max_small": 4096, "checked": False},
    {"thread_cache": True, "checked": False},
]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_pages_agree_with_the_model_through_reuse_and_release(options):
    pools = both(**options)
    kept = []
    for p in pools:
        sizes, keep = sparse(p)
        kept.append(keep)
    same(pools)
    stats = [p.stats() for p in pools]
    assert stats[0].releasable_page_bytes == stats[1].releasable_page_bytes > 0
    expected = stats[0].releasable_bytes + stats[0].releasable_page_bytes
    got = [p.trim(pages=True) for p in pools]
    assert got == [expected, expected]
    same(pools)
    after = pools[0].stats()
    assert after.releasable_page_bytes == 0 and after.span_bytes > 0
    assert after.released_page_bytes == stats[0].releasable_page_bytes
    assert after.heap_size == stats[0].heap_size and after.chunks == stats[0].chunks - (
        stats[0].releasable_bytes and after.released_chunks
    )
    # the spans are carved again before any new chunk
    for p in pools:
        p.allocate_many(32, 3000)
    same(pools)
    assert pools[0].stats().chunks == after.chunks
    assert pools[0].stats().span_bytes < after.span_bytes
    # the kept blocks go: their chunks (free blocks and spans) are released whole
    for p, keep in zip(pools, kept):
        for i, a in keep.items():
            p.deallocate(a, sizes[i])
    same(pools)
    got = [p.trim(pages=True) for p in pools]
    assert got[0] == got[1] > 0
    # chunks whose free blocks and spans cover them went whole; what is left
    # holds live blocks (the 3000 above) or the tail
    assert pools[0].stats().released_chunks > after.released_chunks
    same(pools)
    for p in pools:
        p.close()


def test_a_block_taken_with_a_page_is_no_block_any_more():
    pools = both()
    keep = [sparse(p)[1] for p in pools]
    c, m = pools
    free_before = set().union(*(c.free_list(i) for i in range(16)))
    c.trim(pages=True)
    m.trim(pages=True)
    free_after = set().union(*(c.free_list(i) for i in range(16)))
    gone = sorted(free_before - free_after)
    assert gone and set(gone).isdisjoint(c.block_map())
    for addr in gone[:50]:
        assert addr not in c
        with pytest.raises(InvalidBlockError):
            c.deallocate(addr)
    same(pools)
    assert keep[0]


def test_pages_argument_is_a_bool():
    for p in both():
        with pytest.raises(TypeError, match="pages must be True or False, not 1"):
            p.trim(pages=1)
        p.close()


def test_a_page_trim_of_a_pool_with_no_such_page_is_a_trim():
    pools = both(checked=False)
    for p in pools:
        p.deallocate_many(p.allocate_many(32, 2000), 32)
    assert [p.trim(pages=True) for p in pools] == [62216, 62216]  # B.13's example
    assert pools[0].stats().span_bytes == 0
    same(pools)
