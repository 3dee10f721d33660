"""Conformance and benchmark tooling run against pyoci and other OCI runtimes."""
