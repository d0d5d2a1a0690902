"""The C core against the reference model, in lockstep (pool.testing.diff.Lockstep):
after every operation the results, raised exceptions, block contents and the
full normalised states must be equal."""

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pool.testing.diff import (
    FREED_MISUSES,
    LARGE_ENOUGH,
    NOSIZE_SAFE,
    PROFILES,
    SIZES,
    SMALL_ENOUGH,
    Lockstep,
    random_op,
    run_random,
)

sizes = st.sampled_from(SIZES)


class LockstepMachine(RuleBasedStateMachine):
    profile = "classic"

    def __init__(self):
        super().__init__()
        self.step = Lockstep(self.profile)
        self.next_id = 1

    def _pick(self, data, among=None):
        ids = list(self.step.live) if among is None else among
        return ids[data.draw(st.integers(0, len(ids) - 1))]

    @rule(n=sizes)
    def alloc(self, n):
        self.step.apply(("alloc", self.next_id, n))
        self.next_id += 1

    @rule(n=sizes, count=st.integers(0, 30))
    def alloc_many(self, n, count):
        ids = tuple(range(self.next_id, self.next_id + count))
        self.next_id += count
        self.step.apply(("alloc_many", ids, n))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def free(self, data):
        self.step.apply(("free", self._pick(data)))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def free_nosize(self, data):
        self.step.apply(("free_nosize", self._pick(data)))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data(), n=sizes)
    def realloc(self, data, n):
        self.step.apply(("realloc", self._pick(data), n))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data(), n=sizes)
    def resize(self, data, n):
        self.step.apply(("resize", self._pick(data), n))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def query(self, data):
        self.step.apply(("query", self._pick(data)))

    @precondition(lambda self: self.step.freed)
    @rule(data=st.data())
    def query_freed(self, data):
        self.step.apply(("query_freed", self._pick(data, sorted(self.step.freed))))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def free_many_nosize(self, data):
        """Mixed sizes in one size-less batch."""
        ids = data.draw(
            st.lists(st.sampled_from(sorted(self.step.live)), min_size=1, max_size=10, unique=True)
        )
        self.step.apply(("free_many_nosize", tuple(ids)))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def free_many(self, data):
        size = self.step.live[self._pick(data)][0]
        same = [i for i in self.step.live if self.step.live[i][0] == size]
        self.step.apply(("free_many", tuple(same[: data.draw(st.integers(1, len(same)))])))

    @rule(
        data=st.data(),
        how=st.sampled_from(
            [
                "double",
                "wrong-class",
                "interior",
                "realloc-freed",
                "dup-batch",
                "zero",
                "nosize-double",
                "resize-freed",
                "nosize-interior",
                "nosize-dup-batch",
                "nosize-large-interior",
                "nosize-tail",
                "nosize-far",
            ]
        ),
    )
    def misuse(self, data, how):
        """Each misuse on the kind of block it needs; an unchecked pool trusts
        small sized frees, so only its large blocks are misused that way (the
        size-less calls check every address in every mode)."""
        step, checked = self.step, self.step.sides[0].pool.checked
        if how in ("zero", "nosize-tail", "nosize-far"):
            step.apply(("bad", 0, how))
            return
        large = [i for i in step.live if step.live[i][0] >= LARGE_ENOUGH]
        if how in FREED_MISUSES:
            ids = sorted(i for i, n in step.freed.items() if n <= SMALL_ENOUGH) if checked else []
        elif how in NOSIZE_SAFE:
            ids = list(step.live)
        elif how == "nosize-large-interior":
            ids = large
        elif checked:
            ids = list(step.live)
        else:
            ids = large if how in ("dup-batch", "nosize-dup-batch") else []
        if ids:
            step.apply(("bad", self._pick(data, ids), how))

    @rule(limit=st.sampled_from([None, 1500, 4000, 20000]))
    def set_limit(self, limit):
        self.step.apply(("limit", limit))

    @rule()
    def trim(self):  # fully free chunks back; the bytes released are compared
        self.step.apply(("trim",))

    @rule()
    def trim_pages(self):  # and the pages free blocks cover (B.14)
        self.step.apply(("trim", True))

    def teardown(self):
        self.step.close()


def _case(profile, examples):
    machine = type(f"Lockstep_{profile}", (LockstepMachine,), {"profile": profile})
    case = machine.TestCase
    case.settings = settings(max_examples=examples)
    return case


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_lockstep(profile):
    _case(profile, 25)().runTest()


@pytest.mark.slow
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_lockstep_long(profile):
    _case(profile, 400)().runTest()


@pytest.mark.parametrize("profile", ["classic", "tight", "oom-free"])
def test_random_campaign_agrees(profile):
    ops = run_random(profile, 600, seed=11)
    assert len(ops) == 600


@pytest.mark.parametrize(
    "profile, seed",
    [
        ("classic", 2),
        ("align16", 3),
        ("tight", 4),
        ("tight-unchecked", 5),
        ("unchecked", 6),
        ("small-refill", 7),
    ],
)
def test_directory_agrees_with_block_map_on_every_path(profile, seed):
    """Lockstep.check compares the C directory's block map (sgi_pool_blocks)
    with the model's after every step; this run must also have gone through
    leftover tails, salvage (tight profiles) and size-less calls of both
    kinds, so that the comparison covered them."""
    seen = {"leftover": 0, "salvage": 0, "nosize": 0}
    step = Lockstep(profile)
    rng = random.Random(seed)
    next_id = 1
    checked = step.sides[0].pool.checked
    try:
        for _ in range(800):
            op = random_op(rng, step, next_id, checked)
            next_id += (
                1
                if op[0] in ("alloc", "alloc_zeroed")
                else len(op[1])
                if op[0] == "alloc_many"
                else 0
            )
            if step.apply(op) in ("free_nosize", "free_many_nosize", "resize"):
                seen["nosize"] += 1
            seen["leftover"] = step.sides[1].pool.allocator.leftovers
            seen["salvage"] = step.sides[0].pool.stats().salvages
        c_map, ref_map = (side.pool.snapshot().block_map for side in step.sides)
        assert c_map == ref_map and c_map  # (Lockstep.check compared them at every step)
    finally:
        step.close()
    assert seen["leftover"] > 0 and seen["nosize"] > 0, seen
    if profile.startswith("tight"):
        assert seen["salvage"] > 0, seen
