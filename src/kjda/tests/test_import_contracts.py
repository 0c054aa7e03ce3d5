"""The import contracts of #16 item 2 (pyproject's [tool.importlinter], run by scripts/test.sh):
the two custom contract types on small packages made here, and the repository's own contracts."""

from __future__ import annotations

import importlib
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))  # scripts.importlinter_contracts lives beside src/, not in kjda

from scripts.importlinter_contracts import (  # noqa: E402
    AcyclicModulesContract,
    NoPrivateNamesContract,
)

_names = itertools.count()


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Write a package of {module: source} (`{p}` in a source is the package's name) and
    return (its name, its import graph). Each package has a new name: find_spec caches them."""

    def make(modules: dict[str, str]) -> tuple[str, grimp.ImportGraph]:
        name = f"contractpkg{os.getpid()}_{next(_names)}"
        root = tmp_path / name
        for module, source in {"__init__": "", **modules}.items():
            path = root / (module.replace(".", "/") + ".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source).replace("{p}", name), encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        return name, grimp.build_graph(name, cache_dir=None)

    return make


def _acyclic(name: str, graph: grimp.ImportGraph, **options):
    contract = AcyclicModulesContract("cycles", {}, {"packages": [name], **options})
    return contract.check(graph, verbose=False)


def test_a_cycle_closed_by_an_import_inside_a_function_breaks_the_contract(package):
    name, graph = package({
        "a": "from {p} import b\n",
        "b": "def f():\n    from {p} import a\n    return a\n",
        "c": "from {p} import a\n",
    })
    check = _acyclic(name, graph)
    assert not check.kept
    assert [sorted(c["modules"]) for c in check.metadata["cycles"]] == [[f"{name}.a", f"{name}.b"]]


def test_imports_one_way_keep_the_contract_and_ignored_imports_break_cycles(package):
    name, graph = package({"x": "", "y": "from {p} import x\n"})
    assert _acyclic(name, graph).kept
    name, graph = package({"x": "from {p} import y\n", "y": "from {p} import x\n"})
    assert not _acyclic(name, graph).kept
    assert _acyclic(name, graph, ignore_imports=[f"{name}.x -> {name}.y"]).kept


def test_private_names_of_another_module_break_the_contract(package):
    name, graph = package({
        "owner": "_secret = 1\n__version__ = '1'\npublic = 2\n",
        "by_name": "from {p}.owner import _secret, public\n",
        "by_attribute": "from {p} import owner\nvalue = owner._secret\n",
        "relative": "from .owner import _secret\n",
        "fine": "from {p}.owner import __version__, public\n",
        "own": "_mine = 1\nfrom {p} import own\nvalue = own._mine\n",
    })
    breaking = [f"{name}.by_name", f"{name}.by_attribute", f"{name}.relative"]
    check = NoPrivateNamesContract("private", {}, {"packages": [name]}).check(graph, verbose=False)
    assert not check.kept
    assert {line.split(":")[0] for line in check.metadata["found"]} == set(breaking)
    exempted = NoPrivateNamesContract("private", {}, {"packages": [name], "exempt": breaking})
    assert exempted.check(graph, verbose=False).kept


def test_the_repository_keeps_its_import_contracts():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
