"""The type stub shipped in the wheel describes exactly what the module has."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import bitnet_gguf as b


def stub() -> ast.Module:
    # maturin installs the stub as bitnet_gguf/__init__.pyi next to the extension, with py.typed.
    package = Path(b.__file__).parent
    assert (package / "py.typed").is_file()
    return ast.parse((package / "__init__.pyi").read_text())


def public(names) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_the_stub_names_every_public_name():
    module = stub()
    names = set()
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    assert public(names) == public(dir(b)) - {"bitnet_gguf"}


def test_the_stub_names_every_member_of_every_class():
    for node in stub().body:
        if not isinstance(node, ast.ClassDef) or issubclass(getattr(b, node.name), BaseException):
            continue
        members = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                members.add(item.name)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                members.add(item.target.id)
        runtime = public(n for n, _ in inspect.getmembers(getattr(b, node.name)))
        assert public(members) == runtime, node.name
