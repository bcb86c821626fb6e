"""Every page shows a spinner, with a label in both languages, while it works."""

import ast

from geo.app.labels import LABELS
from geo.settings import PROJECT_ROOT


def test_every_page_renders_inside_its_spinner():
    tree = ast.parse((PROJECT_ROOT / "streamlit_app.py").read_text(encoding="utf-8"))
    pages = {c.args[0].id for c in ast.walk(tree) if isinstance(c, ast.Call)
             and getattr(c.func, "attr", None) == "Page"}
    assert pages == {"command", "dispatch", "coverage", "inspections", "layers"}
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in pages):
        (block,) = fn.body
        assert isinstance(block, ast.With), fn.name
        call = block.items[0].context_expr
        assert ast.unparse(call) == f"state.working('{fn.name}')", fn.name
        assert any("render" in ast.unparse(b) for b in block.body), fn.name
        assert set(LABELS[f"working_{fn.name}"]) >= {"zh", "en"}
