"""The C core against the reference model, in lockstep (pool.testing.diff.Lockstep):
after every operation the results, raised exceptions, block contents and the
full normalised states must be equal."""

import subprocess
import sys

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pool import ReferencePool
from pool.testing.diff import (
    LARGE_ENOUGH,
    PROFILES,
    SIZES,
    SMALL_ENOUGH,
    Divergence,
    Lockstep,
    replay_ops,
    run_random,
    shrink,
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
    @rule(data=st.data(), n=sizes)
    def realloc(self, data, n):
        self.step.apply(("realloc", self._pick(data), n))

    @precondition(lambda self: self.step.live)
    @rule(data=st.data())
    def free_many(self, data):
        size = self.step.live[self._pick(data)][0]
        same = [i for i in self.step.live if self.step.live[i][0] == size]
        self.step.apply(("free_many", tuple(same[: data.draw(st.integers(1, len(same)))])))

    @rule(data=st.data(), how=st.sampled_from(["double", "wrong-class", "interior",
                                                "realloc-freed", "dup-batch", "zero"]))
    def misuse(self, data, how):
        """Each misuse on the kind of block it needs; an unchecked pool trusts
        small frees, so only its large blocks are misused."""
        step, checked = self.step, self.step.sides[0].pool.checked
        if how == "zero":
            step.apply(("bad", 0, how))
            return
        if how in ("double", "realloc-freed"):
            ids = sorted(i for i, n in step.freed.items() if n <= SMALL_ENOUGH) if checked else []
        elif checked:
            ids = list(step.live)
        else:
            ids = [i for i in step.live if step.live[i][0] >= LARGE_ENOUGH and how == "dup-batch"]
        if ids:
            step.apply(("bad", self._pick(data, ids), how))

    @rule(limit=st.sampled_from([None, 1500, 4000, 20000]))
    def set_limit(self, limit):
        self.step.apply(("limit", limit))

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


def buggy_reference(**options):
    """A reference with a planted bug: one block too many per refill."""
    options["refill"] = options.get("refill", 20) + 1
    return ReferencePool(**options)


def test_divergence_is_found_and_shrunk():
    factories = (None, buggy_reference)
    with pytest.raises(Divergence) as caught:
        run_random("classic", 500, seed=5, factories=factories)
    ops = caught.value.ops
    minimal = shrink("classic", ops, factories)
    assert len(minimal) <= 2 and minimal[0][0] in ("alloc", "alloc_many")
    assert replay_ops("classic", minimal, factories) is not None
    assert replay_ops("classic", minimal) is None  # the real pair agrees


def test_command_line():
    out = subprocess.run([sys.executable, "-m", "pool", "diff", "--ops", "300", "--seed", "3",
                          "--profile", "tight"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "tight: 300 operations, C core and reference agree" in out.stdout
