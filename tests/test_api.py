"""The Python API: two KGs in memory (or an OpenEA folder) -> the alignment table."""

import os

import pytest

from selfmea_jax import api
from selfmea_jax.errors import InputError

FR, EN = "http://fr.dbpedia.org/resource/", "http://dbpedia.org/resource/"
QUICK = {  # hashed names, no self-training: a second or two
  "data.name_encoder": "hash",
  "align.views": ("hash:uri",),
  "align.trainer.name_view": "hash:uri",
  "align.self_training_rounds": 0,
}


def kgs():
  country1, country2 = "http://fr.dbpedia.org/property/pays", "http://dbpedia.org/ontology/country"
  triples1 = [
    (FR + city, country1, FR + land) for city, land in (("Paris", "France"), ("Berlin", "Allemagne"))
  ]
  triples2 = [(EN + city, country2, EN + land) for city, land in (("Paris", "France"), ("Berlin", "Germany"))]
  return triples1, triples2


def test_two_kgs_in_memory_give_one_row_per_kg1_entity(tmp_path):
  triples1, triples2 = kgs()
  links = [(FR + "Paris", EN + "Paris"), (FR + "Berlin", EN + "Berlin")]
  table = api.align_triples(
    triples1, triples2, str(tmp_path), links=links, names2={EN + "Germany": "Allemagne"}, overrides=QUICK
  )
  assert table.columns[:4] == ("kg1_id", "kg1_name", "kg2_id", "kg2_name")
  assert {(r["kg1_name"], r["kg2_name"]) for r in table.rows} == {
    ("Paris", "Paris"),
    ("Berlin", "Berlin"),
    ("France", "France"),
    ("Allemagne", "Allemagne"),  # KG2's Germany, named Allemagne by names2
  }
  assert table.results["final"]["all/decoded_accuracy"] == 1.0
  assert (
    os.path.exists(table.path)
    and os.path.exists(table.review)
    and os.path.exists(tmp_path / "input" / "rel_triples_1")
  )


def test_the_api_checks_what_the_command_line_checks(tmp_path):
  triples1, triples2 = kgs()
  with pytest.raises(InputError, match=r"unknown config key 'align\.view'"):
    api.align_triples(triples1, triples2, str(tmp_path / "a"), overrides={"align.view": ()})
  with pytest.raises(InputError, match="a field holds a tab"):
    api.align_triples([("a\tb", "r", "c")], triples2, str(tmp_path / "b"), overrides=QUICK)
  with pytest.raises(InputError, match=r"ent_links:1: the columns look swapped"):
    api.align_triples(
      triples1, triples2, str(tmp_path / "c"), links=[(EN + "Paris", FR + "Paris")], overrides=QUICK
    )
  api.align_triples(triples1, triples2, str(tmp_path / "d"), overrides=QUICK)
  with pytest.raises(InputError, match="another config"):  # the workdir guard, as on the command line
    api.align_triples(triples1, triples2, str(tmp_path / "d"), overrides={**QUICK, "decoding.csls_k": 5})


def test_translated_names_switch_on_the_translated_setting(tmp_path):
  triples1, triples2 = kgs()
  views = {**QUICK, "align.views": ("hash:translated_cased",), "align.trainer.name_view": "hash:uri"}
  table = api.align_triples(
    triples1, triples2, str(tmp_path), translated1={FR + "Allemagne": "Germany"}, overrides=views
  )
  assert ("Allemagne", "Germany") in {(r["kg1_name"], r["kg2_name"]) for r in table.rows}
  assert (tmp_path / "input" / "translated_names_1").read_text(
    encoding="utf-8"
  ) == f"{FR}Allemagne\tGermany\n"
  config = api.default_config(str(tmp_path / "input"), str(tmp_path), translated=True)
  assert "e5jax:translated_cased" in config.align.views and config.align.hop_weights == (1.0, 0.5, 0.5)
