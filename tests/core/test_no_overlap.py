"""No two live blocks overlap: every live block carries its own byte pattern,
and all of them are verified after each step of random operation sequences."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pool import Pool, PoolMemoryError

sizes = st.one_of(st.integers(1, 128), st.integers(129, 600))


class PatternMachine(RuleBasedStateMachine):
    """Random allocate/deallocate/reallocate/batch calls on one pool."""

    profile = {}

    def __init__(self):
        super().__init__()
        self.pool = Pool(**self.profile)
        self.live = {}  # address -> (size, pattern byte)
        self.counter = 0

    def _fill(self, addr, n):
        self.counter = (self.counter + 1) % 251 + 1
        self.pool.buffer(addr, n)[:] = bytes([self.counter]) * n
        self.live[addr] = (n, self.counter)

    def _pick(self, data):
        # by position in allocation order: addresses differ from run to run
        return list(self.live)[data.draw(st.integers(0, len(self.live) - 1))]

    @rule(n=sizes)
    def allocate(self, n):
        try:
            addr = self.pool.allocate(n)
        except PoolMemoryError:
            return  # a heap limit refused it; the live blocks must still be intact
        assert addr not in self.live
        self._fill(addr, n)

    @rule(n=st.integers(1, 200), count=st.integers(0, 30))
    def allocate_many(self, n, count):
        try:
            addrs = self.pool.allocate_many(n, count)
        except PoolMemoryError:
            return
        for addr in addrs:
            assert addr not in self.live
            self._fill(addr, n)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def deallocate(self, data):
        addr = self._pick(data)
        n, _ = self.live.pop(addr)
        self.pool.deallocate(addr, n)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), new_n=sizes)
    def reallocate(self, data, new_n):
        addr = self._pick(data)
        n, pattern = self.live.pop(addr)
        try:
            new = self.pool.reallocate(addr, n, new_n)
        except PoolMemoryError:
            self.live[addr] = (n, pattern)  # refused: the old block is untouched
            return
        kept = min(n, new_n)
        assert bytes(self.pool.buffer(new, kept)) == bytes([pattern]) * kept
        self._fill(new, new_n)

    @precondition(lambda self: len(self.live) >= 2)
    @rule(data=st.data())
    def deallocate_many_same_size(self, data):
        n = data.draw(st.sampled_from(sorted({n for n, _ in self.live.values()})))
        addrs = [a for a, (m, _) in self.live.items() if m == n]
        for a in addrs:
            del self.live[a]
        self.pool.deallocate_many(addrs, n)

    @invariant()
    def patterns_intact(self):
        for addr, (n, pattern) in self.live.items():
            assert bytes(self.pool.buffer(addr, n)) == bytes([pattern]) * n, hex(addr)

    def teardown(self):
        self.pool.close()


TestClassic = PatternMachine.TestCase
TestClassic.settings = settings(max_examples=60, stateful_step_count=60)


class Align16Unchecked(PatternMachine):
    profile = {"align": 16, "checked": False, "refill": 3, "max_small": 64}


TestAlign16Unchecked = Align16Unchecked.TestCase
TestAlign16Unchecked.settings = settings(max_examples=40, stateful_step_count=60)


class TightLimit(PatternMachine):
    """A heap limit that a few dozen steps exhaust, so salvage and refusals run."""

    profile = {"heap_limit": 6000, "refill": 4}

    def teardown(self):
        st = self.pool.stats()
        TightLimit.seen_refused |= st.requests_refused > 0
        TightLimit.seen_salvage |= st.salvages > 0
        super().teardown()


TightLimit.seen_refused = TightLimit.seen_salvage = False


def test_tight_limit_campaign_reached_refusals_and_salvage():
    """The campaign above is only worth something if it exercised both paths."""
    case = TightLimit.TestCase
    case.settings = settings(max_examples=30, stateful_step_count=60)
    case().runTest()
    assert TightLimit.seen_refused and TightLimit.seen_salvage
