"""The public API: shared names exported from public places, ``__all__`` true, and no package
reaching into another's private modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import unpick

ROOT = Path(unpick.__file__).parent
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("_"))


def _private_reach_ins(source: str, relative: Path) -> list[str]:
    """``file:line imports module`` for each import, in the module at ``relative`` (to the unpick
    folder) with text ``source``, of a private module of another unpick package."""
    own = relative.parts[0] if len(relative.parts) > 1 else ""
    found = []
    for node in ast.walk(ast.parse(source, filename=str(relative))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = list(relative.parent.parts)
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                targets = [".".join(["unpick", *base, *(node.module.split(".") if node.module else [])])]
                targets += [f"{targets[0]}.{alias.name}" for alias in node.names]
            elif node.module and node.module.startswith("unpick"):
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith("unpick")]
        for target in targets:
            parts = target.split(".")
            # unpick.<package>.<_private module>, where <package> is not the importing module's own
            if len(parts) >= 3 and parts[1] != own and parts[2].startswith("_") and parts[2] != "__init__":
                found.append(f"{relative}:{node.lineno} imports {'.'.join(parts[:3])}")
                break  # one line per import statement
    return found


def test_no_package_imports_another_packages_private_modules():
    reach_ins = [
        hit for path in sorted(ROOT.rglob("*.py")) for hit in _private_reach_ins(path.read_text(), path.relative_to(ROOT))
    ]
    assert reach_ins == []


def test_the_reach_in_detector_finds_relative_and_absolute_reach_ins():
    source = (
        "from ..workflows._names import DEFAULT_WORKFLOW\n"
        "from unpick.deep._train import STATE_FILE\n"
        "from ._progress import show_progress\n"  # its own package: fine
        "from .._shared import UnpickInputError\n"  # the shared package's public names: fine
        "from ..workflows import run_pick\n"
        "import unpick.io._mrc\n"
    )
    hits = _private_reach_ins(source, Path("cli") / "_probe.py")
    assert [h.split(" imports ")[1] for h in hits] == [
        "unpick.workflows._names", "unpick.deep._train", "unpick.io._mrc"
    ]


@pytest.mark.parametrize("package", ["unpick", *(f"unpick.{name}" for name in PACKAGES)])
def test_every_name_in_all_is_importable(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    namespace: dict = {}
    exec(f"from {package} import *", namespace)  # noqa: S102 - the star import users may write
    assert set(module.__all__) <= set(namespace)


def test_shared_names_are_public_at_the_top_level():
    from unpick import PICK_COLUMNS, UnpickInputError, make_picks, picks_zyx
    from unpick._shared import UnpickInputError as private

    assert UnpickInputError is private and issubclass(UnpickInputError, ValueError)
    picks = make_picks([[1.0, 2.0, 3.0]], voxel_size_angstrom=10.0)
    assert list(picks.columns[: len(PICK_COLUMNS)]) == list(PICK_COLUMNS)
    assert picks_zyx(picks).tolist() == [[1.0, 2.0, 3.0]]
