"""Data flows one way (STYLE.md): argv/stdin -> parse -> core -> format -> stdout.

Read from the source (every import, at module level or inside a function): no core module
imports the output layer or the command line, and the output and command-line modules are in
no import circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dlcalc"
# The command line and the I/O layer over the core; everything else is core.
COMMAND_LINE = {"cli", "__main__"}
IO_LAYER = {"runner", "output", "batch", "argv", "interrupts", "sources"}
OUTPUT_SIDE = COMMAND_LINE | IO_LAYER | {"reports", "number_text", "explain", "steps"}


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "dlcalc":
                    found |= {alias.name for alias in node.names}
                elif node.module.startswith("dlcalc."):
                    found.add(node.module.split(".")[1])
                else:
                    found.add("<" + node.module.split(".")[0] + ">")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    found.add(parts[1] if parts[0] == "dlcalc" and len(parts) > 1 else f"<{parts[0]}>")
        graph[path.stem] = found
    return graph


def test_no_core_module_imports_the_output_layer_or_the_command_line():
    graph = imports()
    core = set(graph) - COMMAND_LINE - IO_LAYER
    assert {"softmax_core", "losses", "activations", "symbolic", "reports", "explain"} <= core
    for module in core:
        upward = graph[module] & (COMMAND_LINE | IO_LAYER | {"<typer>", "<click>"})
        assert not upward, f"dlcalc.{module} imports {sorted(upward)}"


def test_the_output_and_command_line_modules_are_in_no_import_circle():
    graph = imports()

    def reachable(start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            for nxt in graph.get(stack.pop(), ()):
                if nxt in graph and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    for module in OUTPUT_SIDE & set(graph):
        assert module not in reachable(module), f"dlcalc.{module} is in an import circle"


def test_one_module_turns_numbers_into_text():
    graph = imports()
    assert "number_text" in graph["output"] and "number_text" in graph["explain"]
    assert "output" not in graph["explain"]
