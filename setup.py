# cffi's setuptools hook; every compiled artefact is described in build_pool.py,
# all metadata is in pyproject.toml.
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_pool  # noqa: E402

setup(
    cffi_modules=["build_pool.py:ffibuilder", "build_pool.py:bench_ffibuilder"],
    ext_modules=build_pool.extensions(),
    cmdclass=build_pool.cmdclass(),
)
