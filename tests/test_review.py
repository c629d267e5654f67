"""review.html: parsed back, its numbers are the alignment's."""

from __future__ import annotations

import html.parser
import json

import numpy as np

from selfmea_jax.data.kg import AlignmentTask, KnowledgeGraph
from selfmea_jax.matching import consistency, decoding, review
from selfmea_jax.matching.candidates import candidate_graph


class Page(html.parser.HTMLParser):
  """Collects the counts list, the figures' captions, the table's JSON rows, and any external
  reference (src / href) a self-contained page must not have."""

  def __init__(self):
    super().__init__()
    self.tags, self.external, self.captions, self.counts, self.rows = [], [], [], {}, None
    self._in, self._term = None, None

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    self.tags.append(tag)
    self.external += [v for k, v in attrs.items() if k in ("src", "href")]
    self._in = attrs.get("id") if tag == "script" else tag

  def handle_data(self, data):
    if self._in == "rows":
      self.rows = json.loads(data)
    elif self._in == "figcaption":
      self.captions.append(data)
    elif self._in == "dt":
      self._term = data
    elif self._in == "dd":
      self.counts[self._term] = data

  def handle_endtag(self, tag):
    self._in = None


def _kg(prefix: str, n: int, triples) -> KnowledgeGraph:
  uris = [f"{prefix}{i}" for i in range(n)]
  return KnowledgeGraph(
    names=[f"{prefix} name {i}" for i in range(n)],
    uris=uris,
    triples=np.array(triples, np.int32),
    relation_names=["next"],
    source_rows=np.arange(n),
    source_ids=np.arange(n),
  )


def _unit(x: np.ndarray) -> np.ndarray:
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_the_review_page_is_self_contained_and_lists_the_least_confident_decisions():
  rng = np.random.default_rng(0)
  n = 40
  chain = [[i, 0, i + 1] for i in range(n - 1)]  # a path: each entity's neighbours are i - 1, i + 1
  task = AlignmentTask(
    "toy", _kg("a", n, chain), _kg("b", n, chain), np.zeros((0, 2), np.int32), np.stack([np.arange(n)] * 2, 1)
  )
  emb = rng.normal(size=(n, 8))
  noisy = emb + rng.normal(scale=0.8, size=emb.shape)
  decoder = decoding.Decoder(scoring="sinkhorn", assignment="hungarian", sinkhorn_temperature=0.05)
  decoded = decoding.decode_graph(candidate_graph(_unit(emb), _unit(noisy), 10), decoder)
  confidence = np.linspace(0.05, 0.95, n)[rng.permutation(n)]
  match = confidence >= 0.5
  adjacencies = consistency.adjacencies(task)
  page = Page()
  page.feed(review.review_html(task, decoded, confidence, match, adjacencies, task.test_links, limit=10))
  assert not page.external  # no server, no network
  assert page.counts["decoded pairs"] == str(n) and page.counts["decided match"] == str(int(match.sum()))
  assert page.captions == [
    "confidence of the decoded pairs",
    "reliability on the gold links",
    "precision of the most confident share",
  ]
  assert len(page.rows) == 10
  assert [r["confidence"] for r in page.rows] == sorted(round(c, 4) for c in confidence)[:10]
  for row in page.rows:
    i = int(row["kg1"].split()[-1])
    j = int(decoded.assignment[i])
    assert row["kg2"] == f"b name {j}" and row["decision"] == ("match" if match[i] else "no_match")
    assert 1 <= len(row["candidates"]) <= 3
    for a_name, b_name in row["support"]:  # an aligned neighbour pair around (i, j)
      a, b = int(a_name.split()[-1]), int(b_name.split()[-1])
      assert abs(a - i) == 1 and abs(b - j) == 1 and decoded.assignment[a] == b and match[a]
    expected = sum(
      1 for a in (i - 1, i + 1) if 0 <= a < n and match[a] and abs(int(decoded.assignment[a]) - j) == 1
    )
    assert len(row["support"]) == expected
  plain = Page()  # without gold: the histogram only
  plain.feed(review.review_html(task, decoded, confidence, match, adjacencies, None, limit=5))
  assert plain.captions == ["confidence of the decoded pairs"] and len(plain.rows) == 5
