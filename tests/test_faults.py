"""The second fault battery, one test per class of fault, on a toy pair in the OpenEA layout:
inputs that are almost surely mistakes stop with one file:line error, legitimate oddities
succeed with a `warning:` line, and nothing silently changes a result."""

import csv
import dataclasses
import errno
import json
import os
import shutil

import numpy as np
import pytest

from configs import own_kgs
from experiments import dangling_benchmark
from selfmea_jax import checkpointing, main
from selfmea_jax.data import openea
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError
from selfmea_jax.features import cache, names
from selfmea_jax.matching import consistency, decoding
from selfmea_jax.matching.confidence import decisions
from selfmea_jax.matching.export import write_alignment
from selfmea_jax.train import loop

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


def test_a_numbered_sibling_is_an_entity_not_a_typo(toy, capsys):
  with open(toy / "rel_triples_1", "a", encoding="utf-8") as f:
    f.write(f"{FR}Apollo_11\thttp://fr.dbpedia.org/property/pays\t{FR}France\n")
  write_links(toy, [*links_of(toy), f"{FR}Apollo_12\t{EN}Apollo_12"])
  task = openea.load_openea(str(toy))  # kept: one digit apart is another entity
  assert "Apollo 12" in task.kg1.names and "1 KG1 and 1 KG2 linked entities" in capsys.readouterr().err


def test_a_one_letter_neighbour_with_its_own_link_is_another_entity(toy, capsys):
  links = links_of(toy)
  berlin = next(line for line in links if line.startswith(f"{FR}Berlin\t"))
  write_links(toy, [*links, f"{FR}Berlinn\t{EN}Berlinn_(town)"])  # seen in fr_en: Patna and Batna
  task = openea.load_openea(str(toy))
  assert (
    berlin and "Berlinn" in task.kg1.names and "1 KG1 and 1 KG2 linked entities" in capsys.readouterr().err
  )


def test_one_kana_apart_is_another_word_not_a_typo(toy, capsys):
  with open(toy / "rel_triples_1", "a", encoding="utf-8") as f:
    f.write(f"{FR}ガーデニアン\thttp://fr.dbpedia.org/property/pays\t{FR}France\n")
  write_links(toy, [*links_of(toy), f"{FR}ガーディアン\t{EN}The_Guardian"])
  task = openea.load_openea(str(toy))  # seen in a ja_en subset: two entities, one kana apart
  assert "ガーディアン" in task.kg1.names and "1 KG1 and 1 KG2 linked entities" in capsys.readouterr().err


def test_a_uri_named_twice_differently_stops(toy):
  (toy / "names_1").write_text(f"{FR}Paris\tParis\n{FR}Paris\tLutèce\n", encoding="utf-8")
  with pytest.raises(InputError, match=r"names_1:2: entity .*Paris.* is named twice .*line 1"):
    openea.load_openea(str(toy))
  (toy / "names_1").write_text(f"{FR}Paris\tParis\n{FR}Paris\tParis\n", encoding="utf-8")
  assert "Paris" in openea.load_openea(str(toy)).kg1.names  # the same name twice is harmless


def trainer_config(directory, tmp_path):
  """The trainer on the toy pair: hashed names, one quick epoch."""
  config = own_kgs.get_config(str(directory))
  config.pipeline = "trainer"
  config.workdir = str(tmp_path / "run")
  config.data.cache_dir = str(tmp_path / "cache")
  config.data.name_encoder = "hash"
  config.train.num_epochs = 1
  config.train.batch_size = 8
  config.train.queue_batches = 2
  config.train.log_every_steps = 1
  config.train.iterative = False
  return config


def cli_error(capsys, *args) -> str:
  """The stderr of main.run, which must stop with exit code 2 and one `error:` line."""
  with pytest.raises(SystemExit) as stop:
    main.run(*args)
  err = capsys.readouterr().err
  assert stop.value.code == 2 and "Traceback" not in err, err
  lines = [line for line in err.splitlines() if line.startswith("error: ")]
  assert len(lines) == 1, err
  return lines[0]


def test_names_with_tabs_and_newlines_keep_every_tsv_row_whole(toy, tmp_path):
  (toy / "names_1").write_text(f"{FR}Paris\tParis%09centre\n", encoding="utf-8")
  task = openea.load_openea(str(toy))
  index = task.kg1.names.index("Paris%09centre")
  task.kg1.names[index] = "Paris\tcentre\nville"  # what a URI with %09 / %0A decodes to
  emb = np.eye(task.kg1.num_entities, task.kg2.num_entities, dtype=np.float32)
  decoded = decoding.decode(emb, emb.T @ emb, decoding.NEAREST, k=2)
  decided = decisions(decoded, decoding.NEAREST, 0.5, consistency.adjacencies(task))
  path = write_alignment(task, decoded, str(tmp_path / "a.tsv"), decided)
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  assert len(rows) == 1 + task.kg1.num_entities and {len(r) for r in rows} == {9}
  assert rows[1 + index][1] == "Paris\\tcentre\\nville"


def test_edited_data_is_refused_on_resume(toy, tmp_path, capsys):
  config = trainer_config(toy, tmp_path)
  main.run(config, config.workdir, "train")
  with open(toy / "rel_triples_1", "a", encoding="utf-8") as f:
    f.write(f"{FR}Paris\thttp://fr.dbpedia.org/property/pays\t{FR}Allemagne\n")
  line = cli_error(capsys, config, config.workdir, "train")
  assert "input data changed" in line and "rel_triples_1" in line and "--fresh" in line
  assert "rel_triples_1" in cli_error(capsys, config, config.workdir, "eval")  # evaluating it too


def test_a_run_without_validation_links_finishes_and_resumes(toy, tmp_path):
  config = trainer_config(toy, tmp_path)
  config.data.valid_fraction = 0.0
  first = main.run(config, config.workdir, "train")
  assert "valid/all/mrr" not in first["best"] and os.path.exists(tmp_path / "run" / "curves.png")
  assert main.run(config, config.workdir, "train")["best"] == first["best"]  # the rerun resumes


def test_a_full_disk_is_one_line_and_the_earlier_checkpoint_survives(
  small_config, small_run, tmp_path, capsys, monkeypatch
):
  workdir = str(tmp_path / "full")
  real_usage = shutil.disk_usage

  def full_after_the_first_save(path):
    usage = real_usage(path)
    saved = os.path.isdir(os.path.join(workdir, "checkpoints", "7"))
    return usage._replace(free=0) if saved else usage

  monkeypatch.setattr(checkpointing.shutil, "disk_usage", full_after_the_first_save)
  line = cli_error(capsys, small_config, workdir, "train")
  assert line.startswith(f"error: {workdir}/checkpoints: no space left on device; a checkpoint needs about")
  monkeypatch.undo()
  assert checkpointing.manager(workdir).latest_step() == 7
  resumed = main.run(small_config, workdir, "train")
  assert resumed["best"] == small_run["best"] and resumed["last"] == small_run["last"]


def test_orbax_write_failures_on_a_full_disk_become_the_os_error():
  with pytest.raises(OSError, match="no space left on device") as caught:
    with checkpointing.disk_errors("/ckpt"):
      raise ValueError("RESOURCE_EXHAUSTED: Failed writing ...: No space left on device [os_error_code='28']")
  assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/ckpt"
  with pytest.raises(ValueError, match="other"), checkpointing.disk_errors("/ckpt"):
    raise ValueError("other")


@pytest.mark.parametrize("name", ["config.json", "data.json"])
def test_a_truncated_state_file_says_what_to_do(small_config, tmp_path, capsys, name):
  workdir = tmp_path / "w"
  small_config.train.num_epochs = 0
  main.run(small_config, str(workdir), "train")
  text = (workdir / name).read_text(encoding="utf-8")
  (workdir / name).write_text(text[: len(text) // 2], encoding="utf-8")
  line = cli_error(capsys, small_config, str(workdir), "train")
  assert f"{workdir / name}: unreadable" in line and "--fresh" in line
  main.run(small_config, str(workdir), "train", fresh=True)


def test_a_partial_last_metrics_line_is_dropped_on_resume(small_config, small_run, tmp_path, capsys):
  workdir = tmp_path / "w"
  small_config.train.num_epochs = 2
  loop.train(small_config, str(workdir))
  with open(workdir / "metrics.jsonl", "a", encoding="utf-8") as f:
    f.write('{"step": 21, "loss": 0.')  # a write cut by a full disk
  small_config.train.num_epochs = 3
  resumed = loop.train(small_config, str(workdir)).results
  assert "1 unreadable line(s) dropped" in capsys.readouterr().err
  assert resumed["last"] == small_run["last"]
  assert all(
    json.loads(line) for line in (workdir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
  )


@pytest.mark.parametrize("damage", ["truncated array", "truncated manifest"])
def test_a_damaged_name_cache_is_computed_again(toy, tmp_path, capsys, damage):
  task = openea.load_openea(str(toy))
  first = names.name_features(task, str(tmp_path), "hash")
  stem = cache.cache_stem(str(tmp_path), task.name, "name-hash-uri", 1)
  path = stem + (".npy" if damage == "truncated array" else ".json")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  again = names.name_features(task, str(tmp_path), "hash")
  assert "computing the features again" in capsys.readouterr().err
  np.testing.assert_array_equal(again[0], first[0])


def test_a_failed_start_leaves_no_guard_files(small_config, tmp_path, capsys):
  workdir = tmp_path / "w"
  small_config.data.kind, small_config.data.data_dir = "dbp15k", str(tmp_path / "typo")
  assert "typo" in cli_error(capsys, small_config, str(workdir), "train")
  assert not (workdir / "config.json").exists() and not (workdir / "data.json").exists()


def test_evaluating_with_other_evaluation_settings_is_allowed(small_config, tmp_path, capsys):
  workdir = str(tmp_path / "w")
  small_config.train.num_epochs = 1
  main.run(small_config, workdir, "train")
  small_config.decoding.scoring, small_config.eval.valid_size = "csls", 100
  assert "test/h1" in main.run(small_config, workdir, "eval")
  small_config.train.learning_rate *= 2  # what was trained: refused
  assert "train.learning_rate" in cli_error(capsys, small_config, workdir, "eval")


def test_a_workdir_that_is_a_file_is_one_line(small_config, tmp_path, capsys):
  (tmp_path / "f").write_text("", encoding="utf-8")
  assert "a file stands where a folder is needed" in cli_error(
    capsys, small_config, str(tmp_path / "f"), "train"
  )


def test_fresh_removes_the_old_tensorboard_files(small_config, tmp_path):
  small_config.train.num_epochs = 1
  main.run(small_config, str(tmp_path), "train")
  old = tmp_path / "tensorboard" / "events.out.tfevents.0.earlier_run"  # the new file may share
  old.write_bytes(b"")  # the first's name (a name is the second and the host)
  main.run(small_config, str(tmp_path), "train", fresh=True)
  assert not old.exists() and os.listdir(tmp_path / "tensorboard")


def test_very_long_names_are_cut_before_encoding_with_a_warning(capsys):
  out = names.capped(["short", "x" * 1_200_000], "KG1")
  assert out == ["short", "x" * names.MAX_NAME_CHARS]
  assert "KG1: 1 names longer than 512 characters are cut" in capsys.readouterr().err


def read_lines(path) -> list[str]:
  return path.read_text(encoding="utf-8").splitlines()


def test_the_dangling_benchmark_removes_one_side_of_a_share_of_the_test_links(tmp_path):
  task = make_synthetic_pair(SyntheticSpec(num_entities=400), seed=0).task
  titles = [f"title {i}" if i % 3 else "" for i in range(task.kg1.num_entities)]  # some untranslated
  task = dataclasses.replace(task, kg1=dataclasses.replace(task.kg1, cased_translated_names=titles))
  summary = dangling_benchmark.build(task, 0.3, 1.0, 0, str(tmp_path))
  reloaded = openea.load_openea(str(tmp_path))
  title_of = dict(zip(task.kg1.uris, titles))
  assert reloaded.kg1.cased_translated_names == [title_of[u] for u in reloaded.kg1.uris]
  removed = round(0.3 * len(task.test_links))
  assert summary["removed"] == [removed - removed // 2, removed // 2]
  assert (
    len(reloaded.valid_links) + len(reloaded.test_links)
    == len(task.valid_links) + len(task.test_links) - removed
  )
  gone = [
    line.split("\t") for line in (tmp_path / "removed_entities").read_text(encoding="utf-8").splitlines()
  ]
  assert not {uri for kg, uri, _ in gone if kg == "1"} & set(reloaded.kg1.uris)
  assert not {uri for kg, uri, _ in gone if kg == "2"} & set(reloaded.kg2.uris)
  dangling = [
    line.split("\t") for line in (tmp_path / "dangling_entities").read_text(encoding="utf-8").splitlines()
  ]
  linked = {reloaded.kg1.uris[i] for i in np.concatenate([reloaded.valid_links, reloaded.test_links])[:, 0]}
  assert dangling and not {uri for kg, uri in dangling if kg == "1"} & linked
  assert len(dangling) + summary["dangling_not_representable"] == removed
  unequal = dangling_benchmark.build(task, 0.0, 0.5, 0, str(tmp_path / "half"))
  assert 1.7 < unequal["entities"][1] / unequal["entities"][0] < 2.3  # KG2 about twice KG1
