# cffi's setuptools hook needs this file; all metadata is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["build_pool.py:ffibuilder", "build_bench.py:ffibuilder"])
