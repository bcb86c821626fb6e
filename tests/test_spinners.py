"""Pages show a spinner, with a label in both languages, while they work.

The pages that refresh themselves (command, dispatch: a fragment run every few seconds)
show theirs around their own static part: a spinner around the whole page, fragment
included, made the command map's refresh slower in bench/map_bench.py."""

import ast

from geo.app.labels import LABELS
from geo.settings import PROJECT_ROOT


def test_every_page_renders_inside_its_spinner():
    tree = ast.parse((PROJECT_ROOT / "streamlit_app.py").read_text(encoding="utf-8"))
    pages = {c.args[0].id for c in ast.walk(tree) if isinstance(c, ast.Call)
             and getattr(c.func, "attr", None) == "Page"}
    assert {"command", "dispatch", "coverage", "inspections", "layers"} <= pages
    for name in pages:
        assert set(LABELS[f"working_{name}"]) >= {"zh", "en"}
    # the self-refreshing pages show theirs around their static part, in their module
    refreshing = {"command": "command", "dispatch": "dispatch_page", "teams": "teams_page"}
    for name, module in refreshing.items():
        source = (PROJECT_ROOT / "geo" / "app" / f"{module}.py").read_text(encoding="utf-8")
        assert f'state.working("{name}")' in source, module
    wrapped = pages - set(refreshing)
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wrapped):
        (block,) = fn.body
        assert isinstance(block, ast.With), fn.name
        call = block.items[0].context_expr
        assert ast.unparse(call) == f"state.working('{fn.name}')", fn.name
        assert any("render" in ast.unparse(b) for b in block.body), fn.name
