"""cffi's declarations (csrc/sgi_pool.cdef) agree with the C header: every
public prototype, struct and enum of sgi_pool.h appears in the cdef exactly
(up to white space and parameter names), so the Python side can never call
the core with a signature it does not have."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADER = ROOT / "csrc" / "sgi_pool.h"
CDEF = ROOT / "csrc" / "sgi_pool.cdef"
GLUE = ROOT / "csrc" / "addr_glue.h"


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _normalise(decl):
    decl = re.sub(r"\s+", " ", decl).strip()
    return re.sub(r"\s*([(),*\[\]])\s*", r"\1", decl)


def _without_names(proto):
    """A prototype with its parameter names dropped: `f(sgi_pool *p,size_t n)`
    and `f(sgi_pool *,size_t)` are the same signature."""
    head, params = proto.split("(", 1)
    params = params.rsplit(")", 1)[0]
    kept = []
    for param in params.split(","):
        param = param.strip()
        if param in ("void", "") or param.endswith("*"):
            kept.append(param)
        else:
            kept.append(re.sub(r"\s*\b\w+$", "", param) or param)
    return f"{head}({','.join(kept)})"


def prototypes(text, prefix="sgi_pool_"):
    body = _strip_comments(text)
    found = {}
    pattern = r"^[A-Za-z_][\w \*]*?\b(" + prefix + r"\w+)\s*\(([^;{]*?)\)\s*;"
    for m in re.finditer(pattern, body, re.M):
        found[m.group(1)] = _without_names(_normalise(m.group(0).rstrip(";")))
    return found


def typedefs(text):
    body = _strip_comments(text)
    return {
        m.group(2): _normalise(m.group(0))
        for m in re.finditer(r"typedef (struct|enum) (sgi_pool\w*) \{.*?\} \2;", body, re.S)
    }


def test_every_header_prototype_is_declared_alike_in_the_cdef():
    header, cdef = prototypes(HEADER.read_text()), prototypes(CDEF.read_text())
    assert header, "no prototypes parsed from the header"
    missing = sorted(set(header) - set(cdef))
    assert not missing, f"in sgi_pool.h but not in sgi_pool.cdef: {missing}"
    differ = {name: (header[name], cdef[name]) for name in header if header[name] != cdef[name]}
    assert not differ, f"signatures differ (header, cdef): {differ}"
    extra = sorted(set(cdef) - set(header))
    assert not extra, f"in sgi_pool.cdef but not in the header: {extra}"


def test_every_header_struct_and_enum_is_declared_alike_in_the_cdef():
    header, cdef = typedefs(HEADER.read_text()), typedefs(CDEF.read_text())
    assert {"sgi_pool_options", "sgi_pool_status", "sgi_pool_stats"} <= set(header)
    for name, decl in header.items():
        assert name in cdef, f"typedef {name} is missing from the cdef"
        # the cdef omits the header's comments and may omit nothing else
        assert cdef[name] == decl, f"typedef {name} differs:\n  h:    {decl}\n  cdef: {cdef[name]}"


def test_the_parser_sees_a_difference():
    """The check can fail: a changed parameter type is reported."""
    text = CDEF.read_text().replace(
        "void *sgi_pool_allocate(sgi_pool *p, size_t n);",
        "void *sgi_pool_allocate(sgi_pool *p, int n);",
    )
    assert (
        prototypes(text)["sgi_pool_allocate"] != prototypes(HEADER.read_text())["sgi_pool_allocate"]
    )


def test_the_integer_address_glue_is_declared_alike_in_the_cdef():
    glue, cdef = prototypes(GLUE.read_text(), "pool_"), prototypes(CDEF.read_text(), "pool_")
    assert len(glue) >= 9
    assert glue == cdef


CAPI = ROOT / "csrc" / "python" / "sgi_pool_capi.h"
CAPI_TABLE = ROOT / "csrc" / "python" / "capi_table.h"


def test_the_c_api_table_lists_every_entry_point_in_the_headers_order():
    """sgi_pool_capi.h's fields (version 1) are sgi_pool.h's functions in its
    order, and capi_table.h fills them in that order: a function added to the
    header must reach the table too (python scripts/generate_capi.py; once
    released, appended only, with the version raised)."""
    header = list(prototypes(HEADER.read_text()))
    fields = re.findall(r"__typeof__\((sgi_pool_\w+)\) \*(\w+);", CAPI.read_text())
    assert [name for name, _ in fields] == header
    assert all(field == name[len("sgi_pool_") :] for name, field in fields)
    filled = re.findall(r"^    (sgi_pool_\w+),$", CAPI_TABLE.read_text(), re.M)
    assert filled == header
