"""Loaders: DBP15K format, strict errors with file:line, synthetic generator, neighbourhoods."""

import os

import numpy as np
import pytest

from selfmea_jax.data import dbp15k
from selfmea_jax.data.neighbours import neighbour_table
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError
from selfmea_jax.features.names import kg_names
from tests.conftest import SHARED_DATA, requires_dbp15k


def write_pair(root, files):
  pair = os.path.join(root, "DBP15K", "xx_en")
  os.makedirs(os.path.join(pair, "jape_split_0_3"))
  defaults = {
    "ent_ids_1": "0\thttp://xx.dbpedia.org/resource/A_b\n1\thttp://xx.dbpedia.org/resource/C%C3%A9\n",
    "ent_ids_2": "10\thttp://dbpedia.org/resource/A_b\n11\thttp://dbpedia.org/resource/Ce\n",
    "rel_ids_1": "0\thttp://xx.dbpedia.org/property/p\n",
    "rel_ids_2": "5\thttp://dbpedia.org/property/p\n",
    "triples_1": "0\t0\t1\n",
    "triples_2": "10\t5\t11\n",
    "jape_split_0_3/sup_ent_ids": "0\t10\n",
    "jape_split_0_3/ref_ent_ids": "1\t11\n",
  }
  defaults.update(files)
  for name, text in defaults.items():
    os.makedirs(os.path.dirname(os.path.join(pair, name)), exist_ok=True)
    with open(os.path.join(pair, name), "w", encoding="utf-8") as f:
      f.write(text)
  return str(root)


def test_tiny_pair_loads_with_names_and_links(tmp_path):
  task = dbp15k.load_dbp15k(write_pair(tmp_path, {}), "xx_en", seed=3)
  assert sorted(task.kg1.names) == ["A b", "Cé"]
  ((i, j),) = task.test_links
  assert task.kg1.names[i] == "Cé" and task.kg2.names[j] == "Ce"
  assert task.kg1.triples.shape == (1, 3)


@pytest.mark.parametrize(
  "files, message",
  [
    ({"triples_1": "0\t0\t7\n"}, "triples_1:1: unknown id 7"),
    ({"triples_2": "10\t5\n"}, "triples_2:1: expected 3 tab-separated fields"),
    ({"ent_ids_1": "0\tx\nzero\ty\n"}, "ent_ids_1:2: expected an integer id"),
    ({"jape_split_0_3/ref_ent_ids": "1\t11\n1\t99\n"}, "ref_ent_ids:2: unknown id 99"),
    ({"triples_1": ""}, "triples_1: no triples (empty graph)"),
    ({"ent_ids_2": "10\ta\n10\tb\n"}, "ent_ids_2:2: duplicate id 10"),
  ],
)
def test_bad_input_names_file_and_line(tmp_path, files, message):
  with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
    dbp15k.load_dbp15k(write_pair(tmp_path, files), "xx_en")


def test_missing_file_and_pair(tmp_path):
  root = write_pair(tmp_path, {})
  os.remove(os.path.join(root, "DBP15K", "xx_en", "rel_ids_2"))
  with pytest.raises(InputError, match="rel_ids_2: file not found"):
    dbp15k.load_dbp15k(root, "xx_en")
  with pytest.raises(InputError, match="pair directory not found"):
    dbp15k.load_dbp15k(root, "zz_en")


@requires_dbp15k
def test_dbp15k_ids_are_opaque():
  task = dbp15k.load_dbp15k(SHARED_DATA, "ja_en", seed=0)
  assert task.kg1.num_entities == 19814 and task.kg2.num_entities == 19780
  assert len(task.test_links) == 10500 and len(task.valid_links) == 4500
  # In the files test links are (i, i + 10500); after remapping no index arithmetic recovers them.
  offsets = task.test_links[:, 1] - task.test_links[:, 0]
  assert len(np.unique(offsets)) > 5000
  assert not np.array_equal(np.sort(task.test_links[:, 0]), task.test_links[:, 0])


def test_synthetic_is_seeded_and_consistent():
  a, b = (
    make_synthetic_pair(SyntheticSpec(num_entities=300), seed=1),
    make_synthetic_pair(SyntheticSpec(num_entities=300), seed=1),
  )
  np.testing.assert_array_equal(a.task.test_links, b.task.test_links)
  np.testing.assert_array_equal(a.name_features[0], b.name_features[0])
  c = make_synthetic_pair(SyntheticSpec(num_entities=300), seed=2)
  assert not np.array_equal(a.name_features[0], c.name_features[0])
  links = np.concatenate([a.task.valid_links, a.task.test_links])
  labels1 = np.array(a.task.kg1.uris)[links[:, 0]]
  labels2 = np.array(a.task.kg2.uris)[links[:, 1]]
  assert all(x.split("/")[1] == y.split("/")[1] for x, y in zip(labels1, labels2))


def test_neighbour_table_is_undirected_and_capped():
  triples = np.array([[0, 0, 1], [1, 0, 2], [2, 1, 0], [0, 0, 3], [0, 0, 4], [3, 0, 3]])
  ids, mask = neighbour_table(5, triples, num_slots=3, seed=0)
  assert ids.shape == (5, 3) and (ids[:, 0] == np.arange(5)).all()
  assert mask[0].all()  # degree 4 capped to 2 neighbour slots
  assert set(ids[0, 1:]) <= {1, 2, 3, 4}
  assert set(ids[1][mask[1]]) == {1, 0, 2}
  assert mask[3].sum() == 2 and ids[3, 1] == 0  # self loop ignored


def test_gather_reads_memmap_through_row_map(tmp_path):
  from selfmea_jax.data.inputs import GraphInputs

  table = np.arange(12, dtype=np.float32).reshape(6, 2)
  np.save(tmp_path / "names.npy", table)
  names = np.load(tmp_path / "names.npy", mmap_mode="r")
  rows = np.array([5, 3, 0, 1, 2, 4])  # local entity i lives in row rows[i]
  ids = np.array([[0, 1], [1, 0], [2, 2], [3, 3], [4, 4], [5, 5]], np.int32)
  graph = GraphInputs(names=names, neighbour_ids=ids, neighbour_mask=np.ones((6, 2), bool), name_rows=rows)
  batch = graph.gather(np.array([1, 0]))
  np.testing.assert_array_equal(batch["neighbours"][0], table[[3, 5]])
  np.testing.assert_array_equal(batch["neighbours"][1], table[[5, 3]])
  np.testing.assert_array_equal(graph.name_matrix(), table[rows])
  assert isinstance(graph.names, np.memmap)


def test_non_utf8_file_names_the_line(tmp_path):
  root = write_pair(tmp_path, {})
  with open(os.path.join(root, "DBP15K", "xx_en", "ent_ids_2"), "wb") as f:
    f.write(b"10\thttp://dbpedia.org/resource/A_b\n11\thttp://dbpedia.org/resource/C\xe9\n")
  with pytest.raises(InputError, match=r"ent_ids_2:2: not UTF-8"):
    dbp15k.load_dbp15k(root, "xx_en")


def test_a_gold_link_twice_is_an_error_with_file_and_line(tmp_path):
  root = write_pair(tmp_path, {"jape_split_0_3/ref_ent_ids": "1\t11\n0\t11\n"})
  with pytest.raises(
    InputError, match=r"ref_ent_ids:2: KG1 entity 0 linked twice \(first at .*sup_ent_ids:1\)"
  ):
    dbp15k.load_dbp15k(root, "xx_en")


def test_cased_translations_are_kg1_titles_and_kg2_keeps_its_own_names(tmp_path):
  tokens = '[[0, ["a", "b"]], [1, ["c"]], [10, ["a", "b"]], [11, ["ce"]]]'
  root = write_pair(
    tmp_path,
    {"names/translated_ent_name_dbp_xx_en.json": tokens, "names/ent_ids_1_trans_goo": "1\tCee Title\n"},
  )
  task = dbp15k.load_dbp15k(root, "xx_en", seed=1, translations=True)
  kg1, kg2 = task.kg1, task.kg2
  cased = dict(zip(kg1.names, kg_names(kg1, "translated_cased")))
  assert cased == {"Cé": "Cee Title", "A b": "A b"}  # no title for entity 0: its own name
  assert dict(zip(kg1.names, kg_names(kg1, "translated"))) == {"Cé": "c", "A b": "a b"}
  assert kg_names(kg2, "translated_cased") == kg2.names
  assert [kg.num_missing_translations("translated_cased") for kg in (kg1, kg2)] == [1, 2]


def test_cased_translations_with_an_unknown_id_name_the_line(tmp_path):
  root = write_pair(
    tmp_path,
    {"names/translated_ent_name_dbp_xx_en.json": "[]", "names/ent_ids_1_trans_goo": "1\tC\n7\tX\n"},
  )
  with pytest.raises(InputError, match=r"ent_ids_1_trans_goo:2: unknown KG1 id 7"):
    dbp15k.load_dbp15k(root, "xx_en", translations=True)


def test_translations_are_read_only_when_asked_and_checked_per_entry(tmp_path):
  root = write_pair(tmp_path, {"names/translated_ent_name_dbp_xx_en.json": '[[0, ["a", "b"]], [1, "oops"]]'})
  assert dbp15k.load_dbp15k(root, "xx_en").kg1.translated_names is None  # not parsed when unused
  with pytest.raises(
    InputError, match=r"translated_ent_name_dbp_xx_en.json: entry 1: expected \[id, \[tokens\]\]"
  ):
    dbp15k.load_dbp15k(root, "xx_en", translations=True)
