"""Your own KGs: the OpenEA layout, optional gold links, and the README's worked example."""

import os
import shutil

import pytest

from configs import own_kgs
from selfmea_jax.align import run
from selfmea_jax.data import openea
from selfmea_jax.errors import InputError
from selfmea_jax.features import names
from selfmea_jax.train import input_pipeline

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "experiments", "tiny_kgs")


def _config(directory, tmp_path, weights_dir):
  config = own_kgs.get_config(str(directory))
  config.workdir = str(tmp_path / "run")
  config.data.cache_dir = str(tmp_path / "cache")
  config.data.weights_dir = str(weights_dir)
  config.train.log_every_steps = 5
  return config


def test_openea_loader_reads_uris_names_and_splits_links():
  task = openea.load_openea(EXAMPLE, seed=0)
  assert task.kg1.num_entities == 14 and task.kg2.num_entities == 15  # Hamburg has no partner
  assert len(task.valid_links) + len(task.test_links) == 14 and len(task.valid_links) == 4
  assert "Tour Eiffel" in task.kg1.names and "Eiffel Tower" in task.kg2.names
  for i, _ in task.test_links:
    assert task.kg1.uris[i].rsplit("/", 1)[1] in (
      "Paris",
      "Lyon",
      "Berlin",
      "Munich",
      "Rome",
      "Milan",
      "France",
      "Seine",
      "Allemagne",
      "Italie",
      "Rhin",
      "Tibre",
      "Tour_Eiffel",
      "Colisée",
    )
  other = openea.load_openea(EXAMPLE, seed=1)
  assert other.kg1.uris != task.kg1.uris  # local order is a seeded shuffle, not file order


def test_links_linked_twice_are_an_error_with_file_and_line(tmp_path):
  for name in ("rel_triples_1", "rel_triples_2"):
    shutil.copy(os.path.join(EXAMPLE, name), tmp_path / name)
  with open(os.path.join(EXAMPLE, "ent_links"), encoding="utf-8") as f:
    lines = f.read().splitlines()
  (tmp_path / "ent_links").write_text(
    "\n".join(lines + [lines[0].split("\t")[0] + "\thttp://x/y"]) + "\n", encoding="utf-8"
  )
  with pytest.raises(InputError, match=r"ent_links:15: KG1 entity .* linked twice"):
    openea.load_openea(str(tmp_path))


@pytest.mark.slow
def test_readme_example_aligns_the_tiny_pair(tmp_path, e5_cache):
  final = run.align(_config(EXAMPLE, tmp_path, e5_cache), str(tmp_path / "run")).report["final"]
  assert final["all/decoded_accuracy"] == 1.0 and final["test/decoded_accuracy"] == 1.0
  assert final["all/h1"] == 1.0 and final["test/h1"] == 1.0
  assert os.path.exists(tmp_path / "run" / "alignment.tsv")


@pytest.mark.slow
def test_without_gold_links_the_alignment_is_exported_and_nothing_evaluated(tmp_path, e5_cache):
  data = tmp_path / "data"
  data.mkdir()
  for name in ("rel_triples_1", "rel_triples_2"):
    shutil.copy(os.path.join(EXAMPLE, name), data / name)
  config = _config(data, tmp_path, e5_cache)
  config.align.finetune.enabled = False  # the README example fine-tunes; this test is the export
  report = run.align(config, str(tmp_path / "run")).report
  assert not any(key.startswith(("test/", "all/", "valid/")) for stage in report["stages"] for key in stage)
  with open(report["alignment"], encoding="utf-8") as f:
    rows = [line.split("\t") for line in f.read().splitlines()[1:]]
  assert len(rows) == 14
  assert sum(r[1] == "Allemagne" and r[3] == "Germany" for r in rows) == 1


def test_optional_names_and_attribute_files(tmp_path):
  for name in ("rel_triples_1", "rel_triples_2", "ent_links"):
    shutil.copy(os.path.join(EXAMPLE, name), tmp_path / name)
  fr = "http://fr.dbpedia.org/resource/"
  (tmp_path / "names_1").write_text(f"{fr}Allemagne\tRépublique fédérale d'Allemagne\n", encoding="utf-8")
  (tmp_path / "attr_triples_1").write_text(
    f"{fr}Paris\thttp://fr.dbpedia.org/property/population\t2100000\n"
    f"{fr}Berlin\thttp://fr.dbpedia.org/property/population\t3600000\n"
    f"{fr}Nowhere\thttp://fr.dbpedia.org/property/population\t0\n",
    encoding="utf-8",
  )
  (tmp_path / "attr_triples_2").write_text(
    "http://dbpedia.org/resource/Paris\thttp://dbpedia.org/ontology/population\t2100000\n", encoding="utf-8"
  )
  task = openea.load_openea(str(tmp_path))
  assert "République fédérale d'Allemagne" in task.kg1.names and "Allemagne" not in task.kg1.names
  config = _config(tmp_path, tmp_path, tmp_path)  # hashed names: no weights read
  config.data.name_encoder, config.data.modalities = "hash", ("attribute",)
  _, inputs = input_pipeline.build(config)
  bags = inputs[0].extras["attribute"]
  assert bags.shape == (14, 1) and bags.sum() == 2  # Paris and Berlin; 'Nowhere' is skipped
  (tmp_path / "names_2").write_text("http://dbpedia.org/resource/Atlantis\tAtlantis\n", encoding="utf-8")
  with pytest.raises(InputError, match=r"names_2:1: entity .* is not in the KG"):
    openea.load_openea(str(tmp_path))


def test_translated_names_file_feeds_the_translated_sources(tmp_path):
  for name in ("rel_triples_1", "rel_triples_2", "ent_links"):
    shutil.copy(os.path.join(EXAMPLE, name), tmp_path / name)
  without = openea.load_openea(str(tmp_path))
  with pytest.raises(InputError, match="translated_names_1 / translated_names_2"):
    names.kg_names(without.kg1, "translated_cased")
  fr = "http://fr.dbpedia.org/resource/"
  (tmp_path / "translated_names_1").write_text(
    f"{fr}Allemagne\tGermany\n{fr}Tour_Eiffel\tEiffel Tower\n", encoding="utf-8"
  )
  task = openea.load_openea(str(tmp_path))
  for source in ("translated", "translated_cased"):
    translated = dict(zip(task.kg1.uris, names.kg_names(task.kg1, source)))
    assert translated[f"{fr}Allemagne"] == "Germany" and translated[f"{fr}Tour_Eiffel"] == "Eiffel Tower"
    assert translated[f"{fr}Paris"] == "Paris"  # no translation: the original name
    assert names.kg_names(task.kg2, source) == task.kg2.names  # the KG without a file: its own names
  (tmp_path / "translated_names_1").write_text(
    f"{fr}Allemagne\tGermany\n{fr}Atlantis\tAtlantis\n", encoding="utf-8"
  )
  with pytest.raises(InputError, match=r"translated_names_1:2: entity .* is not in the KG"):
    openea.load_openea(str(tmp_path))


def test_translated_option_of_the_own_kgs_config(tmp_path):
  plain, translated = own_kgs.get_config(str(tmp_path)), own_kgs.get_config(f"{tmp_path},translated")
  assert translated.data.openea_dir == plain.data.openea_dir == str(tmp_path)
  assert (
    "e5jax:translated_cased" in translated.align.views and "e5jax:translated_cased" not in plain.align.views
  )
  assert translated.workdir == plain.workdir + "_translated"
