"""review.html: one self-contained page (no server, no network) for reviewing an alignment.

Counts, the confidence histogram, the reliability diagram and the precision-coverage curve
(when gold links exist), and a table of the least confident decisions: both names, the
source's top 3 candidates with their scores, and the aligned neighbour pairs that support
the decoded pair, with a search box and sortable columns (inline SVG and a few lines of JS).
"""

from __future__ import annotations

import html
import json

import numpy as np

from selfmea_jax import files
from selfmea_jax.data.kg import AlignmentTask
from selfmea_jax.matching.decoding import Decoded
from selfmea_jax.matching.metrics import coverage_curve, reliability

_BINS = 20
_WIDTH, _HEIGHT, _PAD = 420, 230, 44


def top_candidates(decoded: Decoded, row: int, k: int = 3) -> list[tuple[int, float]]:
  """[(column, cosine)] of the row's k best candidates under the decoder's scores."""
  graph = decoded.graph
  start, stop = np.searchsorted(graph.rows, [row, row + 1])
  order = start + np.argsort(-decoded.scores[start:stop], kind="stable")[:k]
  return [(int(graph.cols[o]), float(decoded.cosine[o])) for o in order]


def supporting_neighbours(
  row: int, col: int, assignment: np.ndarray, match: np.ndarray, adjacencies
) -> list[tuple[int, int]]:
  """[(i', j')]: neighbours i' of `row` decided `match` with a partner j' that neighbours `col`."""
  adjacency1, adjacency2 = adjacencies
  neighbours2 = set(adjacency2.indices[adjacency2.indptr[col] : adjacency2.indptr[col + 1]].tolist())
  out = []
  for i in adjacency1.indices[adjacency1.indptr[row] : adjacency1.indptr[row + 1]].tolist():
    if match[i] and assignment[i] in neighbours2:
      out.append((i, int(assignment[i])))
  return out


def least_confident(
  task: AlignmentTask,
  decoded: Decoded,
  confidence: np.ndarray,
  match: np.ndarray,
  adjacencies,
  limit: int = 1000,
) -> list[dict]:
  """The `limit` least confident rows with a decoded partner, each as a dict."""
  matched = np.flatnonzero(decoded.assignment >= 0)
  order = matched[np.argsort(confidence[matched], kind="stable")][:limit]
  names1, names2 = task.kg1.names, task.kg2.names
  rows = []
  for i in order.tolist():
    j = int(decoded.assignment[i])
    rows.append(
      {
        "kg1": names1[i],
        "kg2": names2[j],
        "confidence": round(float(confidence[i]), 4),
        "decision": "match" if match[i] else "no_match",
        "candidates": [[names2[c], round(s, 4)] for c, s in top_candidates(decoded, i)],
        "support": [
          [names1[a], names2[b]]
          for a, b in supporting_neighbours(i, j, decoded.assignment, match, adjacencies)[:5]
        ],
      }
    )
  return rows


def _axes(x_label: str, y_label: str, y_top: str = "1") -> str:
  """Both axes with ticks at 0, 0.5 and 1 of the unit square (y's top tick labelled y_top)."""
  w, h, p = _WIDTH, _HEIGHT, _PAD
  ticks = []
  for t in (0.0, 0.5, 1.0):
    x, _ = _xy(t, 0.0)
    _, y = _xy(0.0, t)
    ticks.append(f'<text x="{x:.1f}" y="{h - p + 13}" text-anchor="middle">{t:g}</text>')
    label = y_top if t == 1.0 else ("" if t == 0.5 and y_top != "1" else f"{t:g}")
    ticks.append(f'<text x="{p - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
  return (
    f'<line x1="{p}" y1="{h - p}" x2="{w - 8}" y2="{h - p}" stroke="#333"/>'
    f'<line x1="{p}" y1="8" x2="{p}" y2="{h - p}" stroke="#333"/>'
    + "".join(ticks)
    + f'<text x="{w / 2}" y="{h - 4}" text-anchor="middle">{html.escape(x_label)}</text>'
    f'<text x="10" y="{h / 2}" transform="rotate(-90 10 {h / 2})" text-anchor="middle">'
    f"{html.escape(y_label)}</text>"
  )


def _xy(x: float, y: float) -> tuple[float, float]:
  """Unit square -> plot coordinates."""
  return _PAD + x * (_WIDTH - _PAD - 8), _HEIGHT - _PAD - y * (_HEIGHT - _PAD - 8)


def svg_histogram(values: np.ndarray, title: str) -> str:
  counts, _ = np.histogram(values, bins=_BINS, range=(0.0, 1.0))
  top = max(int(counts.max()), 1) if len(counts) else 1
  bars = []
  for b, count in enumerate(counts.tolist()):
    x0, y0 = _xy(b / _BINS, count / top)
    x1, y1 = _xy((b + 1) / _BINS, 0.0)
    bars.append(
      f'<rect class="bar" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0 - 1:.1f}" '
      f'height="{y1 - y0:.1f}"><title>{count}</title></rect>'
    )
  return _svg(title, _axes("confidence", "decisions", str(top)) + "".join(bars))


def svg_curve(
  points: list[tuple[float, float]], title: str, x_label: str, y_label: str, diagonal: bool = False
) -> str:
  path = " ".join("{:.1f},{:.1f}".format(*_xy(x, y)) for x, y in points)
  body = _axes(x_label, y_label) + f'<polyline class="curve" fill="none" points="{path}"/>'
  if diagonal:
    (x0, y0), (x1, y1) = _xy(0, 0), _xy(1, 1)
    body += f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4"/>'
  dots = "".join('<circle cx="{:.1f}" cy="{:.1f}" r="2.5"/>'.format(*_xy(x, y)) for x, y in points)
  return _svg(title, body + dots)


def _svg(title: str, body: str) -> str:
  return (
    f'<figure><svg width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}">'
    f"{body}</svg><figcaption>{html.escape(title)}</figcaption></figure>"
  )


_SCRIPT = """
const rows = JSON.parse(document.getElementById('rows').textContent);
const body = document.querySelector('#review tbody');
let key = 'confidence', ascending = true;
function cell(text) { const td = document.createElement('td'); td.textContent = text; return td; }
function draw() {
  const q = document.getElementById('search').value.toLowerCase();
  const shown = rows.filter(r => !q || JSON.stringify(r).toLowerCase().includes(q));
  shown.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (ascending ? 1 : -1));
  body.replaceChildren(...shown.map(r => {
    const tr = document.createElement('tr');
    tr.className = r.decision;
    tr.append(cell(r.kg1), cell(r.kg2), cell(r.confidence.toFixed(3)), cell(r.decision),
      cell(r.candidates.map(c => c[0] + ' (' + c[1].toFixed(3) + ')').join(' | ')),
      cell(r.support.map(p => p[0] + ' = ' + p[1]).join('; ')));
    return tr;
  }));
  document.getElementById('shown').textContent = shown.length;
}
document.getElementById('search').addEventListener('input', draw);
document.querySelectorAll('#review th[data-key]').forEach(th => th.addEventListener('click', () => {
  ascending = key === th.dataset.key ? !ascending : true; key = th.dataset.key; draw();
}));
draw();
"""

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
figure { display: inline-block; margin: 0 1.5em 1em 0; } svg text { font-size: 11px; }
.bar { fill: #4c78a8; } .curve { stroke: #e45756; stroke-width: 2; } circle { fill: #e45756; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
th[data-key] { cursor: pointer; background: #f3f3f3; } tr.no_match { background: #fff4f4; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
"""


def review_html(
  task: AlignmentTask,
  decoded: Decoded,
  confidence: np.ndarray,
  match: np.ndarray,
  adjacencies,
  links: np.ndarray | None = None,
  limit: int = 1000,
) -> str:
  """The page as a string. links [q, 2]: gold pairs for the curves (None or empty: none)."""
  assignment = decoded.assignment
  matched = assignment >= 0
  counts = {
    "KG1 entities": task.kg1.num_entities,
    "KG2 entities": task.kg2.num_entities,
    "decoded pairs": int(matched.sum()),
    "decided match": int((matched & match).sum()),
    "decided no_match (a partner was decoded)": int((matched & ~match).sum()),
    "KG1 entities without a decoded partner": int((~matched).sum()),
  }
  figures = [svg_histogram(confidence[matched], "confidence of the decoded pairs")]
  if links is not None and len(links):
    correct = assignment[links[:, 0]] == links[:, 1]
    known = confidence[links[:, 0]]
    counts["gold links (evaluated)"] = len(links)
    counts["decoded accuracy on them"] = f"{correct.mean():.3f}"
    figures.append(
      svg_curve(
        [(c, a) for c, a, _ in reliability(known, correct)],
        "reliability on the gold links",
        "confidence",
        "accuracy",
        True,
      )
    )
    figures.append(
      svg_curve(
        coverage_curve(known, correct, np.linspace(0.02, 1.0, 50)),
        "precision of the most confident share",
        "coverage",
        "precision",
      )
    )
  table_rows = least_confident(task, decoded, confidence, match, adjacencies, limit)
  payload = json.dumps(table_rows, ensure_ascii=False).replace("</", "<\\/")
  listing = "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in counts.items())
  headers = [
    ("kg1", "KG1 entity"),
    ("kg2", "decoded KG2 partner"),
    ("confidence", "confidence"),
    ("decision", "decision"),
  ]
  head = "".join(f'<th data-key="{k}">{html.escape(t)}</th>' for k, t in headers)
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    f"<title>Alignment review: {html.escape(task.name)}</title><style>{_STYLE}</style></head><body>"
    f'<h1>Alignment review: {html.escape(task.name)}</h1><dl id="counts">{listing}</dl>'
    f'<section id="figures">{"".join(figures)}</section>'
    f"<h2>The {len(table_rows)} least confident decisions</h2>"
    '<p><input id="search" type="search" placeholder="search names" size="40"> '
    '<span id="shown"></span> shown; click a column title to sort.</p>'
    f'<table id="review"><thead><tr>{head}<th>top 3 candidates (score)</th>'
    "<th>aligned neighbours that support the pair</th></tr></thead><tbody></tbody></table>"
    f'<script type="application/json" id="rows">{payload}</script><script>{_SCRIPT}</script>'
    "</body></html>\n"
  )


def write_review(path: str, *args, **kwargs) -> str:
  """Writes review_html(*args, **kwargs) to path atomically; returns path."""
  return files.write_text(path, review_html(*args, **kwargs))
