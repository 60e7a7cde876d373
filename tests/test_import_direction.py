"""Dependencies flow one way: gateways and sensors call parking_core and billing; billing may call
parking_core; the domain imports no web, MQTT or billing code. Checked on the source (AST), so a
new import against the flow fails here. KNOWN lists the crossings that remain to be removed
(issue 9); it may only shrink."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "parking_core": ("gateways", "sensors", "billing", "alipay_standin", "fastapi", "starlette", "uvicorn", "paho", "amqtt", "httpx"),
    "billing": ("gateways", "sensors", "alipay_standin", "fastapi", "starlette", "uvicorn", "paho", "amqtt"),
    "sensors": ("gateways", "alipay_standin", "fastapi", "starlette", "uvicorn"),
}
KNOWN: set[tuple[str, str]] = set()  # (module, imported package): crossings still to remove; none left


def crossings() -> set[tuple[str, str]]:
    found = set()
    for package, banned in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
                for name in names:
                    top = name.split(".")[0]
                    if top in banned:
                        found.add((module, top))
            # string imports (importlib) of banned packages count too
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.split(".")[0] in banned \
                        and "." in node.value and " " not in node.value:
                    found.add((module, node.value.split(".")[0]))
    return found


def test_no_new_import_against_the_flow():
    new = sorted(crossings() - KNOWN)
    assert new == [], f"imports against the dependency flow: {new}"


def test_the_known_crossings_are_still_there_or_the_list_shrinks():
    gone = sorted(KNOWN - crossings())
    assert gone == [], f"these crossings were removed: take them off KNOWN: {gone}"
