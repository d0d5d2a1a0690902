"""Builds the example extension: python setup.py build_ext --inplace."""

from setuptools import Extension, setup

import pool

setup(
    name="pool-stack-example",
    ext_modules=[
        Extension(
            "pool_stack",
            ["pool_stack.c"],
            include_dirs=[pool.get_include()],  # sgi_pool_capi.h, sgi_pool.h
            extra_compile_args=["-std=c11", "-Wall", "-Wextra"],
        )
    ],
)
