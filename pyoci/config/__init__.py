"""config.json loading and validation (schemas in ``schemas/``)."""

from pyoci.config.load import load_config, parse_json_document
from pyoci.config.semantic import check_config, check_container_id
from pyoci.config.validate import (
    schema_path,
    validate_config,
    validate_features,
    validate_state,
)

__all__ = [
    "check_config",
    "check_container_id",
    "load_config",
    "parse_json_document",
    "schema_path",
    "validate_config",
    "validate_features",
    "validate_state",
]
