"""Plumbing every stage shares: the error type and CLI wrapper, atomic I/O, params, canonical column names."""
