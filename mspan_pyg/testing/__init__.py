"""Reference implementations the tests and benchmarks compare the library with."""

from mspan_pyg.testing.dense_reference import DenseMSPAN, dense_attention

__all__ = ["DenseMSPAN", "dense_attention"]
