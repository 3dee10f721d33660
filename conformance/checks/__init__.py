"""Check modules, one per spec file; every module here is imported by discover()."""
