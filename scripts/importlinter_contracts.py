"""Custom import-linter contract types for KJDA (#16 item 2).

Kept outside the runtime package: `lint-imports` imports this module by its dotted name
`scripts.importlinter_contracts` from the repository root (its current directory), see
`[tool.importlinter]` in pyproject.toml.

- ``acyclic_modules``: no import cycle between any two modules under the given packages. The stock
  ``acyclic_siblings`` contract compares whole sibling packages, which is stricter than the issue
  asks ("the cycle list is empty" means module-level cycles) and would flag package pairs such as
  ``ingest.formats`` / ``ingest.ofd`` whose modules form no cycle.
- ``no_private_names``: no module imports another module's ``_private`` name, neither with
  ``from m import _name`` nor as ``m._name`` on an imported module.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _expanded(graph: grimp.ImportGraph, expressions: Iterable[object]) -> set[str]:
    """Module names matched by ModuleExpressions (wildcards allowed), with their descendants."""
    from importlinter.domain.helpers import module_expressions_to_modules

    return {m.name for m in module_expressions_to_modules(graph, expressions)}


class AcyclicModulesContract(Contract):
    """Fails on any import cycle between modules of ``packages`` (tests may be skipped).

    Options: ``packages`` (module expressions), ``skip`` (module expressions whose modules are left
    out of the graph, e.g. ``kjda.**.tests``), ``ignore_imports`` (as in the stock contracts).
    """

    type_name = "acyclic_modules"

    packages = fields.SetField(subfield=fields.ModuleExpressionField())
    skip = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR
    )

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        roots = _expanded(graph, self.packages)  # type: ignore[arg-type]
        skipped = _expanded(graph, self.skip or ())  # type: ignore[arg-type]
        nodes = sorted(
            m for m in graph.modules if _within(m, roots) and not _within(m, skipped)
        )
        node_set = set(nodes)
        edges = {
            m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in node_set)
            for m in nodes
        }
        cycles = []
        for component in _strongly_connected(nodes, edges):
            members = set(component)
            lines = []
            for importer in sorted(members):
                for imported in edges[importer]:
                    if imported not in members:
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    where = ", ".join(f"l.{d['line_number']}" for d in details) or "?"
                    lines.append(f"{importer} -> {imported} ({where})")
            cycles.append({"modules": sorted(members), "imports": lines})
        return ContractCheck(
            kept=not cycles,
            warnings=list(removal.warnings),
            metadata={"cycles": cycles},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error("Cycle: " + ", ".join(cycle["modules"]), bold=True)
            for line in cycle["imports"]:
                output.indent_cursor()
                output.print_error(line, bold=False)
            output.new_line()


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative (the package has hundreds of modules); yields only the
    components of more than one module, plus modules importing themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            children = edges[node]
            for i in range(child_i, len(children)):
                child = children[i]
                if child not in index:
                    work.append((node, i + 1))
                    work.append((child, 0))
                    recurse = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    yield component
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])


class NoPrivateNamesContract(Contract):
    """Fails when a module of ``packages`` uses another module's ``_private`` name.

    Checks ``from kjda.x import _name`` (absolute or relative) and ``alias._name`` where alias is
    bound by importing a module of the graph. Dunder names are public. Options: ``packages``,
    ``exempt`` (importers not checked, e.g. packages another change still has to clean up).
    """

    type_name = "no_private_names"

    packages = fields.SetField(subfield=fields.ModuleExpressionField())
    exempt = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = _expanded(graph, self.packages)  # type: ignore[arg-type]
        exempt = _expanded(graph, self.exempt or ())  # type: ignore[arg-type]
        found: list[str] = []
        for module in sorted(graph.modules):
            if not _within(module, roots) or _within(module, exempt):
                continue
            path = _source_path(module)
            if path is None:
                continue
            for line, text in _private_uses(module, path, graph.modules):
                found.append(f"{module}:{line}: {text}")
        return ContractCheck(kept=not found, warnings=[], metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line, bold=False)
        output.new_line()


def _source_path(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(
    module: str, path: Path, known: set[str]
) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    aliases: dict[str, str] = {}  # local name -> imported module of the graph
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(package, node.module, node.level)
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if target in known:
                    aliases[alias.asname or alias.name] = target
                elif source in known and source != module and _private(alias.name):
                    yield node.lineno, f"from {source} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and aliases[node.value.id] != module
            and _private(node.attr)
        ):
            yield node.lineno, f"{aliases[node.value.id]}.{node.attr}"


def _resolve(package: str, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))
