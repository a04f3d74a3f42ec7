"""docker-compose.yml as Compose reads it, without Docker: its variables filled in from an
environment (`.env`, `--env-file`) the way Compose does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEV_ENV = ROOT / "deploy" / "dev.env"
MAKE_ENV = ROOT / "deploy" / "make-env"

# $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR
_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


class MissingVariable(KeyError):
    """A `${VAR:?message}` whose variable is unset (or empty): Compose refuses to start."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(name)
        self.name, self.message = name, message


def interpolate(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        given = env.get(name)
        unset = given is None or (operator in (":-", ":?") and given == "")
        if operator in (":?", "?") and unset:
            raise MissingVariable(name, argument)
        if operator in (":-", "-") and unset:
            return argument
        return given or ""
    return _VARIABLE.sub(one, value)


def resolved(node: Any, env: dict[str, str]) -> Any:
    """Every string of a parsed compose file (keys too) with its variables filled in from `env`."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {resolved(key, env): resolved(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(item, env) for item in node]
    return node


def missing_variables(node: Any) -> dict[str, str]:
    """Each variable Compose would refuse to start without, with its message, when none is set."""
    found: dict[str, str] = {}
    strings = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                walk(key)
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)
    walk(node)
    for text in strings:
        for match in _VARIABLE.finditer(text):
            try:
                interpolate(match.group(0), {})
            except MissingVariable as missing:
                found[missing.name] = missing.message
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file as Compose reads it: NAME=value lines; blank lines and # comments left out."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs
