"""Default configuration: every key, documented, with its default value.

Other configs start from this one and override (big_vision style):
  configs/synthetic.py     the embedded default (no dataset)
  configs/dbp15k.py:<pair>[,mea|,best][,translated]   DBP15K; configs/<pair>*.py are shortcuts
  configs/own_kgs.py:<dir> your own KG pair (OpenEA layout)
"""

import dataclasses

import ml_collections

from selfmea_jax.data.synthetic import SyntheticSpec


def get_config() -> ml_collections.ConfigDict:
  """Every key, with its default; the other configs start from this and override."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.workdir = "runs/default"

  c.data = ml_collections.ConfigDict()
  c.data.kind = "synthetic"  # 'synthetic' | 'dbp15k' | 'openea' (your own KGs)
  c.data.pair = "ja_en"  # DBP15K pair (zh_en, ja_en, fr_en)
  c.data.data_dir = "../shared/data"  # contains DBP15K/<pair>/
  c.data.openea_dir = ""  # kind 'openea': rel_triples_1/2 [+ ent_links]
  c.data.valid_fraction = 0.3  # kind 'openea': share of ent_links used for validation
  c.data.feature_dtype = "float32"  # name caches read by the trainer: float32 | float16 (half the
  #                                  disk and page cache; up-cast to float32 in each batch)
  c.data.cache_dir = "cache"  # feature cache
  c.data.name_encoder = "use"  # use | e5 | labse | hash
  c.data.name_source = "uri"  # uri (original language) | translated
  c.data.labse_path = "setu4993/LaBSE"  # local directory or hub name (encoder 'labse')
  c.data.synthetic = ml_collections.ConfigDict(dataclasses.asdict(SyntheticSpec()))
  c.data.modalities = ()  # extra modalities: relation, attribute, image
  c.data.relation_top_k = 1000
  c.data.relation_shared_names = True  # match relations across KGs by local name
  c.data.attribute_top_k = 1000
  c.data.attribute_files = ("", "")  # EVA training_attrs_1/2
  c.data.image_files = ("", "")  # EVA pickles or .npz (ids, features)

  c.model = ml_collections.ConfigDict()
  c.model.num_slots = 20  # neighbourhood slots incl. the centre
  c.model.dropout = 0.3
  c.model.identity_init = True
  c.model.neighbour_scale = 0.0
  c.model.projection_dim = 128
  c.model.compute_dtype = "float32"  # dense layers: float32 | bfloat16 (accelerators; params stay f32)

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 64
  c.train.queue_batches = 64  # queue length = queue_batches * batch_size
  c.train.learning_rate = 1e-4
  c.train.lr_schedule = "constant"  # constant | cosine (decay to 0 over training)
  c.train.momentum = 0.9999
  c.train.temperature = 0.08
  c.train.num_epochs = 5
  c.train.data_parallel = True  # split each batch over all local devices (jit + sharding)
  c.train.log_every_steps = 100
  c.train.eval_every_epochs = 1
  c.train.checkpoint_every_steps = 500
  c.train.keep_checkpoints = 2
  c.train.contrastive_output = "graph"  # queue contrastive loss on: graph (SelfKG) | joint
  c.train.nca_weight = 0.0  # > 0 enables pseudo-seed NCA (SelfMEA)
  c.train.seed_batch_size = 256
  c.train.iterative = False  # add mutual-NN pseudo-seeds during training
  c.train.iterate_every_epochs = 1
  c.train.seed_keep_fraction = 0.5  # keep the most confident (largest-margin) mutual NNs
  c.train.seed_search = "auto"  # mutual-NN mining: exact | hnsw | ivf | auto (exact up to 4e9 pairs)
  c.train.iterate_window = 2  # a pair must stay mutual this many checks
  c.train.initial_seeds = "encoder"  # '' | 'names' | 'encoder': mutual NNs of names / untrained model
  # NCA / multi-similarity loss on pseudo-seed pairs (SelfMEA eq. 7), one term per output:
  c.train.nca_alpha = ml_collections.ConfigDict(  # scale of the negatives, per encoder output
    {"graph": 5.0, "relation": 15.0, "attribute": 15.0, "image": 15.0, "joint": 15.0}
  )
  c.train.nca_beta = 10.0  # scale of the positives
  c.train.nca_margin = 0.5  # similarity margin between positives and negatives

  # Multi-host runs (train/distributed.py): the same command on every host, one process each.
  c.distributed = ml_collections.ConfigDict()
  c.distributed.enabled = False  # call jax.distributed.initialize (TPU pods / clusters: auto)
  c.distributed.coordinator_address = ""  # host:port of process 0 (else auto-detected)
  c.distributed.num_processes = 0  # with coordinator_address
  c.distributed.process_id = -1  # with coordinator_address: 0 .. num_processes - 1

  c.eval = ml_collections.ConfigDict()
  c.eval.backend = "jax"  # jax (blocked) | faiss
  c.eval.scoring = "cosine"  # cosine | csls | sinkhorn
  c.eval.csls_k = 10
  c.eval.compute_dtype = "float32"  # one-pass evaluation's score matmul: float32 | bfloat16
  c.eval.sinkhorn_temperature = 0.02  # scoring 'sinkhorn': entropic temperature
  c.eval.sinkhorn_iterations = 10  # scoring 'sinkhorn': row/column normalisations
  c.eval.valid_size = 1000  # validation links sampled for model selection
  c.eval.test_queries = 0  # 0: rank every test link; n: a seeded sample of n (metrics + '<m>_se')
  c.eval.select_best = True  # report the epoch best on validation
  c.eval.encode_batch = 2048

  # The label-free aligner (selfmea_jax/align): used by `main` when align.enabled.
  c.align = ml_collections.ConfigDict()
  c.align.enabled = False
  c.align.views = ("use:uri",)  # <encoder>:<source>; encoder use|e5|labse|hash|literal|given
  c.align.view_weights = ()  # () = equal; else one non-negative weight per view
  c.align.center_views = True  # centre each view on its KG's mean row, re-normalise
  c.align.hop_weights = (1.0, 1.0, 1.0)  # weight of hops 0..H of every view (normalised)
  c.align.literal_dim = 1024  # width of the random projection of the n-gram TF-IDF
  c.align.candidates_k = 50  # top-k each way: the sparse candidate graph
  c.align.search = "auto"  # exact | ivf | hnsw | auto (exact up to 4e9 query x candidate pairs, then hnsw)
  c.align.search_target_recall = 0.99  # approximate search: sampled recall@k it must reach
  c.align.scoring = "sinkhorn"  # cosine | csls | sinkhorn (ranks for H@10 / MRR)
  c.align.assignment = "hungarian"  # greedy | hungarian (the decoded alignment, H@1)
  c.align.csls_k = 10  # scoring csls: neighbours of the local-density terms
  c.align.sinkhorn_temperature = 0.02  # scoring sinkhorn: entropic temperature
  c.align.sinkhorn_iterations = 100  # scoring sinkhorn: log-domain normalisations
  c.align.consistency_weight = 0.0  # neighbour-consistency refinement (0 = off)
  c.align.consistency_rounds = 0  # refinement rounds (each re-decodes)
  c.align.conventions = ("test", "all")  # evaluation conventions reported
  c.align.self_training_rounds = 1  # 0 = decoding only
  c.align.seed_keep_fraction = 1.0  # of the decoded pairs that are mutual best (by margin)
  c.align.train_view = "use:uri"  # the trainer's name input
  c.align.train_epochs = 2  # trainer epochs per self-training round
  c.align.train_nca_weight = 1.0  # trainer NCA weight on the decoded pseudo-seeds
  c.align.trained_view_weight = 1.0  # relative to the average name view
  return c
