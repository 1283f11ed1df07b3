"""Experiment configs: the schema (:mod:`.schema`, every key with its default and range), YAML 1.2 reading with a
line for every key (:mod:`.yaml12`), where each value came from (:mod:`.origin`), and layering with error messages
that name file, line and key (:mod:`.load`). No torch import."""
from __future__ import annotations

from kansci.config.load import (
    ConfigSource,
    config_to_dict,
    config_to_yaml,
    default_config,
    error_at,
    line_of,
    load_config,
    reference_yaml,
    resolve_data_path,
)
from kansci.config.origin import Origin, Place
from kansci.config.schema import Config

__all__ = ["Config", "ConfigSource", "Origin", "Place", "config_to_dict", "config_to_yaml", "default_config",
           "error_at", "line_of", "load_config", "reference_yaml", "resolve_data_path"]
