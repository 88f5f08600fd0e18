"""Tiny files in the releases' exact formats are written per test (see each test module)."""
