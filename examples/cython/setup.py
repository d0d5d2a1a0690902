"""Builds the example Cython extension: python setup.py build_ext --inplace."""

from Cython.Build import cythonize
from setuptools import Extension, setup

import pool

setup(
    name="pool-cython-example",
    ext_modules=cythonize(
        [Extension("pool_cy_stack", ["pool_cy_stack.pyx"], include_dirs=[pool.get_include()])]
    ),
)
