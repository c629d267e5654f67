"""The second fault battery, one test per class of fault, on a toy pair in the OpenEA layout:
inputs that are almost surely mistakes stop with one file:line error, legitimate oddities
succeed with a `warning:` line, and nothing silently changes a result."""

import os
import shutil

import numpy as np
import pytest

from selfmea_jax.data import openea
from selfmea_jax.errors import InputError

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "experiments", "tiny_kgs")
FR, EN = "http://fr.dbpedia.org/resource/", "http://dbpedia.org/resource/"


@pytest.fixture
def toy(tmp_path):
  """A copy of the worked example (14 French, 15 English entities, 14 links)."""
  for name in ("rel_triples_1", "rel_triples_2", "ent_links"):
    shutil.copy(os.path.join(EXAMPLE, name), tmp_path / name)
  return tmp_path


def links_of(directory) -> list[str]:
  with open(directory / "ent_links", encoding="utf-8") as f:
    return f.read().splitlines()


def write_links(directory, lines: list[str], prefix: str = "") -> None:
  (directory / "ent_links").write_text(prefix + "\n".join(lines) + "\n", encoding="utf-8")


def test_a_byte_order_mark_is_not_part_of_the_first_uri(toy):
  clean = openea.load_openea(str(toy))
  write_links(toy, links_of(toy), prefix="\ufeff")
  marked = openea.load_openea(str(toy))
  assert marked.kg1.uris == clean.kg1.uris and marked.kg2.uris == clean.kg2.uris
  np.testing.assert_array_equal(marked.test_links, clean.test_links)


@pytest.mark.parametrize(
  "edit,message",
  [
    (lambda a, b: (a + " ", b), r"ent_links:3: URI .* has white space around it"),
    (lambda a, b: (b, a), r"ent_links:3: the columns look swapped"),
    (
      lambda a, b: (a.replace("Berlin", "Berlinn"), b),
      r"ent_links:3: KG1 entity .*Berlinn.* did you mean .*Berlin'",
    ),
    (
      lambda a, b: (a, b.replace("Berlin", "berlin")),
      r"ent_links:3: KG2 entity .*berlin.* did you mean .*Berlin'",
    ),
  ],
  ids=["trailing space", "swapped columns", "typo", "other case"],
)
def test_a_link_that_is_almost_surely_a_mistake_stops_at_its_line(toy, edit, message):
  lines = links_of(toy)
  lines[2] = "\t".join(edit(*lines[2].split("\t")))
  write_links(toy, lines)
  with pytest.raises(InputError, match=message):
    openea.load_openea(str(toy))


def test_swapping_every_link_is_caught_at_the_first_line(toy):
  write_links(toy, ["\t".join(reversed(line.split("\t"))) for line in links_of(toy)])
  with pytest.raises(InputError, match=r"ent_links:1: the columns look swapped"):
    openea.load_openea(str(toy))


def test_an_entity_only_in_the_links_is_kept_counted_and_shown(toy, capsys):
  write_links(toy, [*links_of(toy), f"{FR}Atlantide\t{EN}Atlantis"])
  task = openea.load_openea(str(toy))
  assert task.kg1.num_entities == 15 and "Atlantide" in task.kg1.names
  err = capsys.readouterr().err
  assert err.startswith("warning: ") and "1 KG1 and 1 KG2 linked entities are in no triple" in err
  assert "line 15" in err


def test_a_uri_named_twice_differently_stops(toy):
  (toy / "names_1").write_text(f"{FR}Paris\tParis\n{FR}Paris\tLutèce\n", encoding="utf-8")
  with pytest.raises(InputError, match=r"names_1:2: entity .*Paris.* is named twice .*line 1"):
    openea.load_openea(str(toy))
  (toy / "names_1").write_text(f"{FR}Paris\tParis\n{FR}Paris\tParis\n", encoding="utf-8")
  assert "Paris" in openea.load_openea(str(toy)).kg1.names  # the same name twice is harmless
