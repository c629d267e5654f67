"""The aligner's stages: literal view, propagation, consistency, and stage-by-stage gains."""

import os

import numpy as np
import pytest

from configs import synthetic
from selfmea_jax import config_checks
from selfmea_jax.align import fusion, propagation, run, views
from selfmea_jax.data.load import load
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError
from selfmea_jax.features import gloss, romanise
from selfmea_jax.features.literal import literal_features
from selfmea_jax.features.names import kg_names
from selfmea_jax.matching import consistency, export
from selfmea_jax.matching.candidates import CandidateGraph
from selfmea_jax.train.loop import fit


def test_propagation_equals_dense_normalised_adjacency_powers():
  triples = np.array([[0, 0, 1], [1, 0, 2], [2, 1, 1], [3, 0, 3]])  # a duplicate edge and a self loop
  edges = propagation.normalised_edges(4, triples)
  a = np.eye(4)
  a[0, 1] = a[1, 0] = a[1, 2] = a[2, 1] = 1.0
  d = a.sum(1)
  a_hat = a / np.sqrt(d[:, None] * d[None, :])
  x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
  hops = propagation.propagate(x, edges, 2)
  for h, expected in enumerate([x, a_hat @ x, a_hat @ a_hat @ x]):
    np.testing.assert_allclose(hops[h], expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)


def test_fused_dot_product_is_the_weighted_sum_of_cosines():
  rng = np.random.default_rng(1)
  triples = np.array([[0, 0, 1], [1, 0, 2]])
  edges = propagation.normalised_edges(3, triples)
  x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 5))
  w, a = np.array([0.25, 0.75]), np.array([0.5, 0.5])
  fused = fusion.fuse([x, y], edges, w, a)
  np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
  px, py = propagation.propagate(x, edges, 1), propagation.propagate(y, edges, 1)
  expected = sum(w[0] * a[h] * px[h] @ px[h].T + w[1] * a[h] * py[h] @ py[h].T for h in range(2))
  np.testing.assert_allclose(fused @ fused.T, expected, atol=1e-5)
  blocks = [np.sqrt(w[v] * a[h], dtype=np.float32) * p[h] for v, p in enumerate((px, py)) for h in range(2)]
  np.testing.assert_array_equal(fused, np.concatenate(blocks, axis=1))  # view-major, hop-minor blocks
  hop0_of_y = fusion.fuse([x, y], edges, np.array([0.0, 1.0]), np.array([1.0, 0.0]))  # zero weights: left out
  np.testing.assert_array_equal(hop0_of_y, py[0])
  with pytest.raises(InputError, match="weights"):
    fusion.normalised_weights([1.0, -1.0], 2, "align.view_weights")


def test_literal_view_matches_spellings_not_meaning():
  left = ["Tokyo Tower", "Jean-Paul Sartre", "Mount Fuji", ""]
  right = ["tokyo tower", "Jean Paul Sartre", "Lake Biwa", "Mount Fuji"]
  a, b = literal_features(left, right, dim=4096, seed=0)
  s = a @ b.T
  assert s[0, 0] > 0.99 and s[1, 1] > 0.7 and s[2, 3] > 0.99
  assert s[0, 2] < 0.2 and s[2, 2] < s[2, 3]
  np.testing.assert_array_equal(a[3], 0.0)  # an empty name is similar to nothing
  again, _ = literal_features(left, right, dim=4096, seed=0)
  np.testing.assert_array_equal(a, again)


def test_romanised_names_meet_their_english_spelling():
  # Chinese and Japanese names share no letter with English; read aloud they do.
  chinese = ["张艺谋", "北京", "上海", "丹尼尔·阿林"]
  japanese = ["宮崎駿", "ハリー・ポッター", "東京", "ひらがな"]
  english = ["Zhang Yimou", "Beijing", "Shanghai", "Miyazaki Hayao", "Harry Potter", "Tokyo Dome"]
  assert romanise.script_of(chinese) == "chinese" and romanise.script_of(japanese) == "japanese"
  assert romanise.script_of(english) == "latin"
  assert romanise.romanised(chinese)[:2] == ["zhangyimou", "beijing"]
  assert romanise.romanised(chinese)[3] == "dannier alin"  # the middle dot separates words
  assert romanise.romanised(japanese)[0] == "miyazakihayao"
  assert romanise.romanised(["Zürich", "Beyoncé"]) == ["Zurich", "Beyonce"]
  for kg1, gold in ((chinese[:3], [0, 1, 2]), (japanese[:2], [3, 4])):
    x, y = literal_features(kg1, english, dim=4096)
    assert np.all(x @ y.T == 0.0)  # no n-gram in common before reading them
    a, b = literal_features(romanise.romanised(kg1), romanise.romanised(english), dim=4096)
    np.testing.assert_array_equal((a @ b.T).argmax(1), gold)


def test_romanised_view_reads_each_kg_in_its_own_script():
  task = make_synthetic_pair(SyntheticSpec(num_entities=50)).task
  task.kg1.names[:2] = ["张艺谋", "北京"]
  assert kg_names(task.kg1, "romanised")[:2] == ["zhangyimou", "beijing"]
  assert kg_names(task.kg2, "romanised") == [romanise.strip_accents(n) for n in task.kg2.names]
  a, b = views.view_matrices(task, views.parse_view("literal:romanised"), "unused")
  assert a.shape[0] == task.kg1.num_entities and b.shape[0] == task.kg2.num_entities


def test_glossed_names_meet_their_english_translation():
  # 爱尔兰王国 is a translation of "Kingdom of Ireland": its pinyin barely shares n-grams with
  # it, its dictionary glosses do.
  lines = [
    "愛爾蘭 爱尔兰 [Ai4 er3 lan2] /Ireland/",
    "王國 王国 [wang2 guo2] /kingdom/realm/",
    "張藝謀 张艺谋 [Zhang1 Yi4 mou2] /Zhang Yimou (1950-), PRC film director/",
    "大學 大学 [da4 xue2] /the Great Learning, one of the Four Books 四書|四书[Si4 shu1]/university/",
    "張 张 [Zhang1] /surname Zhang/",
  ]
  words = gloss.parse_dictionary(lines)
  assert words["张艺谋"] == words["張藝謀"] == "Zhang Yimou"  # both forms; the note after the comma cut
  assert words["大学"] == "the Great Learning university"  # senses joined, the cross-reference dropped
  assert "张" not in words  # a surname note is no gloss
  assert gloss.gloss_chinese("爱尔兰王国", words) == "Ireland kingdom realm"
  assert gloss.gloss_chinese("爱尔兰足球", words) == "Ireland zuqiu"  # no headword: pinyin
  assert gloss.gloss_chinese("丹尼尔·阿林", words) == "dannier alin"  # a transliterated person
  english = ["Kingdom of Ireland", "Zhang Yimou", "Irish Sea"]
  chinese = ["爱尔兰王国", "张艺谋"]
  a, b = literal_features(romanise.romanised(chinese), english, dim=4096)
  assert (a @ b.T)[0, 0] < 0.1  # read aloud, the kingdom is barely like its English name
  a, b = literal_features([gloss.gloss_chinese(n, words) for n in chinese], english, dim=4096)
  assert (a @ b.T)[0, 0] > 0.5
  np.testing.assert_array_equal((a @ b.T).argmax(1), [0, 1])


def test_only_a_kg_read_as_chinese_is_glossed_and_a_glossed_view_needs_one():
  japanese = ["宮崎駿", "ハリー・ポッター", "東京"]
  assert gloss.glossed(japanese) == japanese and gloss.glossed(["Zürich"]) == ["Zürich"]
  assert gloss.glossed(["北京大学"]) == ["Peking University"]  # the shipped CC-CEDICT
  task = make_synthetic_pair(SyntheticSpec(num_entities=50)).task
  spec = views.parse_view("literal:glossed")
  assert not views.applies(task, spec) and views.applies(task, views.parse_view("literal:uri"))
  task.kg1.names[:2] = ["张艺谋", "北京大学"]
  assert views.applies(task, spec)
  assert kg_names(task.kg1, "glossed")[:2] == ["Zhang Yimou", "Peking University"]
  assert kg_names(task.kg2, "glossed") == task.kg2.names


def test_a_chinese_kg_read_as_japanese_meets_the_romaji_of_japanese_things():
  # Chinese names Japanese places in their kanji; English spells them in the Japanese reading.
  chinese = ["高槻市", "港北區", "张艺谋"]
  english = ["Takatsuki, Osaka", "Kōhoku-ku, Yokohama", "Zhang Yimou"]
  assert romanise.read_as_japanese(chinese)[:2] == ["takatsukishi", "kohokuku"]  # kouhoku folded
  assert romanise.read_as_japanese(["宮崎駿", "ハリー"]) == ["宮崎駿", "ハリー"]  # a Japanese KG: as it is
  english_read = [romanise.strip_accents(n) for n in english]
  a, b = literal_features(romanise.romanised(chinese), english_read, dim=4096)
  assert (a @ b.T)[0, 0] < 0.1  # in pinyin (gaoguishi) Takatsuki is not found
  a, b = literal_features(romanise.read_as_japanese(chinese), english_read, dim=4096)
  np.testing.assert_array_equal((a @ b.T)[:2].argmax(1), [0, 1])
  task = make_synthetic_pair(SyntheticSpec(num_entities=50)).task
  spec = views.parse_view("literal:read_as_japanese")
  assert not views.applies(task, spec)
  task.kg1.names[:1] = ["高槻市"]
  assert views.applies(task, spec) and kg_names(task.kg1, "read_as_japanese")[0] == "takatsukishi"
  assert kg_names(task.kg2, "read_as_japanese") == task.kg2.names


def test_a_glossed_view_of_kgs_without_chinese_is_left_out(tmp_path):
  config = _stage_config(tmp_path)
  with config.unlocked():
    config.align.views = ("given", "literal:glossed")
  dataset = load(config)
  view_set, raw = run.load_views(config, dataset)
  assert view_set.names == ["given:uri"] and list(raw) == ["given:uri"]


def test_neighbour_support_counts_aligned_neighbours():
  # KG1: 0-1, 0-2; KG2: 5-6, 5-7 (8 entities). Pairs 1->6 and 2->7 support (0, 5) twice.
  adjacency1 = consistency.adjacency(3, np.array([[0, 0, 1], [0, 0, 2]]))
  adjacency2 = consistency.adjacency(8, np.array([[5, 0, 6], [5, 0, 7]]))
  graph = CandidateGraph(
    np.array([0, 0], np.int32),
    np.array([5, 6], np.int32),
    np.zeros(2, np.float32),
    3,
    8,
    np.zeros((3, 1)),
    np.zeros((8, 1)),
  )
  support = consistency.neighbour_support(
    graph.rows, graph.cols, np.array([[1, 6], [2, 7]]), adjacency1, adjacency2
  )
  np.testing.assert_allclose(support, [2 / np.sqrt(2 * 2), 0.0])


def test_view_names_and_errors():
  assert views.parse_view("e5:translated") == views.ViewSpec("e5", "translated")
  assert views.parse_view("literal").source == "uri"
  with pytest.raises(InputError, match="unknown view encoder"):
    views.parse_view("bert:uri")
  with pytest.raises(InputError, match="unknown name source"):
    views.parse_view("use:french")
  task = make_synthetic_pair(SyntheticSpec(num_entities=50)).task
  with pytest.raises(InputError, match="translated names"):
    views.view_matrices(task, views.parse_view("literal:translated"), "unused")
  with pytest.raises(InputError, match="translated_cased names"):
    views.view_matrices(task, views.parse_view("literal:translated_cased"), "unused")


def _stage_config(tmp_path):
  config = synthetic.get_config("aligner")
  config.data.synthetic.num_entities = 1000
  config.data.synthetic.spelling_noise = 0.45
  config.data.synthetic.name_noise = 0.8
  config.workdir = str(tmp_path)
  config.align.self_training_rounds = 0
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 1000
  return config


def _h1(config, workdir, **overrides):
  """The decoded alignment's accuracy (all KG2) with align.* / decoding.* overrides."""
  for key, value in overrides.items():
    setattr(config.decoding if key in config.decoding else config.align, key, value)
  return run.align(config, str(workdir)).report["final"]["all/decoded_accuracy"]


@pytest.mark.slow
def test_each_stage_raises_accuracy_on_synthetic(tmp_path):
  config = _stage_config(tmp_path)
  greedy = dict(scoring="cosine", assignment="greedy")
  names = _h1(config, tmp_path / "a", views=("given:uri",), hop_weights=(1.0,), **greedy)
  literal = _h1(config, tmp_path / "b", views=("given:uri", "literal:uri"), **greedy, hop_weights=(1.0,))
  two_hops = _h1(config, tmp_path / "c", hop_weights=(1.0, 1.0, 1.0), **greedy)
  hungarian = _h1(config, tmp_path / "d", scoring="cosine", assignment="hungarian")
  sinkhorn = _h1(config, tmp_path / "e", scoring="sinkhorn", assignment="greedy")
  trained = _h1(config, tmp_path / "f", self_training_rounds=1)
  refined = _h1(config, tmp_path / "g", self_training_rounds=0, consistency_rounds=1, consistency_weight=0.1)
  assert names < literal < two_hops
  assert two_hops < hungarian and two_hops < sinkhorn
  assert sinkhorn < trained and sinkhorn < refined


def test_alignment_tsv_has_one_row_per_kg1_entity(tmp_path):
  config = _stage_config(tmp_path)
  config.decoding.conventions = ("all",)
  result = run.align(config, str(tmp_path))
  with open(result.report["alignment"], encoding="utf-8") as f:
    header, *rows = f.read().splitlines()
  assert tuple(header.split("\t")) == export.HEADER and export.HEADER[-2:] == ("confidence", "decision")
  task = result.task
  assert len(rows) == task.kg1.num_entities
  assert [r.split("\t")[0] for r in rows] == task.kg1.uris


def test_self_training_refuses_checkpoints_from_other_pseudo_seeds(tmp_path):
  run._check_fingerprint(str(tmp_path), {"seeds_sha256": "a", "config": {"x": 1}})
  run._check_fingerprint(str(tmp_path), {"seeds_sha256": "a", "config": {"x": 1}})  # same: resumes
  with pytest.raises(InputError, match="other pseudo-seeds"):
    run._check_fingerprint(str(tmp_path), {"seeds_sha256": "b", "config": {"x": 1}})


def test_trainer_fingerprint_ignores_the_aligners_own_keys_but_not_the_trainers(tmp_path):
  config = _stage_config(tmp_path)
  seeds = np.array([[0, 1], [2, 3]])
  base = run.trainer_fingerprint(run.trainer_config(config), seeds)
  config.align.self_training_rounds += 2  # more rounds, other fine-tuning: the round resumes
  config.align.finetune.steps += 1
  config.workdir = "elsewhere"
  assert run.trainer_fingerprint(run.trainer_config(config), seeds) == base
  run._check_fingerprint(str(tmp_path), base)
  config.decoding.calibration = (1.0, 2.0, 3.0, 4.0)  # never trained: the round resumes
  config.decoding.match_threshold = 0.25
  config.data.cache_dir = "another_cache"  # the same features, kept elsewhere
  run._check_fingerprint(str(tmp_path), run.trainer_fingerprint(run.trainer_config(config), seeds))
  config.align.trainer.num_epochs += 1  # the trainer's own settings (via align.trainer): refused
  with pytest.raises(InputError, match="another config"):
    run._check_fingerprint(str(tmp_path), run.trainer_fingerprint(run.trainer_config(config), seeds))
  assert run.trainer_fingerprint(run.trainer_config(config), seeds) != base
  assert run.trainer_fingerprint(run.trainer_config(config), seeds[:1]) != run.trainer_fingerprint(
    run.trainer_config(config), seeds
  )


def test_trainer_view_must_be_a_cached_encoder_and_is_checked_up_front(tmp_path):
  config = _stage_config(tmp_path)
  config.align.trainer.name_view = "literal:uri"
  with pytest.raises(InputError, match=r"align\.trainer\.name_view"):
    config_checks.validate(config)


def test_rounds_share_one_data_load_and_eval_decodes_again_without_training(tmp_path, monkeypatch):
  config = _stage_config(tmp_path)
  config.data.synthetic.num_entities = 500
  config.align.self_training_rounds = 2
  config.align.trainer.num_epochs = 1
  loads, fits = [], []
  monkeypatch.setattr(run, "load", lambda c: loads.append(1) or load(c))
  monkeypatch.setattr(run.loop, "fit", lambda *a, **k: fits.append(1) or fit(*a, **k))
  trained = run.align(config, str(tmp_path / "run"))
  assert len(loads) == 1 and len(fits) == 2
  stages = trained.report["stages"]
  assert [s["trainer"]["best_epoch"] for s in stages[1:]] == [1, 1]  # each round's trainer, nested
  assert "names_only" not in stages[1]["trainer"]  # the baseline is not recomputed per round
  assert sorted(os.listdir(tmp_path / "run")) == [
    "alignment.tsv",
    "results.json",
    "review.html",
    "self_training_1",
    "self_training_2",
  ]  # one results.json: the rounds write none of their own
  again = run.align(config, str(tmp_path / "run"), mode="eval")
  assert len(fits) == 2  # nothing trained
  for key in ("test/h1", "all/decoded_accuracy", "valid/all/mrr"):
    assert again.report["final"][key] == trained.report["final"][key], key
  with pytest.raises(InputError, match="no trained self-training round 1"):
    run.align(config, str(tmp_path / "empty"), mode="eval")


def test_a_round_is_kept_only_if_the_label_free_signal_rises(tmp_path, monkeypatch):
  config = _stage_config(tmp_path)
  config.data.synthetic.num_entities = 300
  config.align.self_training_rounds = 3
  config.align.trainer.num_epochs = 1
  signals = iter([0.5, 0.6, 0.55])  # round 1 raises the signal, round 2 lowers it
  monkeypatch.setattr(run, "stage_signal", lambda *a: next(signals))
  report = run.align(config, str(tmp_path / "run")).report
  # round 2 is set aside, and round 3 would train again on round 1's pseudo-seeds: not run
  assert [s["kept"] for s in report["stages"]] == [True, True, False]
  assert report["views"][-1] == "trained1" and "trained2" not in report["views"]
  assert report["final"]["stage"] == "+ self-training round 1"
  assert not os.path.exists(tmp_path / "run" / "self_training_3")
  signals = iter([0.5, 0.4])  # eval decodes again; here round 1 does not help either
  report = run.align(config, str(tmp_path / "run"), mode="eval").report
  assert [s["kept"] for s in report["stages"]] == [True, False]
  assert report["final"]["stage"] == report["stages"][0]["stage"]
  assert report["views"] == report["stages"][0]["stage"].split("+")


def test_each_round_replaces_the_last_rounds_learned_view(tmp_path, monkeypatch):
  config = _stage_config(tmp_path)
  config.data.synthetic.num_entities = 300
  config.align.self_training_rounds = 2
  config.align.trainer.num_epochs = 1
  signals = iter([0.5, 0.6, 0.7])  # both rounds kept
  monkeypatch.setattr(run, "stage_signal", lambda *a: next(signals))
  report = run.align(config, str(tmp_path / "run")).report
  assert report["final"]["stage"] == "+ self-training round 2"
  names = report["stages"][0]["stage"].split("+")
  assert report["views"] == names + ["trained2"]  # trained1 is not kept beside it
  assert len(report["view_weights"]) == len(names) + 1


def test_centering_removes_the_shared_direction():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(200, 6)) * 0.1 + np.array([5.0, 0, 0, 0, 0, 0])  # a narrow cone
  raw = x / np.linalg.norm(x, axis=1, keepdims=True)
  centred = fusion.center_rows(raw)
  np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
  assert np.mean(raw @ raw.T) > 0.9 and abs(np.mean(centred @ centred.T)) < 0.05
