"""No module reaches itself through its imports (lazy imports inside functions included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "babilong"
# The modules issue 18 freed of circles so far; the others join this list as their circles go.
CHECKED = ("babilong.scoring", "babilong.scorers", "babilong.verdicts", "babilong.rag.recall", "babilong.tasks")


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its text."""
    modules = module_names()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base] * bool(base))
                found = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            edges |= {target for item in found if (target := resolve(item)) and target != name}
        graph[name] = edges
    return graph


def reaches_itself(graph: dict[str, set[str]], start: str) -> bool:
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node == start:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_the_scoring_modules_and_tasks_reach_no_circle():
    graph = import_graph()
    checked = [name for name in graph if name.startswith(CHECKED)]
    assert "babilong.tasks.base" in checked and "babilong.tasks.qa_giving" in checked
    assert "babilong.tasks.base" in graph["babilong.tasks"] and "babilong.tasks" in graph["babilong.scoring"]
    assert [name for name in checked if reaches_itself(graph, name)] == []


def test_the_circle_finder_finds_a_circle():
    assert reaches_itself({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a")
    assert not reaches_itself({"a": {"b"}, "b": {"c"}, "c": set()}, "a")
