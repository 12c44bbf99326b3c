"""Mutation testing: change one operator, constant or call at a time and see a test fail.

    python -m tests.support.mutate MODULE.py [--only FUNC ...] -- TEST_FILE ... [PYTEST ARGS]

Each mutant is written into a copy of the tree under `mutants/` (never into the real one),
and the given tests run there with `-x`, so a subprocess a test starts imports the mutant
too. A mutant is killed when the tests fail or time out, survives when they pass. The score
and each survivor (line and change) are printed and kept in `mutants/NAME.json`.
Not part of the test run: it is slow (one pytest run per mutant).
"""

from __future__ import annotations

import argparse
import ast
import copy
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "mutants"
_PACKAGES = ("console", "backends", "screens", "widgets", "tests")

_COMPARE_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BINOP_SWAP: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
}
_NAME_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any", "True": "False",
              "False": "True", "sorted": "reversed"}


@dataclass(frozen=True)
class Mutant:
    line: int
    function: str
    change: str
    start: int
    end: int
    text: str


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    seconds: float


def _function_spans(tree: ast.Module) -> list[tuple[int, int, str]]:
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans.append((node.lineno, node.end_lineno or node.lineno, node.name))
    return spans


def _enclosing(spans: list[tuple[int, int, str]], line: int) -> str:
    inner = [s for s in spans if s[0] <= line <= s[1]]
    return min(inner, key=lambda s: s[1] - s[0])[2] if inner else "<module>"


def _skipped(tree: ast.Module) -> set[int]:
    """Nodes never mutated: docstrings, annotations, decorators and f-string parts."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        for decorator in getattr(node, "decorator_list", ()):
            skip.update(id(n) for n in ast.walk(decorator))
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            skip.add(id(body[0]))
        for field in ("annotation", "returns"):
            sub = getattr(node, field, None)
            if sub is not None:
                skip.update(id(n) for n in ast.walk(sub))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _variants(node: ast.AST) -> Iterator[tuple[str, ast.AST | None]]:
    """(description, replacement) pairs; None replaces a statement with `pass`."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAP.get(type(op))
            if swap is not None:
                new = copy.deepcopy(node)
                new.ops[i] = swap()
                yield f"{type(op).__name__} -> {swap.__name__}", new
    elif isinstance(node, ast.BinOp):
        swap = _BINOP_SWAP.get(type(node.op))
        if swap is not None:
            arithmetic = copy.deepcopy(node)
            arithmetic.op = swap()
            yield f"{type(node.op).__name__} -> {swap.__name__}", arithmetic
    elif isinstance(node, ast.BoolOp):
        logic = copy.deepcopy(node)
        logic.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{type(node.op).__name__} -> {type(logic.op).__name__}", logic
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not x -> x", node.operand
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "-x -> x", node.operand
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)
        if node.value != 0:
            yield f"{node.value} -> 0", ast.Constant(0)
    elif isinstance(node, ast.Constant) and type(node.value) is float:
        yield f"{node.value} -> {node.value * 2 + 1}", ast.Constant(node.value * 2 + 1)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    elif isinstance(node, ast.Name) and node.id in _NAME_SWAP and isinstance(node.ctx, ast.Load):
        yield f"{node.id} -> {_NAME_SWAP[node.id]}", ast.Name(_NAME_SWAP[node.id], ast.Load())
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await):
        yield "call removed", None
    elif isinstance(node, ast.Return) and node.value is not None and not isinstance(node.value, ast.Constant):
        yield "return None", ast.Return(None)
    elif isinstance(node, ast.Break):
        yield "break -> continue", ast.Continue()
    elif isinstance(node, ast.Continue):
        yield "continue -> break", ast.Break()
    elif isinstance(node, ast.If | ast.While):
        yield "condition negated", ast.UnaryOp(ast.Not(), node.test)


def _offset(lines: list[str], line: int, col: int) -> int:
    """Character offset of an ast (line, utf-8 byte column) position."""
    before = sum(len(text) for text in lines[:line - 1])
    return before + len(lines[line - 1].encode()[:col].decode())


def mutants(source: str, only: set[str]) -> list[Mutant]:
    tree = ast.parse(source)
    skip = _skipped(tree)
    spans = _function_spans(tree)
    lines = source.splitlines(keepends=True)
    found: list[Mutant] = []
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.expr | ast.stmt):
            continue
        function = _enclosing(spans, node.lineno)
        if only and function not in only:
            continue
        for change, new in _variants(node):
            start = _offset(lines, node.lineno, node.col_offset)
            if isinstance(node, ast.If | ast.While):
                end = _offset(lines, node.test.end_lineno or 0, node.test.end_col_offset or 0)
                start = _offset(lines, node.test.lineno, node.test.col_offset)
                text = f"not ({ast.unparse(node.test)})"
            else:
                end = _offset(lines, node.end_lineno or 0, node.end_col_offset or 0)
                if new is None:
                    text = "pass"
                elif isinstance(node, ast.stmt):
                    text = ast.unparse(new)
                else:
                    text = f"({ast.unparse(new)})"
            mutated = source[:start] + text + source[end:]
            try:
                same = ast.dump(ast.parse(mutated)) == ast.dump(tree)
            except SyntaxError:
                continue
            if not same:
                found.append(Mutant(node.lineno, function, change, start, end, text))
    found.sort(key=lambda m: (m.line, m.start))
    return found


def _copy_tree(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")
    for name in _PACKAGES:
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)


def _run(tree: Path, pytest_args: list[str], timeout: float) -> tuple[bool, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *pytest_args], cwd=tree, env=env, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        passed = done.returncode == 0
    except subprocess.TimeoutExpired:
        passed = False
    return passed, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.mutate")
    parser.add_argument("module", help="the file to mutate, e.g. backends/redis/moves.py")
    parser.add_argument("--only", nargs="*", default=[], help="mutate only these functions")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--again", action="store_true",
                        help="run only the survivors of the last run (after adding tests)")
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.pytest_args = argv[cut + 1:]  # after --: test files and pytest options
    module = Path(args.module)
    source = (ROOT / module).read_text()
    found = mutants(source, set(args.only))
    if args.list:
        for m in found:
            print(f"{module}:{m.line} {m.function}: {m.change}")
        print(f"{len(found)} mutants")
        return 0
    if not args.pytest_args:
        parser.error("name the test files after --")
    tree = WORK / (module.as_posix().replace("/", ".").removesuffix(".py")
                   + ("+" + "+".join(sorted(args.only)) if args.only else ""))
    saved = WORK / f"{tree.name}.json"
    WORK.mkdir(exist_ok=True)
    lock = os.open(WORK / f"{tree.name}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another run is mutating {module} in {tree}: wait for it to end")
        return 2
    earlier: dict[str, Any] = {}
    if args.again:
        earlier = json.loads(saved.read_text())
        left = {(m["line"], m["change"], m["text"]) for m in earlier["survivors"]}
        found = [m for m in found if (m.line, m.change, m.text) in left]
    _copy_tree(tree)
    passed, baseline = _run(tree, args.pytest_args, timeout=3600)
    if not passed:
        print(f"the tests fail on the unchanged code: fix them first ({baseline:.0f} s)")
        return 2
    print(f"{len(found)} mutants of {module}; the tests take {baseline:.0f} s unchanged", flush=True)
    outcomes: list[Outcome] = []
    target = tree / module
    try:
        for number, m in enumerate(found, 1):
            target.write_text(source[:m.start] + m.text + source[m.end:])
            passed, seconds = _run(tree, args.pytest_args, timeout=baseline * 3 + 30)
            outcomes.append(Outcome(m, not passed, seconds))
            verdict = "SURVIVED" if passed else "killed"
            print(f"[{number}/{len(found)}] {verdict:8} {module}:{m.line} {m.function}: {m.change}",
                  flush=True)
    finally:
        target.write_text(source)
    survivors = [o.mutant for o in outcomes if not o.killed]
    total = int(earlier["total"]) if earlier else len(outcomes)
    killed = total - len(survivors)
    score = 100.0 * killed / total if total else 100.0
    print(f"{module}: {killed}/{total} killed ({score:.0f} %)")
    for m in survivors:
        print(f"  survived {module}:{m.line} {m.function}: {m.change}  ->  {m.text[:80]}")
    report = {"module": str(module), "tests": args.pytest_args, "killed": killed,
              "total": total, "survivors": [asdict(m) for m in survivors]}
    saved.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
