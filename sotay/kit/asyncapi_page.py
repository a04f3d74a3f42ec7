"""A service's AsyncAPI document as a plain HTML page (`/api/<service>/v1/asyncapi.html`).

FastStream's own page loads a JavaScript viewer and its styles from a CDN: under the pages'
Content-Security-Policy it would not run, and it would tell an outside server who reads our
documentation. This page is written on the server from the AsyncAPI document itself: every
channel with its subject, each message and its payload schema, as tables. It has no script,
no inline style and loads only its stylesheet (ASYNCAPI_CSS), from the same service.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import unquote

ASYNCAPI_STYLESHEET = "asyncapi.css"
ASYNCAPI_CSS = """\
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem; color: #1f2328; }
h1 { margin-bottom: 0; }
h2 { margin-top: 2rem; border-top: 2px solid #a50e0e; padding-top: .75rem; }
code { background: #f3f4f6; padding: 0 .25rem; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .95rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td table { margin: .25rem 0 0; }
.muted { color: #57606a; }
.required { color: #a50e0e; font-weight: bold; }
nav ul { columns: 2; }
@media (max-width: 40rem) { nav ul { columns: 1; } table { font-size: .85rem; } }
"""
# Nested objects are shown this deep; below, the schema's name is enough (the JSON has it all).
MAX_DEPTH = 4


def asyncapi_html(spec: dict[str, Any], json_url: str) -> str:
    """The page for `spec` (an AsyncAPI 3 document as JSON data); `json_url` is the document itself."""
    info = spec.get("info", {})
    channels = sorted(spec.get("channels", {}).items())
    parts = [
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(info.get('title', 'AsyncAPI'))}</title>",
        f'<link rel="stylesheet" href="{ASYNCAPI_STYLESHEET}">', "</head>", "<body>",
        f"<h1>{escape(info.get('title', ''))}</h1>",
        f"<p class=\"muted\">AsyncAPI {escape(str(spec.get('asyncapi', '')))} · version "
        f"{escape(str(info.get('version', '')))} · <a href=\"{escape(json_url)}\">JSON</a></p>",
    ]
    if info.get("description"):
        parts.append(f"<p>{escape(info['description'])}</p>")
    parts.append("<nav><ul>")
    parts += [f'<li><a href="#{_anchor(name)}">{escape(name)}</a></li>' for name, _ in channels]
    parts.append("</ul></nav>")
    for name, channel in channels:
        parts += _channel(spec, name, channel)
    parts += ["</body>", "</html>"]
    return "\n".join(parts)


def _anchor(name: str) -> str:
    return "ch-" + "".join(c if c.isalnum() else "-" for c in name)


def _channel(spec: dict, name: str, channel: dict) -> list[str]:
    parts = [f'<section id="{_anchor(name)}">', f"<h2>{escape(name)}</h2>",
             f"<p>Subject <code>{escape(channel.get('address', ''))}</code></p>"]
    if channel.get("description"):
        parts.append(f"<p>{escape(channel['description'])}</p>")
    for parameter, about in channel.get("parameters", {}).items():
        examples = ", ".join(f"<code>{escape(str(e))}</code>" for e in about.get("examples", []))
        parts.append(f"<p><code>{{{escape(parameter)}}}</code>: {escape(about.get('description', ''))}"
                     + (f" Examples: {examples}." if examples else "") + "</p>")
    ref = f"#/channels/{name.replace('~', '~0').replace('/', '~1')}"
    actions = [op for op in spec.get("operations", {}).values() if op.get("channel", {}).get("$ref") == ref]
    if actions:
        parts.append("<ul>" + "".join(
            f"<li>{'publishes' if op.get('action') == 'send' else 'consumes'}: {escape(op.get('title', ''))}"
            f"{' — ' + escape(op['summary']) if op.get('summary') else ''}</li>" for op in actions) + "</ul>")
    for message_name, message in sorted(channel.get("messages", {}).items()):
        message = _resolve(spec, message)
        parts.append(f"<h3>{escape(message.get('title') or message_name)}</h3>")
        payload = message.get("payload")
        if payload is not None:
            parts.append(_schema_table(spec, payload, MAX_DEPTH))
    parts.append("</section>")
    return parts


def _resolve(spec: dict, node: Any) -> Any:
    """Follow a local `$ref` (`#/components/...`, its parts URL-quoted) to what it names."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        ref = node["$ref"]
        if ref in seen:
            break
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(unquote(part).replace("~1", "/").replace("~0", "~"), {}) \
                if isinstance(target, dict) else {}
        node = target
    return node


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return unquote(node["$ref"].rsplit("/", 1)[-1])
    return None


def _type_of(spec: dict, schema: Any) -> str:
    """A short description of a schema's type: `string (date)`, `one of: string, null`, `Unit`…"""
    name = _ref_name(schema)
    schema = _resolve(spec, schema)
    if not isinstance(schema, dict):
        return ""
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return f"= {schema['const']}"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " | ".join(_type_of(spec, option) for option in schema[combinator])
    kind = schema.get("type", name or "object")
    if kind == "array":
        return f"array of {_type_of(spec, schema.get('items', {}))}"
    if name and kind == "object":
        return name
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _object_of(spec: dict, schema: Any) -> dict | None:
    """The object schema a property holds (itself, its array's items, or its non-null option)."""
    schema = _resolve(spec, schema)
    if not isinstance(schema, dict):
        return None
    if schema.get("properties"):
        return schema
    if schema.get("type") == "array":
        return _object_of(spec, schema.get("items"))
    for combinator in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(combinator, []):
            found = _object_of(spec, option)
            if found:
                return found
    return None


def _schema_table(spec: dict, schema: Any, depth: int) -> str:
    obj = _object_of(spec, schema)
    if obj is None:
        return f"<p><code>{escape(_type_of(spec, schema))}</code></p>"
    required = set(obj.get("required", []))
    rows = ["<table>", "<tr><th>field</th><th>type</th><th>description</th></tr>"]
    for field, prop in obj["properties"].items():
        resolved = _resolve(spec, prop)
        description = resolved.get("description", "") if isinstance(resolved, dict) else ""
        mark = ' <span class="required" title="required">*</span>' if field in required else ""
        nested = _schema_table(spec, prop, depth - 1) if depth > 1 and _object_of(spec, prop) else ""
        rows.append(f"<tr><td><code>{escape(field)}</code>{mark}</td><td>{escape(_type_of(spec, prop))}</td>"
                    f"<td>{escape(description)}{nested}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)
