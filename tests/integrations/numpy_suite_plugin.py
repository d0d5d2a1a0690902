"""pytest plugin for running numpy's own tests with the sgi_pool handler installed for
the whole run (tests/integrations/test_numpy.py uses it: -p numpy_suite_plugin).  At the end it
prints how many bytes the handler's pool holds and the handler name then in effect,
so the caller can check that the handler really served arrays."""

import numpy

import pool.numpy as pool_numpy


def pytest_configure(config):
    pool_numpy.install()


def pytest_unconfigure(config):
    stats = pool_numpy.default_pool().stats()
    name = (getattr(numpy, "_core", None) or numpy.core).multiarray.get_handler_name()
    print(f"\nSGI_POOL_NUMPY heap_size={stats.heap_size} handler={name}")
    pool_numpy.uninstall()
