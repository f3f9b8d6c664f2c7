"""Benchmarks and soak tests: they measure the runtime from outside; the runtime never imports them."""
