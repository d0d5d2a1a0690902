"""Every block is aligned to the pool's align, for every size and profile."""

import pytest

from pool import Pool


@pytest.mark.parametrize("align", [8, 16])
@pytest.mark.parametrize("checked", [True, False])
def test_every_block_aligned(align, checked):
    with Pool(align=align, checked=checked) as pool:
        addrs = []
        for rep in range(3):
            for n in range(1, 300):
                a = pool.allocate(n)
                assert a % align == 0, (n, hex(a))
                addrs.append((a, n))
            batch = pool.allocate_many(rep * 8 + 1, 100)
            assert all(a % align == 0 for a in batch)
            # free half so later rounds reuse lists, tails and leftovers
            for a, n in addrs[::2]:
                pool.deallocate(a, n)
            del addrs[::2]
        for base, size in pool.chunks():
            assert base % align == 0 and size % align == 0
