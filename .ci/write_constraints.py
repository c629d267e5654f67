"""Writes constraints.txt: the exact installed version of every package that selfmea_jax[test]
needs, transitively (the versions CI installs with `pip install -c constraints.txt`).

  python .ci/write_constraints.py   # after upgrading a dependency and seeing the tests pass
"""

import importlib.metadata as md
import os
import re

from packaging.requirements import Requirement


def closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
  """{distribution name: installed version} of root's requirements, followed transitively."""
  pinned, todo = {}, [(root, extras)]
  while todo:
    name, wanted = todo.pop()
    for text in md.requires(name) or []:
      req = Requirement(text)
      if req.marker and not any(req.marker.evaluate({"extra": e}) for e in wanted or ("",)):
        continue
      try:
        version = md.version(req.name)
      except md.PackageNotFoundError:
        continue  # an optional platform dependency not installed here
      key = re.sub(r"[-_.]+", "-", req.name).lower()
      if key not in pinned:
        pinned[key] = version
        todo.append((req.name, tuple(req.extras)))
  return pinned


def main():
  pins = closure("selfmea_jax", ("test",))
  path = os.path.join(os.path.dirname(__file__), "..", "constraints.txt")
  with open(path, "w", encoding="utf-8") as f:
    f.write("# Exact versions CI tests (written by .ci/write_constraints.py; see pyproject.toml).\n")
    f.writelines(f"{name}=={version}\n" for name, version in sorted(pins.items()))
  print(f"{len(pins)} pins -> {os.path.normpath(path)}")


if __name__ == "__main__":
  main()
