"""The web layer's rooms: no module imports itself in a circle, none hides an import inside a
function to dodge one, and the web layer is the only one that knows about HTTP."""

import ast
from pathlib import Path

import newsqa

PACKAGE = Path(newsqa.__file__).parent
WEB = PACKAGE / "web"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def web_modules() -> dict[str, Path]:
    return {module_name(p): p for p in WEB.rglob("*.py")}


def test_the_web_modules_import_no_cycle():
    modules = web_modules()
    graph = {
        name: {m for m in imports(path, top_level_only=False) if m in modules}
        for name, path in modules.items()
    }

    def visit(name: str, stack: list[str]) -> None:
        assert name not in stack, " → ".join([*stack[stack.index(name) :], name])
        for dep in graph[name]:
            visit(dep, [*stack, name])

    for name in graph:
        visit(name, [])


def test_no_web_module_imports_newsqa_inside_a_function():
    for name, path in web_modules().items():
        inner = imports(path, top_level_only=False) - imports(path, top_level_only=True)
        assert not {m for m in inner if m.startswith("newsqa")}, name


def test_only_the_web_layer_knows_http():
    for room in ("qa", "index"):
        for path in (PACKAGE / room).rglob("*.py"):
            used = imports(path, top_level_only=False)
            assert not {m for m in used if m.split(".")[0] in ("fastapi", "starlette")}, path
            assert not {m for m in used if m.startswith("newsqa.web")}, path
