"""Benchmarks and the reference method segspark is measured against."""
