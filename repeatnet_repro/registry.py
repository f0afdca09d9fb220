"""Name -> builder registries whose config schemas are derived from the builders' signatures.

Every config group that picks code (model, dataset, sharing scheme) is a `Registry`. A builder's
keyword arguments *are* its config: `schema()` turns the signature into a dataclass, which is
stored in Hydra's ConfigStore as `schema/<group>/<name>`. Each YAML option `conf/<group>/<name>.yaml`
starts with `defaults: [/schema/<group>/<builder>@_here_, _self_]`, so a misspelt key or a value of
the wrong type fails when Hydra composes the config. A keyword's valid values are declared beside its
type, `Annotated[int, Range(ge=1)]`, and `Registry.check` tests a composed node against them before
anything is built (the fixed groups declare theirs in their dataclass fields' metadata, config.py).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import operator
import re
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import MISSING


class ConfigError(ValueError):
    """A user-caused configuration problem; its message names the key and the valid values."""


@dataclasses.dataclass(frozen=True)
class Range:
    """A finite number within bounds. Whether it must be an integer, may be null or is a list of such
    numbers follows from the annotated type (`constraint_of`), so a declaration states only the bounds."""

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    integer: bool = False
    each: bool = False
    optional: bool = False

    def describe(self) -> str:
        noun = "integer" if self.integer else "finite number"
        what = f"a list of {noun}s" if self.each else f"{'an' if self.integer else 'a'} {noun}"
        bounds = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                  if v is not None]
        return what + (" " + " and ".join(bounds) if bounds else "") + (", or null" if self.optional else "")

    def _accepts_one(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        return math.isfinite(value) and all(cmp(value, bound) for cmp, bound in (
            (operator.ge, self.ge), (operator.gt, self.gt), (operator.le, self.le), (operator.lt, self.lt))
            if bound is not None)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.each:
            return isinstance(value, Sequence) and not isinstance(value, str) and \
                all(self._accepts_one(v) for v in value)
        return self._accepts_one(value)


@dataclasses.dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (null too when the annotated type is Optional)."""

    values: tuple
    optional: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values)) + (", or null" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        return (value is None and self.optional) or (value is not None and value in self.values)


@dataclasses.dataclass(frozen=True)
class Matches:
    """A string matching a regular expression (`what` says it in words)."""

    pattern: str
    what: str
    optional: bool = False

    def describe(self) -> str:
        return self.what + (", or null" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        return (value is None and self.optional) or (isinstance(value, str) and re.fullmatch(self.pattern, value) is not None)


@dataclasses.dataclass(frozen=True)
class Width:
    """Marks the one keyword of a model builder that sets its width, `Annotated[int, Range(ge=1), Width()]`:
    the knob matched budgets search (analysis/matching.py). A declaration, not a constraint."""


Constraint = typing.Union[Range, OneOf, Matches]


def check_value(key: str, value: Any, constraint: Constraint) -> None:
    """One line naming the key, the value and what is valid, when the value breaks its constraint."""
    if not constraint.accepts(value):
        shown = "null" if value is None else value if isinstance(value, str) and value else repr(value)
        raise ConfigError(f"{key}={shown} is not valid: {key} must be {constraint.describe()}")


def unknown_keys(where: str, unknown: List[str], known: List[str]) -> ConfigError:
    """The one-line error for keys a node does not have: the closest valid ones first, then all."""
    import difflib

    near = [f"{where}.{n}" if where else n for n in difflib.get_close_matches(unknown[0], known, n=3, cutoff=0.4)]
    hint = f"did you mean {', '.join(near)}? " if near else ""
    keys = ", ".join(f"{where}.{u}" if where else u for u in unknown)
    return ConfigError(f"{keys}: no such key{' in ' + where if where else ''}; {hint}valid keys: "
                       f"{', '.join(sorted(known))}")


def complete(constraint: Constraint, base: Any) -> Constraint:
    """The constraint with what its value's type says: Optional -> null allowed, int -> integers,
    List[...] -> every item."""
    args = typing.get_args(base)
    optional = typing.get_origin(base) is typing.Union and type(None) in args
    if optional:
        base = next(a for a in args if a is not type(None))
    each = typing.get_origin(base) in (list, List, tuple, Sequence)
    item = typing.get_args(base)[0] if each and typing.get_args(base) else base
    if not isinstance(constraint, Range):
        return dataclasses.replace(constraint, optional=optional)
    return dataclasses.replace(constraint, optional=optional, each=each, integer=item is int)


def constraint_of(annotation: Any) -> Optional[Constraint]:
    """The constraint an `Annotated[type, constraint]` annotation declares, if any."""
    if typing.get_origin(annotation) is typing.Annotated:
        found = [m for m in annotation.__metadata__ if isinstance(m, (Range, OneOf, Matches))]
        return complete(found[0], typing.get_args(annotation)[0]) if found else None
    return None


def _field_type(annotation: Any) -> Any:
    """Map an annotation to one OmegaConf accepts; anything exotic becomes Any."""
    if annotation is inspect.Parameter.empty:
        return Any
    if typing.get_origin(annotation) is typing.Annotated:
        return _field_type(typing.get_args(annotation)[0])
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

    def __init__(self, group: str, nested: bool = False):
        """nested: several options at once, each under `<group>.<name>` (the analyses)."""
        self.group, self.nested = group, nested
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

    def hints(self, name: str) -> Dict[str, Any]:
        builder = self.get(name)
        return typing.get_type_hints(builder.__init__ if isinstance(builder, type) else builder,
                                     include_extras=True)

    def constraints(self, name: str, skip: int = 0) -> Dict[str, Optional[Constraint]]:
        """Every keyword of a builder with the constraint its annotation declares (None: any value)."""
        hints = self.hints(name)
        return {p: constraint_of(hints.get(p)) for p in self.params(name, skip)}

    def check(self, cfg: Any, skip: int = 0) -> None:
        """Unknown keys and values outside their declared constraints fail with one line each."""
        name = cfg["name"]
        where = f"{self.group}.{name}" if self.nested else self.group
        valid = self.constraints(name, skip)
        unknown = sorted(set(cfg) - set(valid) - {"name"})
        if unknown:
            raise unknown_keys(where, unknown, ["name", *valid])
        for key, constraint in valid.items():
            if constraint is not None and key in cfg:
                check_value(f"{where}.{key}", cfg[key], constraint)

    def schema(self, name: str, skip: int = 0) -> type:
        """A dataclass with a `name` field plus one field per builder keyword."""
        hints = self.hints(name)
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
        self.check(kwargs, skip)
        name = kwargs.pop("name")
        return self.get(name)(*args, **kwargs, **extra)

    def store_schemas(self, skip: int = 0) -> None:
        from hydra.core.config_store import ConfigStore

        cs = ConfigStore.instance()
        for name in self.choices():
            cs.store(group=f"schema/{self.group}", name=name, node=self.schema(name, skip))
