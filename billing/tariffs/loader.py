"""Read tariff rule sets from JSON or YAML, rejecting a file whole with errors that name tariff, rule and field."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from billing.tariffs.schema import TariffRuleSet
from parking_core.errors import InvalidInput

Source = str | bytes | Path | Mapping | list

_INT = "tag:yaml.org,2002:int"
_SUBFIELD = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)*): (.*)$", re.S)


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps 19:00 as the text '19:00' instead of YAML 1.1's base-60 integer 1140."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _INT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def load_tariff(source: Source) -> TariffRuleSet:
    """One rule set from JSON/YAML text (str or bytes), a file (Path) or already-parsed data (a mapping)."""
    data = _data(source)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"tariff: expected one rule set (a mapping), got {_kind(data)}", field="tariff")
    rule = _validate(data, "")
    if isinstance(rule, list):
        raise _invalid(rule)
    return rule


def load_tariffs(source: Source) -> list[TariffRuleSet]:
    """Every rule set of a file: a list, {"tariffs": [...]}, or a single rule set; one bad rule rejects them all."""
    data = _data(source)
    if isinstance(data, Mapping) and "tariffs" in data:
        extra = sorted(set(data) - {"tariffs"})
        if extra:
            raise InvalidInput(f"{extra[0]}: is not a known top-level field (only 'tariffs')", field=str(extra[0]))
        data = data["tariffs"]
    elif isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise InvalidInput(f"tariffs: expected a list of rule sets, got {_kind(data)}", field="tariffs")
    rules: list[TariffRuleSet] = []
    problems: list[tuple[str, str, Any]] = []
    seen: dict[tuple[str, int], int] = {}
    for i, item in enumerate(data):
        rule = _validate(item, f"tariffs[{i}]")
        if isinstance(rule, list):
            problems.extend(rule)
            continue
        key = (rule.id, rule.version)
        if key in seen:
            problems.append((f"tariffs[{i}].version", f"tariffs[{i}].version: id {rule.id!r} version "
                             f"{rule.version} is already defined by tariffs[{seen[key]}]", rule.version))
        seen.setdefault(key, i)
        rules.append(rule)
    if problems:
        raise _invalid(problems)
    return rules


def _data(source: Source) -> Any:
    if isinstance(source, (Mapping, list)):
        return source
    if isinstance(source, Path):
        try:
            raw = source.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"source: cannot read {source}: {exc.strerror}", field="source", value=str(source)) from None
        return _parse(_utf8(raw, str(source)), str(source), as_json=source.suffix.lower() == ".json")
    if isinstance(source, bytes):
        source = _utf8(source, "text")
    if isinstance(source, str):
        return _parse(source, "text", as_json=source.lstrip().startswith(("{", "[")))
    raise InvalidInput(f"source: expected text, a Path or parsed data, got {type(source).__name__}", field="source")


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"source: {where} is not UTF-8 (byte {exc.start})", field="source", value=where) from None


def _parse(text: str, where: str, *, as_json: bool) -> Any:
    try:
        if as_json:
            return json.loads(text)
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"source: {where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           field="source", value=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"source: {where} is not valid YAML{at}: {getattr(exc, 'problem', exc)}",
                           field="source", value=where) from None


def _validate(item: Any, prefix: str) -> TariffRuleSet | list[tuple[str, str, Any]]:
    """The rule set, or its problems as (field, message, wrong value)."""
    try:
        return TariffRuleSet.model_validate(item)
    except ValidationError as exc:
        tariff_id = item.get("id") if isinstance(item, Mapping) else None
        named = f" (tariff {tariff_id!r})" if isinstance(tariff_id, str) else ""
        problems = []
        for err in exc.errors(include_url=False):
            loc, reason = err["loc"], _reason(err)
            sub = _SUBFIELD.match(reason) if err["type"] == "value_error" else None
            if sub:  # a check across fields names the one it blames first: "large.rate_fen: 50 is below ..."
                loc, reason = (*loc, sub[1]), sub[2]
            path = _path(prefix, loc)
            problems.append((path, f"{path}: {reason}{named}", err.get("input") if not sub else None))
        return problems


def _invalid(problems: list[tuple[str, str, Any]]) -> InvalidInput:
    field, _, value = problems[0]
    message = "; ".join(text for _, text, _ in problems)
    shown = value if isinstance(value, (str, int, float, bool)) else None
    errors = [{"field": path, "message": text} for path, text, _ in problems]
    return InvalidInput(message, field=field, value=shown, errors=errors)


def _path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "tariff"


def _reason(err: Mapping[str, Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, _show(err.get("input"))
    reasons = {
        "missing": "is required",
        "extra_forbidden": f"is not a known field (given {value})",
        "greater_than_equal": f"{value} is below {ctx.get('ge')}",
        "less_than_equal": f"{value} is above {ctx.get('le')}",
        "int_type": f"{value} is not a whole number",
        "bool_type": f"{value} is not true or false",
        "string_type": f"{value} is not text",
        "string_too_short": f"{value} is shorter than {ctx.get('min_length')} character(s)",
        "string_too_long": f"{value} is longer than {ctx.get('max_length')} characters",
        "string_pattern_mismatch": f"{value} does not match {ctx.get('pattern')}",
        "literal_error": f"{value} is not one of {ctx.get('expected')}",
        "list_type": f"{value} is not a list",
        "too_short": f"has {ctx.get('actual_length')} item(s), needs at least {ctx.get('min_length')}",
        "too_long": f"has {ctx.get('actual_length')} items, at most {ctx.get('max_length')}",
        "model_type": f"{value} is not a mapping",
        "dict_type": f"{value} is not a mapping",
        "value_error": str(ctx.get("error")),
    }
    return reasons.get(kind, f"{value}: {err['msg']}")


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(data: Any) -> str:
    return "nothing" if data is None else f"{type(data).__name__} {_show(data)}"
