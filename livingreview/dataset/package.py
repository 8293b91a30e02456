"""The data contract as a Frictionless Data Package: ``data/datapackage.json`` and a Table Schema per table
(``data/schemas/<table>.json``). One descriptor says what every table holds — types, required values, allowed
values, patterns, ranges, primary and foreign keys — for this package's loader and for any standard tool
(``frictionless validate data/datapackage.json``, R's ``frictionless``).

The contract is the repository's: a dataset elsewhere (``--data DIR``, the test fixtures) is read against it.
Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The repository's data package: the contract every dataset is read against.
CONTRACT = Path(__file__).resolve().parents[2] / "data" / "datapackage.json"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | integer | number | date | datetime | boolean
    required: bool = False
    unique: bool = False
    enum: tuple | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class Resource:
    """One table: its file, fields (in order), primary key and foreign keys ((fields, resource, fields), …)."""

    name: str
    path: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...]
    schema: dict  # the Table Schema itself, for standard tools

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _field(d: dict) -> Field:
    c = d.get("constraints", {})
    return Field(d["name"], d.get("type", "string"), bool(c.get("required")), bool(c.get("unique")),
                 tuple(c["enum"]) if "enum" in c else None, c.get("pattern"), c.get("minimum"), c.get("maximum"),
                 d.get("title", ""), d.get("description", ""))


@lru_cache(maxsize=4)
def load_package(path: Path = CONTRACT) -> tuple[dict, dict[str, Resource]]:
    """The descriptor and its resources (name → Resource), schemas resolved."""
    path = Path(path)
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    resources = {}
    for r in descriptor["resources"]:
        schema = r["schema"]
        if isinstance(schema, str):
            schema = json.loads((path.parent / schema).read_text(encoding="utf-8"))
        fks = tuple((tuple(fk["fields"]), fk["reference"]["resource"] or r["name"], tuple(fk["reference"]["fields"]))
                    for fk in schema.get("foreignKeys", []))
        resources[r["name"]] = Resource(r["name"], r["path"], tuple(_field(f) for f in schema["fields"]),
                                        tuple(schema.get("primaryKey", [])), fks, schema)
    return descriptor, resources


def resources() -> dict[str, Resource]:
    return load_package()[1]


__all__ = ["CONTRACT", "Field", "Resource", "load_package", "resources"]
