"""Every module has a place: in the import-linter contracts of pyproject.toml, and in the
layout list of its package's README."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "simulations")


def modules(package: str) -> dict[str, str]:
    """Dotted name -> path relative to the package's folder, for every module under it (a
    package is its ``__init__.py``)."""
    base = ROOT / package
    out = {}
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base)
        parts = (package, *rel.with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = rel.as_posix()
    return out


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def layer_names(contract: dict) -> list[str]:
    """The modules a contract's layers name, each prefixed by every container."""
    names = [
        name.strip().strip("()")
        for layer in contract.get("layers", [])
        for name in re.split(r"[|:]", layer)
    ]
    containers = contract.get("containers", [])
    if not containers:
        return names
    return [f"{container}.{name}" for container in containers for name in names]


def covered(module: str) -> bool:
    """Whether the module or a package above it is a contract's source module or layer; a
    container's own ``__init__`` counts as covered by its contract (its modules do not)."""
    names, containers = set(), set()
    for contract in contracts():
        names.update(contract.get("source_modules", []))
        names.update(layer_names(contract))
        containers.update(contract.get("containers", []))
    parts = module.split(".")
    above = {".".join(parts[:k]) for k in range(1, len(parts) + 1)}
    return bool(above & names) or module in containers


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_in_an_import_contract(package):
    missing = [m for m in modules(package) if not covered(m)]
    assert not missing, f"in no [[tool.importlinter.contracts]]: {missing}"


def test_every_package_of_more_than_two_modules_is_layered_module_by_module():
    """The theory package, the simulations package (its rooms) and each room with more than
    two modules: one layers contract over it whose layers name every module in it."""
    layered = {}
    for contract in contracts():
        if contract["type"] == "layers":
            for container in contract.get("containers", []):
                layered[container] = set(layer_names({**contract, "containers": [container]}))
    every = {m for package in PACKAGES for m in modules(package)}
    for package in sorted(m for m in every if (ROOT / m.replace(".", "/")).is_dir()):
        children = {m for m in every if m.rpartition(".")[0] == package}
        if len(children) <= 2:
            continue
        assert package in layered, f"no layers contract has the container {package}"
        assert children == layered[package], (
            f"{package}: layered but not there {sorted(children - layered[package])}, "
            f"named but not there {sorted(layered[package] - children)}"
        )


def layout_paths(readme: Path) -> set[str]:
    """The paths of the bullets (``- `path` — what it holds``) of the README's Layout section."""
    text = readme.read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([^`]+)` — \S", section, flags=re.M))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_in_its_readme_layout(package):
    listed = layout_paths(ROOT / package / "README.md")
    paths = set(modules(package).values())
    assert not paths - listed, f"missing from {package}/README.md: {sorted(paths - listed)}"
    assert not listed - paths, f"listed in {package}/README.md, not there: {listed - paths}"
