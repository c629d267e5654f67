"""Builds a task and the model inputs of both KGs from a config."""

from __future__ import annotations

from selfmea_jax.data import dbp15k, openea
from selfmea_jax.data.inputs import GraphInputs
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.data.neighbours import neighbour_table
from selfmea_jax.data.synthetic import SyntheticSpec, make_synthetic_pair
from selfmea_jax.errors import InputError
from selfmea_jax.features import attributes, images, relations
from selfmea_jax.features.names import name_features

SIDE_MODALITIES = ("relation", "attribute", "image")


def _synthetic(config):
  spec = SyntheticSpec(**config.data.synthetic.to_dict())
  pair = make_synthetic_pair(spec, seed=config.seed)
  side = {"image": pair.image_features, "attribute": pair.attribute_bags}
  return pair.task, pair.name_features, side


REAL_KINDS = ("dbp15k", "openea")  # datasets read from files (name caches in file order)


def uses_translations(config) -> bool:
  """Whether any name input of the config reads the machine-translated names."""
  names = [config.data.name_source] + [v.partition(":")[2] for v in config.align.views]
  if config.align.enabled:
    names.append(config.align.train_view.partition(":")[2])
  return "translated" in names


def load_real_task(config) -> AlignmentTask:
  """The task of a file-backed dataset: DBP15K (data_dir + pair) or OpenEA (openea_dir)."""
  if config.data.kind == "dbp15k":
    return dbp15k.load_dbp15k(config.data.data_dir, config.data.pair, seed=config.seed,
                              translations=uses_translations(config))
  return openea.load_openea(config.data.openea_dir, seed=config.seed,
                            valid_fraction=config.data.valid_fraction)


def _real(config):
  task = load_real_task(config)
  kwargs = {"model_path": config.data.labse_path} if config.data.name_encoder == "labse" else {}
  names = name_features(task, config.data.cache_dir, config.data.name_encoder,
                        config.data.name_source, encoder_kwargs=kwargs, local_order=False)
  side = {}
  if all(config.data.image_files):
    side["image"] = tuple(images.image_features(kg, images.read_image_table(path), config.seed)[0]
                          for kg, path in zip((task.kg1, task.kg2), config.data.image_files))
  if config.data.kind == "openea" and "attribute" in config.data.modalities:
    per_kg = [openea.attribute_keys(config.data.openea_dir, kg, side)
              for side, kg in ((1, task.kg1), (2, task.kg2))]
    if all(keys is not None for keys in per_kg):
      vocab = attributes.attribute_vocabulary(per_kg, config.data.attribute_top_k)
      side["attribute"] = tuple(attributes.attribute_bags(e, vocab) for e in per_kg)
  if all(config.data.attribute_files):
    per_kg = [attributes.read_attribute_file(p, kg)
              for p, kg in zip(config.data.attribute_files, (task.kg1, task.kg2))]
    vocab = attributes.attribute_vocabulary(per_kg, config.data.attribute_top_k)
    side["attribute"] = tuple(attributes.attribute_bags(e, vocab) for e in per_kg)
  return task, names, side


def build(config) -> tuple[AlignmentTask, tuple[GraphInputs, GraphInputs]]:
  """Loads the data named by config.data and returns (task, (inputs_kg1, inputs_kg2))."""
  if config.data.kind == "synthetic":
    task, names, side = _synthetic(config)
  elif config.data.kind in REAL_KINDS:
    task, names, side = _real(config)
  else:
    raise InputError(f"unknown data.kind {config.data.kind!r}; choose 'synthetic', 'dbp15k' or 'openea'")
  kgs = (task.kg1, task.kg2)
  unknown = set(config.data.modalities) - set(SIDE_MODALITIES)
  if unknown:
    raise InputError(f"unknown modalities {sorted(unknown)}; choose from {SIDE_MODALITIES}")
  if "relation" in config.data.modalities:
    vocab = relations.relation_vocabulary(list(kgs), config.data.relation_top_k,
                                          config.data.relation_shared_names)
    side["relation"] = tuple(relations.relation_bags(kg, vocab, config.data.relation_shared_names)
                             for kg in kgs)
  inputs = []
  for k, kg in enumerate(kgs):
    ids, mask = neighbour_table(kg.num_entities, kg.triples, config.model.num_slots, config.seed)
    chosen = {m: side[m][k] for m in config.data.modalities if m in side}
    rows = kg.source_rows if config.data.kind in REAL_KINDS else None  # caches are in file order
    inputs.append(GraphInputs(names=names[k], neighbour_ids=ids, neighbour_mask=mask, side=chosen,
                              name_rows=rows))
  return task, tuple(inputs)


def active_modalities(config, inputs: tuple[GraphInputs, GraphInputs]) -> tuple[str, ...]:
  """Side modalities requested in the config and present in the data (in canonical order)."""
  return tuple(m for m in SIDE_MODALITIES if m in config.data.modalities and m in inputs[0].side)
