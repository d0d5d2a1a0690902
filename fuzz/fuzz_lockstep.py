"""Coverage-guided fuzz target: `pool.Pool` (the C core) against
`pool.ReferencePool` (the executable specification), in lockstep.

Each input is decoded into a profile (a name from `pool.testing.diff.PROFILES`) and a
bounded list of operations, which a fresh `pool.testing.diff.Lockstep` runs on both
pools.  A `Divergence`, or any exception the lockstep runner does not expect,
is a finding: it propagates, so atheris reports it and saves the input.

    python fuzz/fuzz_lockstep.py [libFuzzer flags] [corpus dirs]   # fuzz (needs atheris)
    python fuzz/fuzz_lockstep.py --replay FILE_OR_DIR...           # replay saved inputs
    python fuzz/fuzz_lockstep.py --show FILE...                    # print the decoded ops

`fuzz/run.sh [seconds]` is the usual way to fuzz.  Replaying needs no
atheris: the decoder reads the bytes with its own small reader (`ByteReader`),
not `atheris.FuzzedDataProvider`, so an input means the same operations with
and without atheris.

Input format (documented so that regression inputs stay meaningful):
  byte 0      profile: PROFILES' names in order, byte b -> names[b] if
              b < len(names) else names[b % len(names)] (so profiles added at
              the end of PROFILES leave small indices unchanged)
  then        up to MAX_OPS operations, each a kind byte followed by its
              arguments (see `decode`); reading past the end gives zeros and
              stops the list.
"""

import glob
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if glob.glob(os.path.join(_ROOT, "pool", "_pool_c*")):
    sys.path.insert(0, _ROOT)  # the checkout this script is in, built in place (pip -e)

_FUZZING = __name__ == "__main__" and not any(
    a in ("--replay", "--show", "-h", "--help") for a in sys.argv[1:]
)

if _FUZZING:
    import atheris

    with atheris.instrument_imports(include=["pool"]):
        import pool._validate
        import pool.core
        import pool.model.reference
        import pool.model.snapshot
        import pool.testing.diff
else:
    import pool.testing.diff

from pool.testing.diff import PROFILES, Lockstep, shrink_ops  # noqa: E402

MAX_OPS = 200  # operations per input
MAX_BATCH = 32  # ids per alloc_many / free_many
PTRDIFF_MAX = 2**63 - 1
SIZE_MAX = 2**64 - 1

# Weighted kinds: the kind byte indexes this table (mod its length).
KINDS = (
    ("alloc",) * 10
    + ("alloc_many",) * 3
    + ("free",) * 8
    + ("free_many",) * 3
    + ("realloc",) * 5
    + ("bad",) * 2
    + ("limit",) * 1
)
MISUSES = ("double", "wrong-class", "interior", "realloc-freed", "zero")

# Sizes the tables and the small-object boundaries of every profile care about.
SIZES = pool.testing.diff.SIZES + (
    2,
    15,
    31,
    32,
    33,
    47,
    49,
    56,
    57,
    72,
    80,
    96,
    112,
    136,
    144,
    255,
    256,
    257,
    4095,
    4096,
    4097,
)
# Sizes every pool refuses before touching memory (or the system refuses):
# never anything between 1 MiB and PTRDIFF_MAX, which malloc might grant and
# the lockstep runner would then fill.
BAD_SIZES = (0, -1, -(2**64), PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX + 1, 2**70)
LIMITS = (
    None,
    1,
    8,
    128,
    700,
    1000,
    2000,
    2500,
    3000,
    5000,
    20000,
    200_000,
    SIZE_MAX,
    0,
    -1,
    SIZE_MAX + 1,
)


class ByteReader:
    """A deterministic reader of fuzz bytes.  Past the end every read gives 0
    and `exhausted` becomes true, so decoding is total."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    @property
    def exhausted(self):
        return self.pos >= len(self.data)

    def byte(self):
        if self.pos < len(self.data):
            b = self.data[self.pos]
            self.pos += 1
            return b
        self.pos += 1
        return 0

    def uint(self, nbytes):
        value = 0
        for _ in range(nbytes):
            value = value << 8 | self.byte()
        return value

    def below(self, n):
        """An int in 0..n-1 (n >= 1), using as few bytes as n needs."""
        if n <= 1:
            return 0
        nbytes = (n - 1).bit_length() + 7 >> 3
        return self.uint(nbytes) % n

    def pick(self, seq):
        return seq[self.below(len(seq))]


def _size(r):
    sel = r.byte()
    if sel < 96:
        return r.pick(SIZES)
    if sel < 176:
        return 1 + r.byte()  # 1..256: every small class of every profile
    if sel < 224:
        return 1 + r.uint(2) % 4096
    if sel < 246:
        return 1 + r.uint(3) % (1 << 17)
    return r.pick(BAD_SIZES)


def _limit(r):
    sel = r.byte()
    if sel < 64:
        return None
    if sel < 160:
        return r.pick(LIMITS)
    if sel < 224:
        return 1 + r.uint(2)  # 1..65536
    return 1 + r.uint(3) % (1 << 20)


def _plausible(n):
    return 1 <= n <= 1 << 17


def decode(data):
    """(profile name, list of operation tuples) for the fuzz input `data`.

    Deterministic and total: any bytes give a valid profile and at most
    MAX_OPS well-formed operations for `Lockstep.apply`.  The decoder keeps a
    rough model of which ids are live (it cannot know which allocations the
    pools refuse), so that frees, reallocations and misuses mostly name live
    ids; the ones that don't are skipped by the lockstep runner.
    """
    r = ByteReader(data)
    names = list(PROFILES)
    b = r.byte()
    profile = names[b] if b < len(names) else names[b % len(names)]
    checked = PROFILES[profile].get("checked", True)

    ops = []
    next_id = 1
    live = {}  # id -> size, as far as the decoder can tell
    freed = []  # ids freed, oldest first

    def some_id(pool_of_ids):
        """Mostly an id of pool_of_ids, sometimes any id handed out so far."""
        sel = r.byte()
        if pool_of_ids and sel < 232:
            return r.pick(pool_of_ids)
        return 1 + r.below(max(1, next_id - 1))

    while not r.exhausted and len(ops) < MAX_OPS:
        kind = r.pick(KINDS)
        if kind == "alloc":
            n = _size(r)
            ops.append(("alloc", next_id, n))
            if _plausible(n):
                live[next_id] = n
            next_id += 1
        elif kind == "alloc_many":
            count = r.below(MAX_BATCH + 1)
            n = _size(r)
            ids = tuple(range(next_id, next_id + count))
            ops.append(("alloc_many", ids, n))
            if _plausible(n):
                live.update(dict.fromkeys(ids, n))
            next_id += count
        elif kind == "free":
            ident = some_id(list(live))
            ops.append(("free", ident))
            if ident in live:
                del live[ident]
                freed.append(ident)
        elif kind == "free_many":
            sel = r.byte()
            if not live or sel < 8:
                ops.append(("free_many", ()))
                continue
            size = live[r.pick(list(live))]
            same = [i for i in live if live[i] == size]
            if sel < 96:  # all blocks of that size (up to MAX_BATCH), in order
                ids = same[:MAX_BATCH]
            else:  # a sample, in the order drawn
                ids = []
                for _ in range(1 + r.below(min(len(same), MAX_BATCH))):
                    ids.append(same.pop(r.below(len(same))))
            ops.append(("free_many", tuple(ids)))
            for i in ids:
                del live[i]
                freed.append(i)
        elif kind == "realloc":
            ident = some_id(list(live))
            n = _size(r)
            ops.append(("realloc", ident, n))
            if ident in live and _plausible(n):
                live[ident] = n
        elif kind == "bad":
            sel = r.byte()
            ident = r.pick(freed[-64:]) if freed and sel < 112 else some_id(list(live))
            how = r.pick(MISUSES)
            if not checked and how in ("double", "wrong-class", "interior"):
                how = "zero"  # unchecked pools trust small frees: misuse would corrupt them
            ops.append(("bad", ident, how))
        else:
            ops.append(("limit", _limit(r)))
    return profile, ops


def run_ops(profile, ops):
    """Runs ops in a fresh Lockstep; raises on a finding."""
    step = Lockstep(profile)
    try:
        for op in ops:
            step.apply(op)
    finally:
        step.close()


def run(data):
    """Decodes data and runs it; raises on a finding."""
    run_ops(*decode(data))


def failure(profile, ops):
    """The exception type name the ops end in, or None."""
    try:
        run_ops(profile, ops)
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__
    return None


def shrink(profile, ops):
    """A minimal sub-list of ops that still fails the same way (delta
    debugging, as pool.testing.diff.shrink, but for any exception)."""
    kind = failure(profile, ops)
    if kind is None:
        return list(ops)
    return shrink_ops(ops, lambda candidate: failure(profile, candidate) == kind)


def TestOneInput(data):  # noqa: N802 (atheris' name)
    run(data)


def _inputs(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if os.path.isfile(full) and not name.startswith(".") and not name.endswith(".md"):
                    yield full
        else:
            yield path


def replay(paths, verbose=True, shrinking=True):
    """Replays saved inputs; returns the number that failed."""
    failures = 0
    for path in _inputs(paths):
        with open(path, "rb") as f:
            data = f.read()
        profile, ops = decode(data)
        try:
            run(data)
        except Exception as exc:  # noqa: BLE001 (report every kind of finding)
            failures += 1
            print(f"FAIL {path}: profile {profile}, {len(ops)} ops: {type(exc).__name__}: {exc}")
            if shrinking:
                minimal = shrink(profile, ops)
                print(f"  minimal reproduction ({len(minimal)} ops, profile {profile!r}):")
                for op in minimal:
                    print(f"    {op!r}")
        else:
            if verbose:
                print(f"ok   {path}: profile {profile}, {len(ops)} ops")
    return failures


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] == "--replay":
        if len(argv) < 2:
            print("usage: fuzz_lockstep.py --replay FILE_OR_DIR...", file=sys.stderr)
            return 2
        return 1 if replay(argv[1:]) else 0
    if argv and argv[0] == "--show":
        for path in _inputs(argv[1:]):
            with open(path, "rb") as f:
                profile, ops = decode(f.read())
            print(f"{path}: profile {profile!r}, {len(ops)} ops")
            for op in ops:
                print(f"  {op!r}")
        return 0
    # libFuzzer's -fork / -jobs re-run argv[0] as a program: run.sh points
    # FUZZ_ARGV0 at an executable wrapper that starts this script.
    atheris.Setup([os.environ.get("FUZZ_ARGV0", sys.argv[0])] + argv, TestOneInput)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
