"""Name -> builder registries whose config schemas are derived from the builders' signatures.

Every config group that picks code (model, dataset, sharing scheme) is a `Registry`. A builder's
keyword arguments *are* its config: `schema()` turns the signature into a dataclass, which is
stored in Hydra's ConfigStore as `schema/<group>/<name>`. Each YAML option `conf/<group>/<name>.yaml`
starts with `defaults: [/schema/<group>/<builder>@_here_, _self_]`, so a misspelt key or a value of
the wrong type fails when Hydra composes the config.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable, Dict, List, Optional

from omegaconf import MISSING


class ConfigError(ValueError):
    """A user-caused configuration problem; its message names the key and the valid values."""


def _field_type(annotation: Any) -> Any:
    """Map an annotation to one OmegaConf accepts; anything exotic becomes Any."""
    if annotation is inspect.Parameter.empty:
        return Any
    origin = typing.get_origin(annotation)
    if annotation in (int, float, str, bool) or annotation is Any:
        return annotation
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in (int, float, str, bool):
            return Optional[args[0]]
        return Any
    return Any


class Registry:
    """Builders of one config group, found by name."""

    def __init__(self, group: str):
        self.group = group
        self._builders: Dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(builder: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._builders:
                raise ValueError(f"{self.group} '{name}' is registered twice")
            self._builders[name] = builder
            return builder

        return add

    def choices(self) -> List[str]:
        return sorted(self._builders)

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            raise ConfigError(
                f"unknown {self.group} '{name}'; valid choices: {', '.join(self.choices())}"
            )
        return self._builders[name]

    def params(self, name: str, skip: int = 0) -> Dict[str, inspect.Parameter]:
        """Keyword parameters of a builder (the first `skip` positional ones are not config)."""
        sig = inspect.signature(self.get(name))
        params = list(sig.parameters.values())[skip:]
        return {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def schema(self, name: str, skip: int = 0) -> type:
        """A dataclass with a `name` field plus one field per builder keyword."""
        hints = typing.get_type_hints(self.get(name)) if not isinstance(self.get(name), type) else \
            typing.get_type_hints(self.get(name).__init__)
        fields = [("name", str, dataclasses.field(default=name))]
        for pname, p in self.params(name, skip).items():
            ftype = _field_type(hints.get(pname, p.annotation))
            default = MISSING if p.default is inspect.Parameter.empty else p.default
            if isinstance(default, (list, dict, tuple)):
                value = default
                fields.append((pname, Any, dataclasses.field(default_factory=lambda v=value: v)))
            else:
                fields.append((pname, ftype, dataclasses.field(default=default)))
        cls_name = f"{self.group.title()}{name.title().replace('_', '')}Config"
        return dataclasses.make_dataclass(cls_name, fields)

    def build(self, cfg: Any, *args: Any, skip: int = 0, **extra: Any) -> Any:
        """Call the builder named by `cfg.name` with the remaining keys as keyword arguments."""
        from omegaconf import OmegaConf

        kwargs = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else dict(cfg)
        name = kwargs.pop("name")
        valid = self.params(name, skip)
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ConfigError(
                f"{self.group} '{name}' has no option(s) {unknown}; valid options: {sorted(valid)}"
            )
        return self.get(name)(*args, **kwargs, **extra)

    def store_schemas(self, skip: int = 0) -> None:
        from hydra.core.config_store import ConfigStore

        cs = ConfigStore.instance()
        for name in self.choices():
            cs.store(group=f"schema/{self.group}", name=name, node=self.schema(name, skip))
