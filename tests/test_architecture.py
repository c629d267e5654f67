"""The package's import graph follows the pipeline: no module imports one from a later stage,
there are no import cycles, and every import inside a function says why (`# lazy: ...`)."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "selfmea_jax")
STAGES = (  # pipeline order; a module may import its own stage or earlier ones
  ("errors", "rng_streams", "log_filters", "files", "interrupts", "run_config", "compile_cache"),  # shared
  ("data",),
  ("features",),
  ("models", "matching"),  # the encoder; search -> candidates -> decoding -> metrics -> export
  ("checkpointing", "metric_writers", "plots", "train"),
  ("align",),
  ("api", "cli_startup", "config_checks", "config_files", "main"),
)


def stage_of(module: str) -> int:
  top = module.split(".")[1]
  return next(i for i, names in enumerate(STAGES) if top in names)


def modules() -> dict[str, str]:
  """{'selfmea_jax.train.loop': path} of every module of the package."""
  out = {}
  for root, _, names in os.walk(PACKAGE):
    for name in names:
      if name.endswith(".py"):
        relative = os.path.relpath(os.path.join(root, name), os.path.dirname(PACKAGE))
        module = relative[: -len(".py")].replace(os.sep, ".").removesuffix(".__init__")
        out[module] = os.path.join(root, name)
  return out


def package_imports(path: str, known: set[str]) -> list[tuple[str, ast.stmt]]:
  """(imported package module, the statement) for each import of selfmea_jax in a file."""
  found = []
  for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
    if isinstance(node, ast.Import):
      found += [(a.name, node) for a in node.names if a.name.startswith("selfmea_jax.")]
    elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("selfmea_jax"):
      for alias in node.names:  # `from selfmea_jax.train import loop` imports a module
        child = f"{node.module}.{alias.name}"
        found.append((child if child in known else node.module, node))
  return found


def test_no_module_imports_a_later_pipeline_stage():
  known = set(modules())
  wrong = []
  for module, path in modules().items():
    if module == "selfmea_jax":
      continue
    for imported, _ in package_imports(path, known):
      if imported != "selfmea_jax" and stage_of(imported) > stage_of(module):
        wrong.append(f"{module} -> {imported}")
  assert not wrong, wrong


def test_the_import_graph_has_no_cycles():
  known = set(modules())
  graph = {m: {i for i, _ in package_imports(p, known) if i in known} for m, p in modules().items()}
  state = {}

  def visit(module, trail):
    state[module] = "open"
    for imported in sorted(graph[module]):
      if state.get(imported) == "open":
        pytest.fail("import cycle: " + " -> ".join([*trail, module, imported]))
      if imported not in state:
        visit(imported, [*trail, module])
    state[module] = "done"

  for module in sorted(graph):
    if module not in state:
      visit(module, [])


def test_imports_inside_functions_say_why():
  unexplained = []
  for module, path in modules().items():
    source = open(path, encoding="utf-8").read()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for inner in ast.walk(node):
          if isinstance(inner, (ast.Import, ast.ImportFrom)):
            nearby = lines[inner.lineno - 2 : inner.end_lineno]
            if not any("# lazy:" in line for line in nearby):
              unexplained.append(f"{module}:{inner.lineno}")
  assert not unexplained, unexplained
