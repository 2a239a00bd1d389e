"""Configuration: composition, schema, objects and identity, one module each.

    compose.py   defaults.yaml, group choices, scale presets, `key=value` overrides -> a DictConfig
    schema.py    ConfigError, to_dict, the type and range of every number
    build.py     configuration -> model, SDE, sampler, front end; validate() builds each once
    identity.py  training_hash (a model folder's name), cell_hash, and what each leaves out

Front doors import from here; the modules import one way: compose -> build -> schema, identity ->
build.
"""
from .build import (
                    build_model,
                    build_sde_from,
                    fresh_model,
                    frontend_from,
                    noise_law_from,
                    sampler_from_config,
                    trainer_settings,
                    validate,
)
from .compose import CONFIG_DIR, GROUPS, compose, group_choices, load_group, parse_cli, scale_overrides, split_overrides
from .identity import (
                    GAMMA_FREE_SDES,
                    cell_hash,
                    gamma_free,
                    inference_config,
                    stable_hash,
                    training_config,
                    training_hash,
)
from .schema import ConfigError, flat_keys, to_dict

__all__ = ["CONFIG_DIR", "GAMMA_FREE_SDES", "GROUPS", "ConfigError", "flat_keys", "build_model", "build_sde_from",
           "cell_hash",
           "compose", "fresh_model", "frontend_from", "gamma_free", "group_choices", "inference_config",
           "load_group", "noise_law_from", "parse_cli", "sampler_from_config", "scale_overrides",
           "split_overrides", "stable_hash", "to_dict", "trainer_settings", "training_config", "training_hash",
           "validate"]
