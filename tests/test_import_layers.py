"""The package-level import graph of hierl follows the layer order written in docs/architecture.md.

Every module of `hierl/` is parsed with `ast` and every import counts: module-level ones, imports inside functions
(the lazy ones, which still make a package depend on another the moment that function runs) and imports under
`if TYPE_CHECKING:` (one package naming another's types is a dependency of the design even when it costs nothing
at run time). A package may import only packages on lower layers; packages on one layer do not import each other.
Since every edge points down, the graph is acyclic. The library never imports its own Hydra plugin
(`hydra_plugins/`, which sits above the library and imports it).

Every user error (a subclass of `hierl.errors.UserError`) is defined in `hierl/errors.py`, the ground floor, so any
layer can raise one without importing the layer that owns the check, and each error has one class to catch.

`ALLOWED` lists the imports that break the order today and `ALLOWED_ERROR_CLASSES` the user errors still defined
elsewhere, each waiting for a one-line change in its owner's file. An entry that no longer matches fails a test of
its own, so both lists only shrink.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "hierl"
ARCHITECTURE = REPO / "docs" / "architecture.md"
LAYERS_HEADING = "## Layers"
PLUGIN = "hydra_plugins"

# (importing package, imported module): the imports that break the layer order today, and the change that ends each.
ALLOWED: dict[tuple[str, str], str] = {}

# (file, class): user errors still defined outside hierl/errors.py; each becomes `from hierl.errors import <class>`.
ALLOWED_ERROR_CLASSES: frozenset[tuple[str, str]] = frozenset({})
ERRORS_FILE = "hierl/errors.py"


@dataclass(frozen=True)
class Import:
    """One import statement of one module, resolved to the module it names."""

    file: str
    line: int
    importer: str
    imported: str

    def where(self) -> str:
        return f"{self.file}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The package (or top-level module) of `hierl.<unit>.<...>`; `hierl` itself for the root package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_submodule(root: Path, name: str) -> bool:
    return (root / f"{name}.py").is_file() or (root / name / "__init__.py").is_file()


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import of `path` that names the package at `root` or the plugin, wherever it sits in the module.

    A bare `import hierl` or `from hierl import __version__` is left out: Python runs the root package before any
    of its modules anyway, so naming it adds no dependency. `from hierl import name` of anything else is an import
    of that submodule, or of the root package (the notebook API it re-exports).
    """
    module = module_name(path, root)
    package = root.name
    file = path.relative_to(root.parent).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name != package]
        else:
            target = node.module or ""
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            if target == package:
                for alias in node.names:
                    if _is_submodule(root, alias.name):
                        names.append(f"{package}.{alias.name}")
                    elif alias.name != "__version__":
                        names.append(package)
            else:
                names = [target]
        for name in names:
            top = name.split(".")[0]
            if top in (package, PLUGIN):
                found.append(Import(file, node.lineno, module, name))
    return found


def all_imports(root: Path) -> list[Import]:
    return [item for path in sorted(root.rglob("*.py")) for item in imports_of(path, root)]


def read_layers(architecture: Path) -> list[tuple[str, ...]]:
    """The layer block of docs/architecture.md, top layer first: each indented line starts with its packages."""
    lines = architecture.read_text(encoding="utf-8").splitlines()
    if LAYERS_HEADING not in lines:
        raise AssertionError(f"{architecture} has no '{LAYERS_HEADING}' section; the layer order is written there")
    layers: list[tuple[str, ...]] = []
    for line in lines[lines.index(LAYERS_HEADING) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("    ") and line.strip():
            packages = line.strip().split("  ")[0]
            layers.append(tuple(name.strip().strip("`") for name in packages.split(",")))
    return layers


def layer_violations(
    imports: list[Import], layers: list[tuple[str, ...]], allowed: dict[tuple[str, str], str]
) -> list[str]:
    """One line per import that points up, sideways, into the plugin, or out of any layer."""
    rank = {unit: len(layers) - depth for depth, layer in enumerate(layers) for unit in layer}
    problems: list[str] = []
    for item in imports:
        source = unit_of(item.importer)
        if (source, item.imported) in allowed:
            continue
        if item.imported.split(".")[0] == PLUGIN:
            problems.append(f"{item.where()}: the library must not import its Hydra plugin")
            continue
        target = unit_of(item.imported)
        if target == source:
            continue
        if source not in rank or target not in rank:
            missing = source if source not in rank else target
            problems.append(f"{item.where()}: package {missing!r} is on no layer of {ARCHITECTURE.name}")
        elif rank[target] >= rank[source]:
            relation = "the same layer as" if rank[target] == rank[source] else "a higher layer than"
            problems.append(f"{item.where()}: {target} is on {relation} {source}")
    return problems


def test_every_package_is_on_one_layer() -> None:
    layers = read_layers(ARCHITECTURE)
    placed = [unit for layer in layers for unit in layer]
    assert len(placed) == len(set(placed)), f"a package is on two layers: {layers}"
    units = {unit_of(module_name(path, PACKAGE)) for path in PACKAGE.rglob("*.py")}
    assert sorted(units - set(placed)) == [], f"place these in the '{LAYERS_HEADING}' block of {ARCHITECTURE}"


def test_imports_follow_the_layers() -> None:
    problems = layer_violations(all_imports(PACKAGE), read_layers(ARCHITECTURE), ALLOWED)
    assert problems == [], "imports against the layer order:\n" + "\n".join(problems)


def test_every_allowed_exception_is_still_needed() -> None:
    seen = {(unit_of(item.importer), item.imported) for item in all_imports(PACKAGE)}
    stale = sorted(set(ALLOWED) - seen)
    assert stale == [], f"no import needs these entries any more; delete them from ALLOWED in {__file__}: {stale}"


def _base_names(node: ast.ClassDef) -> set[str]:
    return {base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "") for base in node.bases}


def user_error_classes(root: Path) -> list[tuple[str, str]]:
    """(file, class) of every class outside `hierl/errors.py` whose bases lead to one of its errors."""
    known = {
        node.name
        for node in ast.walk(ast.parse((root.parent / ERRORS_FILE).read_text()))
        if isinstance(node, ast.ClassDef)
    }
    classes = [
        (path.relative_to(root.parent).as_posix(), node)
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]
    classes = [(file, node) for file, node in classes if file != ERRORS_FILE]
    found: list[tuple[str, str]] = []
    grown = True
    while grown:  # a subclass of a subclass counts too, wherever the two are defined
        grown = False
        for file, node in classes:
            if (file, node.name) not in found and _base_names(node) & known:
                found.append((file, node.name))
                known.add(node.name)
                grown = True
    return sorted(found)


def test_every_user_error_is_defined_in_hierl_errors() -> None:
    found = user_error_classes(PACKAGE)
    outside = [f"{file}: class {name}" for file, name in found if (file, name) not in ALLOWED_ERROR_CLASSES]
    message = f"define these user errors in {ERRORS_FILE} and import them from there:\n"
    assert outside == [], message + "\n".join(outside)


def test_every_allowed_error_class_is_still_defined_outside() -> None:
    stale = sorted(ALLOWED_ERROR_CLASSES - set(user_error_classes(PACKAGE)))
    message = f"these now come from {ERRORS_FILE}; delete them from ALLOWED_ERROR_CLASSES in {__file__}"
    assert stale == [], f"{message}: {stale}"


def test_a_user_error_defined_elsewhere_is_found(tmp_path: Path) -> None:
    root = tmp_path / "hierl"
    _write(root, "errors.py", "class UserError(ValueError): ...\nclass ConfigError(UserError): ...\n")
    _write(root, "x/a.py", "from hierl import errors\nclass Bad(errors.ConfigError): ...\nclass Worse(Bad): ...\n")
    _write(root, "x/b.py", "class Internal(ValueError): ...\n")
    assert user_error_classes(root) == [("hierl/x/a.py", "Bad"), ("hierl/x/a.py", "Worse")]


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package `hierl` with a low `base` and a high `top`, in a temporary folder."""
    root = tmp_path / "hierl"
    _write(root, "__init__.py", "__version__ = '0'\n")
    _write(root, "base/__init__.py", "")
    _write(root, "top/__init__.py", "")
    _write(root, "top/user.py", "from hierl.base import thing\nimport hierl\nfrom hierl import __version__\n")
    return root


TOY_LAYERS: list[tuple[str, ...]] = [("top",), ("base",)]


def test_an_upward_function_level_import_is_named(toy: Path) -> None:
    _write(toy, "base/low.py", "def f():\n    from hierl.top.user import thing\n    return thing\n")
    problems = layer_violations(all_imports(toy), TOY_LAYERS, {})
    assert len(problems) == 1
    assert "base/low.py:2 imports hierl.top.user: top is on a higher layer than base" in problems[0]


def test_type_checking_relative_and_root_imports_count(toy: Path) -> None:
    _write(toy, "base/typed.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..top import user\n")
    _write(toy, "base/facade.py", "from hierl import top\nfrom hierl import make_env\n")
    problems = layer_violations(all_imports(toy), TOY_LAYERS, {})
    assert [p.split(": ")[0].split("/", 1)[1] for p in problems] == [
        "base/facade.py:1 imports hierl.top",
        "base/facade.py:2 imports hierl",
        "base/typed.py:3 imports hierl.top",
    ]


def test_the_plugin_a_sideways_import_and_an_unplaced_package_are_named(toy: Path) -> None:
    _write(toy, "top/plug.py", "def f():\n    import hydra_plugins.sweeper\n")
    _write(toy, "side/__init__.py", "from hierl.base import thing\n")
    layers: list[tuple[str, ...]] = [("top", "side2"), ("base",)]
    _write(toy, "side2/__init__.py", "from hierl.top import user\n")
    problems = layer_violations(all_imports(toy), layers, {})
    assert any("top/plug.py:2 imports hydra_plugins.sweeper: the library must not import" in p for p in problems)
    assert any("side2/__init__.py:1 imports hierl.top: top is on the same layer as side2" in p for p in problems)
    assert any("package 'side' is on no layer" in p for p in problems)
    allowed = {("top", "hydra_plugins.sweeper"): "why", ("side2", "hierl.top"): "why", ("side", "hierl.base"): "x"}
    assert layer_violations(all_imports(toy), [*layers, ("side",)], allowed) == []
