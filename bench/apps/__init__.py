"""WSGI apps that only benchmarks serve (never part of the product)."""
