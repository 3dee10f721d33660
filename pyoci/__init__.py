"""pyoci: an OCI runtime-spec v1.3.0 container runtime in Python."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
