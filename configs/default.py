"""Default configuration: every key, documented, with its default value.

Other configs start from this one and override (big_vision style):
  configs/synthetic.py[:mea|:aligner]                    the embedded default (no dataset)
  configs/dbp15k.py:<pair>[,mea|,aligner][,translated]   DBP15K; configs/<pair>.py = SelfKG
  configs/own_kgs.py:<dir>                               your own KG pair (OpenEA layout)
"""

import dataclasses

import ml_collections

from selfmea_jax.data.synthetic import SyntheticSpec


def get_config() -> ml_collections.ConfigDict:
  """Every key, with its default; the other configs start from this and override."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.workdir = "runs/default"
  c.pipeline = "trainer"  # trainer (SelfKG / SelfMEA, train/) | aligner (label-free aligner, align/)

  c.data = ml_collections.ConfigDict()
  c.data.kind = "synthetic"  # 'synthetic' | 'dbp15k' | 'openea' (your own KGs)
  c.data.pair = "ja_en"  # DBP15K pair (zh_en, ja_en, fr_en)
  c.data.data_dir = "../shared/data"  # contains DBP15K/<pair>/
  c.data.openea_dir = ""  # kind 'openea': rel_triples_1/2 [+ ent_links]
  c.data.valid_fraction = 0.3  # kind 'openea': share of ent_links used for validation
  c.data.feature_dtype = "float32"  # name caches read by the trainer: float32 | float16 (half the
  #                                  disk and page cache; up-cast to float32 in each batch)
  c.data.cache_dir = "cache"  # feature cache
  c.data.name_encoder = "use"  # use | e5 | e5jax | labse | hash
  c.data.name_source = "uri"  # uri (original language) | translated | translated_cased | romanised | glossed
  # | read_as_japanese
  c.data.weights_dir = ""  # converted model weights (the JAX e5's); '' = cache_dir
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
  c.eval.compute_dtype = "float32"  # one-pass evaluation's score matmul: float32 | bfloat16
  c.eval.valid_size = 1000  # validation links sampled for model selection
  c.eval.test_queries = 0  # 0: rank every test link; n: a seeded sample of n (metrics + '<m>_se')
  c.eval.select_best = True  # report the epoch best on validation
  c.eval.encode_batch = 2048

  # Decoding, for both pipelines (matching/): the trainer's test ranks and alignment.tsv, the
  # aligner's every stage. Metrics: h1 / h10 / mrr rank the gold partner under `scoring`;
  # decoded_accuracy is the share of sources whose 1-to-1 decoded partner is the gold one.
  c.decoding = ml_collections.ConfigDict()
  c.decoding.scoring = "cosine"  # cosine | csls | sinkhorn (transport plan on the candidate graph)
  c.decoding.assignment = "greedy"  # greedy | hungarian: the decoded alignment
  c.decoding.csls_k = 10  # scoring csls: neighbours of the local-density terms
  c.decoding.sinkhorn_temperature = 0.02  # scoring sinkhorn: entropic temperature
  c.decoding.sinkhorn_iterations = 100  # scoring sinkhorn: log-domain row/column normalisations
  c.decoding.sinkhorn_csls_weight = 0.0  # scoring sinkhorn: kernel cos - w (r1 + r2) / 2 (CSLS's hub terms)
  c.decoding.candidates_k = 50  # top-k each way: the sparse candidate graph
  c.decoding.search = "auto"  # exact | flat | ivf | hnsw | auto (exact up to 4e9 query x candidate pairs)
  c.decoding.search_target_recall = 0.99  # approximate search: sampled recall@k it must reach
  c.decoding.consistency_weight = 0.0  # neighbour-consistency refinement (0 = off)
  c.decoding.consistency_rounds = 0  # refinement rounds (each re-decodes)
  c.decoding.conventions = ("test", "all")  # conventions reported by a decoding
  c.decoding.match_threshold = 0.5  # alignment.tsv's decision: `match` at confidence >= this
  # confidence = sigmoid(w . (logit decoder probability, row margin, column margin) + bias),
  # (w..., bias) fitted on ja_en's validation pool (experiments/fit_confidence.py); () = the
  # decoder probability itself (matching/confidence.py)
  c.decoding.calibration = ()

  # The label-free aligner (selfmea_jax/align): pipeline='aligner'.
  c.align = ml_collections.ConfigDict()
  c.align.views = ("use:uri",)  # <encoder>:<source>; encoder use|e5|labse|hash|literal|given
  c.align.view_weights = ()  # () = equal; else one non-negative weight per view
  c.align.center_views = True  # centre each view on its KG's mean row, re-normalise
  c.align.hop_weights = (1.0, 1.0, 1.0)  # weight of hops 0..H of every view (normalised)
  c.align.literal_dim = 1024  # width of the random projection of the n-gram TF-IDF
  c.align.self_training_rounds = 1  # 0 = decoding only
  c.align.trained_view_weight = 1.0  # relative to the average name view
  # The trainer of each self-training round: the run's config with these overrides (and
  # train.initial_seeds='given', train.iterative, cosine ranks in its own epoch reports).
  c.align.trainer = ml_collections.ConfigDict()
  c.align.trainer.name_view = "use:uri"  # its name input: a cached encoder view (given: synthetic)
  c.align.trainer.num_epochs = 2  # -> train.num_epochs
  c.align.trainer.nca_weight = 1.0  # -> train.nca_weight (NCA on the decoded pseudo-seeds)
  c.align.trainer.seed_fraction = 1.0  # of the decoded, mutually best pairs (by margin) handed over
  # Each round may also fine-tune the JAX e5 name encoder on the same pseudo-seeds
  # (train/name_finetune.py); its vectors replace the view `replace_view` (or join as a view).
  c.align.finetune = ml_collections.ConfigDict()
  c.align.finetune.enabled = False  # on in configs/dbp15k.py's aligner (and so for your own KGs)
  # chosen on ja_en's validation pool (experiments/finetune_sweep.py, BUILD_NOTES issue 17)
  c.align.finetune.steps = 300  # contrastive steps per round
  c.align.finetune.max_epochs = 2.0  # fewer steps for few pseudo-seeds: at most 2 passes over them
  c.align.finetune.batch_size = 64  # pairs per step (in-batch negatives)
  c.align.finetune.learning_rate = 1e-4  # AdamW
  c.align.finetune.train_layers = 4  # the top encoder layers that train (0: all but the word embeddings)
  c.align.finetune.temperature = 0.05  # InfoNCE temperature
  c.align.finetune.queue_batches = 4  # earlier batches' KG2 vectors kept as extra negatives
  # tokens per name while training (0.5% of DBP15K names are longer); encoding is not cut
  c.align.finetune.max_length = 24
  c.align.finetune.source = "uri"  # uri | translated | translated_cased | ...: the names it reads
  # '' = a view of its own (weighted as the average name view), or the view it replaces
  c.align.finetune.replace_view = ""
  return c
