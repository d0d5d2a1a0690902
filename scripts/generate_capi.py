"""Regenerates the function lists of the C API table from csrc/sgi_pool.h:
the fields of csrc/python/sgi_pool_capi.h and the initialisers of
csrc/python/capi_table.h, between their `generated` marker comments.
tests/core/test_cdef.py checks that both agree with the header.
Usage: python scripts/generate_capi.py"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = ROOT / "csrc" / "sgi_pool.h"
BEGIN, END = "/* generated from sgi_pool.h: begin */", "/* generated from sgi_pool.h: end */"


def entry_points() -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)
    names = re.findall(r"^[A-Za-z_][\w \*]*?\b(sgi_pool_\w+)\s*\(", text, flags=re.M)
    return list(dict.fromkeys(names))


def replace_between(path: pathlib.Path, lines: list[str]) -> None:
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    indent = head[head.rfind("\n") + 1 :]
    body = "\n".join(indent + line for line in lines)
    path.write_text(f"{head}{BEGIN}\n{body}\n{indent}{END}{tail}")


def main() -> None:
    names = entry_points()
    replace_between(
        ROOT / "csrc" / "python" / "sgi_pool_capi.h",
        [f"__typeof__({n}) *{n[len('sgi_pool_') :]};" for n in names],
    )
    replace_between(ROOT / "csrc" / "python" / "capi_table.h", [f"{n}," for n in names])
    print(f"{len(names)} entry points")


if __name__ == "__main__":
    main()
