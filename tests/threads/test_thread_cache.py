"""Thread caches (the thread_cache option, csrc/core/thread_cache.c): per-thread
free blocks per size class in front of the SGI lists.

C program (tests/c/stress_tcache.c, built plain and under ThreadSanitizer):
one thread alone keeps the pool biased (the lists, the addresses of a pool
without caches) until a second thread switches it to the caches; no block
handed out twice while threads share a pool and free each other's
blocks, every block back after the threads exit, before they exit
(introspection), on close, in a fork child, and before a refused request
gives up.  From Python: the option, its validation, and what stats() says."""

import pathlib
import shutil
import subprocess
import threading

import pytest
from helpers import (
    C_WARNINGS,
    CORE_SOURCES,
    join_to_the_end,
    run_stress_program,
    shared,
    thread_caches_work,
)
from pool._pool_c import ffi, lib

from pool import InvalidBlockError, Pool

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite")
@pytest.mark.parametrize(
    ("build", "fallback"),
    [("plain", False), pytest.param("tsan", False, marks=pytest.mark.slow), ("plain", True)],
    ids=["plain", "tsan", "lock-fallback"],
)
def test_stress_thread_cache_program(tmp_path, build, fallback):
    # fallback: no handshake, so no caches: the lock (still correct)
    result = run_stress_program(tmp_path, "stress_tcache", build, fallback)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert "WARNING" not in result.stderr
    lock, biased, cached = (
        lib.SGI_POOL_LOCKING_LOCK,
        lib.SGI_POOL_LOCKING_BIASED,
        lib.SGI_POOL_LOCKING_THREAD_CACHE,
    )
    if fallback:
        assert f"locking: alone {lock}, shared {lock}" in result.stdout
    elif thread_caches_work():  # else the caches are off and the pool says LOCK
        assert f"locking: alone {biased}, shared {cached}" in result.stdout


def test_option_off_by_default():
    opts = ffi.new("sgi_pool_options *")
    lib.sgi_pool_options_init(opts)
    assert opts.thread_cache == 0
    with Pool() as p:
        assert p.thread_cache is False


def test_option_reaches_the_core():
    with Pool(thread_cache=True, checked=False) as p:
        assert p.thread_cache is True
        out = ffi.new("sgi_pool_options *")
        lib.sgi_pool_get_options(p._handle(), out)
        assert out.thread_cache == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"thread_cache": 1}, TypeError, "thread_cache must be True or False, not 1"),
        ({"thread_cache": "yes"}, TypeError, "not 'yes'"),
        ({"thread_cache": True, "thread_safe": False}, ValueError, "needs thread_safe=True"),
    ],
)
def test_option_misuse(kwargs, error, words):
    with pytest.raises(error, match=words):
        Pool(**kwargs)


def test_c_refuses_cache_without_thread_safety():
    opts = ffi.new("sgi_pool_options *")
    lib.sgi_pool_options_init(opts)
    opts.thread_cache, opts.thread_safe = 1, 0
    assert lib.sgi_pool_create(opts) == ffi.NULL


def test_checked_pool_refuses_double_free_with_caches():
    with Pool(thread_cache=True) as p:
        a = p.allocate(24)
        p.deallocate(a, 24)
        with pytest.raises(InvalidBlockError, match="not a live block"):
            p.deallocate(a, 24)


def test_threads_blocks_count_as_free():
    """Threads leave blocks in their caches (some still running, parked):
    stats() shows them free, none live; after the threads exit, all are on
    the lists and a new allocation takes no new chunk."""
    with Pool(thread_cache=True, checked=False) as p:
        parked, release = threading.Barrier(4), threading.Event()
        seen = []

        def work(n):
            blocks = [p.allocate(n) for _ in range(100)]
            for a in blocks:
                p.deallocate(a, n)
            parked.wait()
            release.wait()

        threads = [threading.Thread(target=work, args=(8 * (i + 1),)) for i in range(3)]
        for t in threads:
            t.start()
        parked.wait()
        stats = p.stats()
        seen = [(c.block_size, c.live, c.free) for c in stats.classes if c.live or c.free]
        release.set()
        for t in threads:
            join_to_the_end(t)  # their caches handed back (at thread exit, after join())
        assert [size for size, _, _ in seen] == [8, 16, 24]
        assert all(live == 0 and free >= 100 for _, live, free in seen), seen
        heap = p.stats().heap_size
        more = [p.allocate(16) for _ in range(100)]
        assert p.stats().heap_size == heap
        for a in more:
            p.deallocate(a, 16)


def test_close_while_threads_hold_caches():
    p = Pool(thread_cache=True, checked=False)
    ready, release = threading.Barrier(2), threading.Event()

    def work():
        for _ in range(50):
            p.deallocate(p.allocate(40), 40)
        ready.wait()
        release.wait()

    t = threading.Thread(target=work)
    t.start()
    ready.wait()
    p.close()
    release.set()
    t.join()
    assert p.closed


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own program; runs in the normal suite")
def test_docs_example_runs(tmp_path):
    """docs/c-api.md's thread-cache example compiles warning-free and exits 0."""
    text = (ROOT / "docs" / "c-api.md").read_text()
    [code] = [b.split("```", 1)[0] for b in text.split("```c\n")[1:] if "thread_cache = 1" in b]
    (tmp_path / "example.c").write_text(code)
    exe = tmp_path / "example"
    cmd = ["gcc", "-std=c11", "-O2", *C_WARNINGS, f"-I{ROOT / 'csrc'}", *CORE_SOURCES]
    subprocess.run([*cmd, str(tmp_path / "example.c"), "-pthread", "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0


@pytest.mark.parametrize("rounds", [1, 3])
def test_lockstep_exchanges_whole_magazines(rounds):
    # refill 4: a batch of 4, a cache of at most 8 per class.  Freeing 13
    # blocks pushes onto a full cache twice (each gives the 4 oldest back
    # whole); allocating them again empties the cache and takes batches from
    # the list.  Every step compares the C pool's lists, cache and places
    # with the model's.
    from pool.testing.diff import Lockstep

    step = Lockstep("thread-cache")
    try:
        ids = list(range(13))
        for _ in range(rounds):
            for i in ids:
                assert step.apply(("alloc", i, 24))
            for i in ids:
                assert step.apply(("free", i))
            for i in reversed(ids[:7]):  # the other order too: pops across both magazines
                assert step.apply(("alloc", i, 24))
            for i in ids[:7]:
                assert step.apply(("free", i))
    finally:
        step.close()


def _locking(pool):
    return lib.sgi_pool_locking(pool._handle())


@pytest.mark.skipif(not thread_caches_work(), reason="no membarrier: no bias, no caches")
def test_one_thread_keeps_the_bias_a_second_switches_to_caches():
    """One thread alone: biased, its frees on the lists (a freed block is the
    head of its list, as in a pool without caches), whatever it calls (stats,
    state, trim).  A second thread's first call switches the pool to the
    caches for good, and the first thread's next frees go to its own cache
    (the calls that report free blocks list the cache after the list)."""
    with Pool(thread_cache=True, checked=False) as p:
        assert _locking(p) == lib.SGI_POOL_LOCKING_BIASED
        p.stats(), p.state(), p.trim()
        blocks = [p.allocate(24) for _ in range(50)]
        for a in blocks:
            p.deallocate(a, 24)
            assert p.free_list(2)[0] == a  # pushed on the list itself
        a = p.allocate(24)
        p.deallocate(a)  # size-less
        assert p.free_list(2)[0] == a
        assert _locking(p) == lib.SGI_POOL_LOCKING_BIASED  # still one thread's
        second = threading.Thread(target=lambda: p.deallocate(p.allocate(40), 40))
        second.start()
        second.join()
        assert _locking(p) == lib.SGI_POOL_LOCKING_THREAD_CACHE
        listed = p.free_list(2)
        b = p.allocate(24)  # this thread's first cached call: a batch off the list
        assert b == listed[0]
        p.deallocate(b, 24)  # into this thread's cache, not onto the list's head
        after = p.free_list(2)
        assert len(listed) > 40  # more than a batch: the list keeps a head of its own
        assert sorted(after) == sorted(listed) and after[0] != b
        for _ in range(3):  # stays switched: one thread again changes nothing
            p.deallocate(p.allocate(24), 24)
        assert _locking(p) == lib.SGI_POOL_LOCKING_THREAD_CACHE


def test_checked_and_plain_pools_are_not_switched_to_caches():
    """Only unchecked pools with the option switch; a checked pool's second
    thread revokes its bias as always (BIAS_REVOKED)."""
    with Pool(thread_cache=True) as p:
        expect = _locking(p)
        shared(p)
        if expect == lib.SGI_POOL_LOCKING_BIASED:
            assert _locking(p) == lib.SGI_POOL_LOCKING_BIAS_REVOKED
        else:
            assert _locking(p) == expect == lib.SGI_POOL_LOCKING_LOCK


@pytest.mark.parametrize("profile", ["thread-cache", "tight-cache", "cache-one-thread"])
def test_lockstep_profiles_run_switched_or_biased(profile):
    """The lockstep's cache profiles: a second thread's call first (the caches
    serve, in the C pool and the model), or none (biased, the lists)."""
    from pool.testing.diff import Lockstep

    step = Lockstep(profile)
    try:
        c_pool, model = (side.pool for side in step.sides)
        one = profile == "cache-one-thread"
        if thread_caches_work():
            want = lib.SGI_POOL_LOCKING_BIASED if one else lib.SGI_POOL_LOCKING_THREAD_CACHE
            assert _locking(c_pool) == want
            assert (model.allocator.cache is None) == one
        for i in range(30):
            assert step.apply(("alloc", i, 8 + 8 * (i % 5)))
        for i in range(30):
            assert step.apply(("free", i))
    finally:
        step.close()
