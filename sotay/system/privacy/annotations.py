"""The annotations of personal data, read and checked.

Beside each schema's migrations lies a personal_data.toml saying, for every column, whether it
holds personal data and, if it does, its category, sensitivity, purpose, legal basis, readers,
retention and how it is stored (services/members/migrations/personal_data.toml describes the
format); the kit's tables, in every schema, are annotated beside the kit's migrations, and every
field of every event beside the contracts (sotay/contracts/personal_data.toml). Their words are
the keys of terms.toml, which says each in Vietnamese and English.

`read()` gathers them with every problem it finds, each naming what is wrong and where: a term
terms.toml lacks, a personal column without one of its facts, a `copy_of` or `from` naming no
personal column, a field of a catalogued event classified nowhere. `sotay privacy report` writes
nothing while there are any; `column_problems` adds what the database's own columns say
(tests/integration/test_personal_data_drift.py runs the real migrations for it)."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as default
from pathlib import Path
from typing import Any

import sotay
import sotay.contracts
from sotay.kit.auth import ROLES
from sotay.kit.db import KIT_MIGRATIONS
from sotay.kit.events import Event
from sotay.system.registry import SERVICES, load

FILE = "personal_data.toml"
TERMS = Path(__file__).with_name("terms.toml")
CONTRACTS = Path(sotay.contracts.__file__).with_name(FILE)
KIT = "kit"  # the schema name the kit's tables are annotated under: they are in every schema
ROOT = Path(sotay.__file__).resolve().parents[1]

# What a personal column says, each a term of terms.toml (readers: a list of them), and where.
FACTS = {"category": "categories", "sensitivity": "sensitivity", "purpose": "purposes",
         "legal_basis": "legal_bases", "readers": "readers", "retention": "retention", "stored": "stored"}
LINKS = ("copy_of", "abroad")
# Readers that are not roles: the person themself, and nobody but the service.
NOT_ROLES = ("data_subject", "service")


@dataclass(frozen=True)
class PersonalColumn:
    schema: str  # a service's, or KIT
    table: str
    column: str
    category: str
    sensitivity: str
    purpose: str
    legal_basis: str
    readers: tuple[str, ...]
    retention: str
    stored: str
    copy_of: str | None = None  # the column (schema.table.column) this one copies, through events
    abroad: str | None = None  # the processor (terms.toml) its value is sent to

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True)
class EventField:
    """A personal field of a catalogued event type."""

    event: type[Event]
    field: str
    form: str
    source: str  # the personal column (schema.table.column) it comes from


@dataclass
class SchemaNotes:
    schema: str
    path: Path
    tables: dict[str, tuple[list[PersonalColumn], list[str]]]  # table: its personal columns, the others


@dataclass
class Annotations:
    terms: dict[str, Any]
    schemas: dict[str, SchemaNotes]  # by schema, the kit's first
    events: list[type[Event]]  # every catalogued event type, service by service
    event_fields: list[EventField]
    consumers: dict[str, list[str]]  # an event type's CloudEvents type: the services that consume it
    problems: list[str]
    # The services given the key that opens member events' sealed part (SOTAY_EVENTS_KEK).
    key_holders: set[str] = default(default_factory=set)

    def columns(self) -> list[PersonalColumn]:
        """Every personal column, service by service, the kit's last."""
        order = [*[s for s in self.schemas if s != KIT], KIT]
        return [c for s in order for personal, _ in self.schemas[s].tables.values() for c in personal]

    def column(self, key: str) -> PersonalColumn | None:
        return next((c for c in self.columns() if c.key == key), None)


def where(path: Path) -> str:
    """A file as the repository names it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def read(services: Iterable[str] = SERVICES) -> Annotations:
    """Every annotation, with the problems found in them."""
    terms = tomllib.loads(TERMS.read_text())
    problems: list[str] = []
    definitions = {name: load(name) for name in services}
    schemas = {KIT: read_schema(KIT, KIT_MIGRATIONS / FILE, terms, problems)}
    for name, definition in definitions.items():
        schemas[name] = read_schema(name, definition.migrations / FILE, terms, problems)
    annotations = Annotations(terms=terms, schemas=schemas,
                              events=[t for d in definitions.values() for t in d.catalogue], event_fields=[],
                              consumers=consumers_of(definitions), problems=problems,
                              key_holders={n for n, d in definitions.items() if d.reads_member_keys})
    keys = {c.key for c in annotations.columns()}
    for column in annotations.columns():
        if column.copy_of is not None and column.copy_of not in keys:
            problems.append(f"{where(schemas[column.schema].path)}: {column.key}: copy_of {column.copy_of} is not "
                            "a personal column of any annotation")
    annotations.event_fields = read_events(CONTRACTS, annotations.events, keys, terms, problems)
    return annotations


def consumers_of(definitions: dict[str, Any]) -> dict[str, list[str]]:
    """The services that consume each event type, as their consumers say (none needs a context
    to be built)."""
    found: dict[str, list[str]] = {}
    for name, definition in definitions.items():
        for consumer in definition.build_consumers(None):
            for event_type in consumer.handlers:
                if name not in found.setdefault(event_type, []):
                    found[event_type].append(name)
    return found


def read_schema(schema: str, path: Path, terms: dict[str, Any], problems: list[str]) -> SchemaNotes:
    notes = SchemaNotes(schema, path, {})
    if not path.exists():
        problems.append(f"{where(path)}: missing: every schema's columns are annotated beside its migrations")
        return notes
    raw = tomllib.loads(path.read_text())
    for extra in sorted(set(raw) - {"tables"}):
        problems.append(f"{where(path)}: [{extra}] is not a section of an annotation file (only [tables.<name>])")
    for table, spec in raw.get("tables", {}).items():
        defaults = {k: v for k, v in spec.items() if k not in ("personal", "not_personal")}
        for key in sorted(set(defaults) - set(FACTS)):
            problems.append(f"{where(path)}: {schema}.{table}: unknown key {key!r} (a table says "
                            f"{', '.join(FACTS)}, personal, not_personal)")
        others = list(spec.get("not_personal", []))
        personal = []
        for column, own in spec.get("personal", {}).items():
            name = f"{schema}.{table}.{column}"
            if column in others:
                problems.append(f"{where(path)}: {name}: both personal and not_personal")
            merged = {k: v for k, v in defaults.items() if k in FACTS} | own
            for key in sorted(set(own) - set(FACTS) - set(LINKS)):
                problems.append(f"{where(path)}: {name}: unknown key {key!r}")
            if missing := [fact for fact in FACTS if fact not in merged]:
                problems.append(f"{where(path)}: {name}: says no {', '.join(missing)}")
                continue
            problems += [f"{where(path)}: {name}: {p}" for p in term_problems(merged, terms)]
            personal.append(PersonalColumn(schema, table, column, **{k: merged[k] for k in FACTS if k != "readers"},
                                           readers=tuple(merged["readers"]), copy_of=merged.get("copy_of"),
                                           abroad=merged.get("abroad")))
        notes.tables[table] = (personal, others)
    return notes


def term_problems(facts: dict[str, Any], terms: dict[str, Any]) -> list[str]:
    """What in a personal column's facts terms.toml does not know."""
    problems = []
    for fact, section in FACTS.items():
        if fact == "readers":
            continue
        if facts[fact] not in terms[section]:
            problems.append(f"{fact} {facts[fact]!r} is not a term of [{section}] in {where(TERMS)} "
                            f"(known: {', '.join(terms[section])})")
    readers = facts["readers"]
    if not isinstance(readers, list) or not readers:
        return [*problems, "readers must list who may read it: roles, data_subject or service"]
    for reader in readers:
        role, _, qualifier = reader.partition(":")
        if role not in ROLES and role not in NOT_ROLES:
            problems.append(f"reader {reader!r}: {role!r} is not a role of sotay/kit/auth.py ROLES "
                            f"({', '.join(ROLES)}), data_subject or service")
        elif role not in terms["readers"]:
            problems.append(f"reader {role!r} has no words in [readers] of {where(TERMS)}")
        if qualifier and qualifier not in terms["reader_qualifiers"]:
            problems.append(f"reader {reader!r}: {qualifier!r} is not a term of [reader_qualifiers] in {where(TERMS)}")
    abroad = facts.get("abroad")
    if abroad is not None and abroad not in terms["processors"]:
        problems.append(f"abroad {abroad!r} is not a processor of [processors] in {where(TERMS)}")
    return problems


def read_events(path: Path, events: list[type[Event]], columns: set[str], terms: dict[str, Any],
                problems: list[str]) -> list[EventField]:
    """The personal fields of the catalogued events; a field classified nowhere, an annotation of
    a class or a field no event has, an unknown form or a `from` naming no personal column are
    problems."""
    if not path.exists():
        problems.append(f"{where(path)}: missing: every event field is classified there")
    document = tomllib.loads(path.read_text()) if path.exists() else {}
    raw, raw_sealed = document.get("events", {}), document.get("sealed", {})
    classes = {c.__name__: c for event in events for c in event.__mro__ if c.__name__ in raw}
    for name in raw:
        if name not in classes:
            problems.append(f"{where(path)}: [events.{name}]: no catalogued event is or extends {name}")
    for name, spec in raw.items():
        fields = getattr(classes.get(name), "model_fields", {})
        for field in [*spec.get("personal", {}), *spec.get("not_personal", [])]:
            if name in classes and field not in fields:
                problems.append(f"{where(path)}: {name}.{field}: {name} has no such field")
    found = []
    for event in events:
        for field in event.model_fields:
            spec = next((raw[c.__name__] for c in event.__mro__ if c.__name__ in raw
                         and (field in raw[c.__name__].get("personal", {})
                              or field in raw[c.__name__].get("not_personal", []))), None)
            if spec is None:
                problems.append(f"{where(path)}: event {event.__name__} ({event.event_type()}): field {field} is not "
                                f"classified (add it to [events.{event.__name__}.personal] with its form and "
                                "`from`, or to its not_personal)")
                continue
            if field not in spec.get("personal", {}):
                continue
            note = spec["personal"][field]
            if "sealed" in note:  # a part sealed under a key: its own fields, each with its form
                found += sealed_fields(path, event, field, note["sealed"], raw_sealed, columns, terms, problems)
                continue
            form, source = note.get("form"), note.get("from")
            if form not in terms["forms"]:
                problems.append(f"{where(path)}: {event.__name__}.{field}: form {form!r} is not a term of [forms] "
                                f"in {where(TERMS)} (known: {', '.join(terms['forms'])})")
            elif source not in columns:
                problems.append(f"{where(path)}: {event.__name__}.{field}: from {source!r} is not a personal column "
                                "of any annotation")
            else:
                found.append(EventField(event, field, form, source))
    return found


def sealed_fields(path: Path, event: type[Event], field: str, name: str, raw: dict[str, Any], columns: set[str],
                  terms: dict[str, Any], problems: list[str]) -> list[EventField]:
    """The fields of `event`'s part `field`, sealed as model `name` of the event's contract module
    (MemberPersonal: sotay/kit/member_keys.py), classified under [sealed.<name>] like an event's."""
    model = getattr(sys.modules[event.__module__], name, None)
    spec = raw.get(name)
    if model is None or spec is None:
        problems.append(f"{where(path)}: {event.__name__}.{field}: sealed {name!r} is not a model of "
                        f"{event.__module__} classified under [sealed.{name}]")
        return []
    found = []
    for inner in model.model_fields:
        note = spec.get("personal", {}).get(inner)
        if note is None:
            if inner not in spec.get("not_personal", []):
                problems.append(f"{where(path)}: [sealed.{name}]: field {inner} is not classified")
            continue
        form, source = note.get("form"), note.get("from")
        if form not in terms["forms"]:
            problems.append(f"{where(path)}: {name}.{inner}: form {form!r} is not a term of [forms] in {where(TERMS)}")
        elif source not in columns:
            problems.append(f"{where(path)}: {name}.{inner}: from {source!r} is not a personal column of any annotation")
        else:
            found.append(EventField(event, f"{field}.{inner}", form, source))
    return found


def column_problems(annotations: Annotations, schema: str, columns: dict[str, list[str]]) -> list[str]:
    """What the annotations miss or have too many of, against a schema's tables and their columns
    as the database has them: each column is annotated in the service's file or, for the kit's
    tables, in the kit's."""
    problems = []
    own, kit = annotations.schemas[schema], annotations.schemas[KIT]
    for table, names in columns.items():
        notes = kit if table in kit.tables else own
        personal, others = notes.tables.get(table, ([], []))
        annotated = {c.column for c in personal} | set(others)
        for column in names:
            if column not in annotated:
                problems.append(f"{schema}.{table}.{column}: not annotated in {where(notes.path)} (add it under "
                                f"[tables.{table}.personal] with what it holds, or to the table's not_personal)")
        for column in sorted(annotated - set(names)):
            problems.append(f"{schema}.{table}.{column}: annotated in {where(notes.path)}, but the database has "
                            "no such column")
    for notes in (own, kit):
        for table in notes.tables:
            if table not in columns:
                problems.append(f"{schema}.{table}: annotated in {where(notes.path)}, but the database has no such table")
    return problems
