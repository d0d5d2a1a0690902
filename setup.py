# cffi's setuptools hook needs this file; all metadata is in pyproject.toml.
# pool._fast (the CPython fast path) is a plain C-API extension beside the cffi modules;
# pool/libsgipool.so (the LD_PRELOAD library) a plain shared library (build_preload.py).
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_fast import extensions  # noqa: E402
from build_preload import BuildExt  # noqa: E402
from build_preload import extensions as preload_extensions  # noqa: E402

setup(cffi_modules=["build_pool.py:ffibuilder", "build_bench.py:ffibuilder"],
      ext_modules=extensions() + preload_extensions(),
      cmdclass={"build_ext": BuildExt})
