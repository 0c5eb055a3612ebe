"""Frozen-dataclass configuration: one per stage, serialised to YAML/JSON with a schema version."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from ._errors import UnpickInputError

#: Version of the config file layout. Not raised when a section stopped writing the options its
#: variant does not read (``StageConfig.ONLY_FOR``): such options are always at their defaults, so
#: a file without them means the same to a reader that fills in the defaults (any unpick), and a
#: file with them still loads (``PickConfig.from_dict`` drops them). Raise it only for a change an
#: earlier reader would misread.
SCHEMA_VERSION = 1

C = TypeVar("C", bound="StageConfig")


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """Base for stage configs: ``to_dict``/``from_dict`` round-trip exactly, nested configs included.

    Subclasses validate in ``__post_init__`` and raise UnpickInputError("field: expected X, got Y").

    A config with variants (a feature mode, a clustering or extraction method) names the field that
    selects the variant in ``VARIANT_FIELD`` and, in ``ONLY_FOR``, the options only some variants
    read, with those variants. Its ``__post_init__`` ends with ``super().__post_init__()``, which
    refuses a value other than the default for an option the variant does not read (it would have
    no effect), and ``to_dict`` leaves such options out, so a written config holds only what its
    variant reads.
    """

    #: Name of the field that selects the variant (e.g. ``"mode"``), or None for a config without variants.
    VARIANT_FIELD: ClassVar[str | None] = None
    #: Options read by some variants only -> those variants; an option not listed applies to every variant.
    ONLY_FOR: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        if self.VARIANT_FIELD is None:
            return
        variant = getattr(self, self.VARIANT_FIELD)
        for name, variants in self.ONLY_FOR.items():
            default = self.__dataclass_fields__[name].default
            if variant not in variants and getattr(self, name) != default:
                raise UnpickInputError(
                    f"{name}: expected the default {default!r} with {self.VARIANT_FIELD} {variant!r}, got "
                    f"{getattr(self, name)!r}; it applies only to {' and '.join(variants)}, so leave it out"
                )

    @classmethod
    def reads(cls, name: str, variant: str) -> bool:
        """Whether the ``variant`` of this config reads the option ``name`` (``ONLY_FOR``)."""
        return variant in cls.ONLY_FOR.get(name, (variant,))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) ready for JSON/YAML, with only the options the variant reads."""
        variant = None if self.VARIANT_FIELD is None else getattr(self, self.VARIANT_FIELD)
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if variant is not None and not self.reads(field.name, variant):
                continue
            value = getattr(self, field.name)
            if isinstance(value, StageConfig):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from ``to_dict`` output; unknown keys are an error, not ignored."""
        if not isinstance(data, dict):
            raise UnpickInputError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
        data = {k: v for k, v in data.items() if k != "schema_version"}
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UnpickInputError(
                f"{cls.__name__}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            kwargs[name] = _coerce(hints[name], value)
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps({"schema_version": SCHEMA_VERSION, **self.to_dict()}, indent=2, sort_keys=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump({"schema_version": SCHEMA_VERSION, **self.to_dict()}, sort_keys=True)

    @classmethod
    def from_file(cls: type[C], path: str | Path) -> C:
        """Read a YAML or JSON file written by ``to_yaml``/``to_json``."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise UnpickInputError(f"{path}: cannot read config ({err}); check the path and YAML syntax") from err
        version = data.get("schema_version", SCHEMA_VERSION) if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            raise UnpickInputError(
                f"{path}: config schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        return cls.from_dict(data)


def _coerce(hint: Any, value: Any) -> Any:
    """Turn JSON/YAML values back into the field's type (nested configs, tuples)."""
    if isinstance(hint, type) and issubclass(hint, StageConfig) and isinstance(value, dict):
        return hint.from_dict(value)
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            if value is not None:
                return _coerce(arg, value)
    return value
