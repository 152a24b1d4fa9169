"""Timing suites, ablations and the writers of the generated docs blocks; run each as
``python -m benchmarks.<name>``."""
