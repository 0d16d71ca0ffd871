"""Drawings of blocks as DAGs, in the style of the paper's Fig. 1, 3 and 4.

:func:`draw` draws one block, :func:`draw_grid` several side by side (e.g.
the blocks of an ablation), :func:`layout` returns the node positions alone.
Works for any :class:`~irlas_jax.spaces.opset.OpSet`.

What is drawn:

* the input node(s) at the top ("input", or "input 0", "input 1", ... when
  the op set has several input slots);
* one rounded box per layer, labelled by its op ("dwconv 3x3",
  "max pool 3x3", "add", "concat", "identity"; the op's name where two ops
  would get the same label) and filled by op kind from a fixed palette
  indexed by ``opset.kinds``, so every op set gets distinct colours;
* an arrow from each predecessor to the layer (two for two-input ops);
* an output node at the bottom fed by every layer without a successor:
  "output (concat)" when several layers are concatenated, "output" when
  only one layer has no successor.

Layout rule (a small Sugiyama layout):

* rank: inputs have rank 0, a layer has rank 1 + the largest rank of its
  preds (the longest path from the inputs), the output node has rank
  1 + the largest rank of the layers it concatenates;
* an edge spanning several ranks is routed through waypoints, one per
  rank it crosses; the long edges leaving one node share their waypoints
  (a trunk that branches off where each target is), so a node feeding many
  later layers, as the block input often does, draws as one line;
* order within a rank: by the barycentre (mean position) of each node's
  preds in the rank above, then a few down (preds) and up (successors)
  barycentre sweeps, keeping the order with the fewest edge crossings; the
  inputs stay in slot order;
* x: each node is pulled towards the mean x of its neighbours, subject to
  boxes in a rank keeping that order and a gap (solved exactly per rank by
  isotonic regression), in alternating down and up passes; a box counts the
  box at the far end of a long edge, not its waypoint, as its neighbour, so
  a chain of layers runs straight down and a shortcut bends around it (as
  in the paper's ResNet block);
* edges are smooth curves that run vertically through the ranks they cross,
  so they never cut through a box.

Sizes are in inches: a figure grows with the number of ranks and the width
of the widest rank, so the text keeps its size and a 24-layer block stays
legible (it just makes a tall picture). When drawing into a given axes, the
drawing is scaled to fit it, text and lines included.
Drawing uses :class:`matplotlib.figure.Figure` directly (no pyplot, no
global state, no display needed).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math
import os

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from matplotlib.textpath import text_to_path
import numpy as np

from irlas_jax.spaces.block import Block, to_layers, unstack_blocks, validate
from irlas_jax.spaces.opset import OpSet, OpSpec

OUTPUT = "output"
"""Key of the output node in :func:`layout` (other nodes are node indices)."""

FORMATS = (".png", ".svg", ".pdf")
"""File extensions :func:`draw` and :func:`draw_grid` can write."""

# Geometry, in inches at scale 1.
_FONT_SIZE = 8.5  # points
_TITLE_SIZE = 10.0
_ROW = 0.72  # vertical distance between ranks
_BOX_H = 0.32
_BOX_PAD = 0.22  # horizontal room around a label
_MIN_BOX_W = 0.75
_GAP = 0.22  # horizontal gap between boxes
_WAYPOINT_W = 0.08  # width a waypoint of a long edge takes in its rank
_WAYPOINT_WEIGHT = 0.05  # a waypoint yields to boxes when they compete for room
_MARGIN = 0.15
_TITLE_H = 0.35
_GRID_GAP = 0.3  # between the cells of draw_grid
_DPI = 150

# A soft palette keyed by position in ``opset.kinds`` (black text stays
# readable on every entry). For the block space: dwconv blue, max pool
# orange, avg pool green, identity grey, add pink, concat lavender.
_PALETTE = ("#a6cee3", "#fdbf6f", "#b2df8a", "#d9d9d9", "#fb9a99", "#cab2d6",
            "#ffff99", "#8dd3c7", "#bebada", "#fccde5", "#ccebc5", "#80b1d3")
_IO_COLOR = "#ffffff"
_EDGE_COLOR = "#404040"
_LINE_COLOR = "#333333"

_KIND_LABELS = {"maxpool": "max pool", "avgpool": "avg pool", "dwconv": "dwconv",
                "sepconv": "sep conv", "dilconv": "dil conv"}


# -- labels and colours -------------------------------------------------------

def _base_label(op: OpSpec) -> str:
  label = _KIND_LABELS.get(op.kind, op.kind.replace("_", " "))
  if op.kernel:
    label += f" {op.kernel}x{op.kernel}"
  if op.dilation > 1:
    label += f" d{op.dilation}"
  return label


def op_labels(opset: OpSet) -> tuple[str, ...]:
  """Box label of each real op of ``opset`` (kind and kernel, e.g. "max pool 3x3").

  An op whose label would equal another op's is labelled by its name.
  """
  labels = [_base_label(op) for op in opset.ops]
  return tuple(label if labels.count(label) == 1 else op.name
               for label, op in zip(labels, opset.ops))


def kind_color(opset: OpSet, kind: str) -> str:
  """Fill colour of op kind ``kind`` (fixed palette indexed by ``opset.kinds``)."""
  return _PALETTE[opset.kinds.index(kind) % len(_PALETTE)]


def _text_width(text: str, size: float = _FONT_SIZE) -> float:
  """Width of ``text`` in inches at font size ``size``."""
  width, _, _ = text_to_path.get_text_width_height_descent(
      text, FontProperties(size=size), ismath=False)
  return width / 72.0


# -- layout -------------------------------------------------------------------

@dataclasses.dataclass
class _Node:
  key: object  # node index, OUTPUT, or ("via", source, rank) for a waypoint
  rank: int
  label: str = ""
  color: str = _IO_COLOR
  width: float = _WAYPOINT_W
  x: float = 0.0

  @property
  def waypoint(self) -> bool:
    return isinstance(self.key, tuple)


@dataclasses.dataclass
class _Layout:
  nodes: dict  # key -> _Node
  levels: list  # rank -> [key, ...] left to right
  routes: list  # one [source, waypoint..., target] per edge of the block
  num_ranks: int

  def extent(self) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of the drawing, margins included, in inches."""
    x0 = min(n.x - n.width / 2 for n in self.nodes.values()) - _MARGIN
    x1 = max(n.x + n.width / 2 for n in self.nodes.values()) + _MARGIN
    y0 = -(self.num_ranks - 1) * _ROW - _BOX_H / 2 - _MARGIN
    y1 = _BOX_H / 2 + _MARGIN
    return x0, x1, y0, y1


def _check_single(block: Block, what: str = "draw") -> None:
  if not isinstance(block, Block):
    raise ValueError(f"{what} takes a Block, got {type(block).__name__}")
  if block.batch_shape:
    raise ValueError(f"{what} takes one block, got a batch of shape "
                     f"{block.batch_shape}; index it first (blocks[i])")


def _isotonic(target: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """Weighted least squares fit of ``target`` by a nondecreasing sequence."""
  blocks = []  # [mean, weight, count]
  for t, w in zip(target, weight):
    blocks.append([t, w, 1])
    while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
      m2, w2, c2 = blocks.pop()
      m1, w1, c1 = blocks.pop()
      blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
  return np.concatenate([np.full(c, m) for m, _, c in blocks])


def _place(desired: np.ndarray, widths: np.ndarray, weight: np.ndarray) -> np.ndarray:
  """x closest to ``desired`` (in order, weighted) with boxes ``_GAP`` apart."""
  sep = (widths[:-1] + widths[1:]) / 2 + _GAP
  offset = np.concatenate([[0.0], np.cumsum(sep)])
  return _isotonic(desired - offset, weight) + offset


def _crossings(levels, up_edges, pos) -> int:
  total = 0
  for r in range(1, len(levels)):
    edges = [(pos[u], pos[v]) for v in levels[r] for u in up_edges[v]]
    for i, (a1, b1) in enumerate(edges):
      for a2, b2 in edges[i + 1:]:
        total += (a1 - a2) * (b1 - b2) < 0
  return total


def _build(block: Block) -> _Layout:
  _check_single(block)
  validate(block)
  opset = block.opset
  ni = opset.num_inputs
  labels = op_labels(opset)
  layers = to_layers(block)

  nodes: dict = {}
  for i in range(ni):
    name = "input" if ni == 1 else f"input {i}"
    nodes[i] = _Node(i, 0, name, _IO_COLOR, _text_width(name) + _BOX_PAD)
  preds: dict = {}
  for t, (name, p1, p2) in enumerate(layers, start=1):
    v = opset.node(t)
    op_id = opset.op_id(name)
    spec = opset.ops[op_id]
    preds[v] = [p1, p2] if spec.arity == 2 else [p1]
    rank = 1 + max(nodes[p].rank for p in preds[v])
    nodes[v] = _Node(v, rank, labels[op_id], kind_color(opset, spec.kind))
  op_w = max(_MIN_BOX_W, max(_text_width(nodes[v].label) for v in preds) + _BOX_PAD)
  for v in preds:
    nodes[v].width = op_w
  used = {p for ps in preds.values() for p in ps}
  sinks = [v for v in preds if v not in used]
  out_name = "output (concat)" if len(sinks) > 1 else "output"
  nodes[OUTPUT] = _Node(OUTPUT, 1 + max(nodes[v].rank for v in sinks), out_name,
                        _IO_COLOR, _text_width(out_name) + _BOX_PAD)
  preds[OUTPUT] = sinks
  num_ranks = nodes[OUTPUT].rank + 1

  # Waypoints: the long edges leaving one source share one trunk.
  targets: dict = {}
  for v, ps in preds.items():
    for p in ps:
      targets.setdefault(p, []).append(v)
  for s, ts in targets.items():
    for r in range(nodes[s].rank + 1, max(nodes[t].rank for t in ts)):
      nodes[("via", s, r)] = _Node(("via", s, r), r)
  routes = []
  for v, ps in preds.items():
    for p in ps:
      routes.append([p] + [("via", p, r) for r in range(nodes[p].rank + 1, nodes[v].rank)]
                    + [v])
  up_edges = {k: [] for k in nodes}
  down_edges = {k: [] for k in nodes}
  for route in routes:
    for u, v in zip(route[:-1], route[1:]):
      if u not in up_edges[v]:
        up_edges[v].append(u)
        down_edges[u].append(v)

  def tiebreak(key):
    if isinstance(key, tuple):
      return (key[1], 1)
    return (math.inf, 0) if key == OUTPUT else (key, 0)

  # Order within ranks: barycentre of preds, then refining sweeps.
  levels = [[] for _ in range(num_ranks)]
  for key in nodes:
    levels[nodes[key].rank].append(key)
  levels[0].sort(key=tiebreak)
  pos = {k: i for i, k in enumerate(levels[0])}

  def sort_level(r, neighbours, initial=False):
    def bary(k):
      ns = neighbours[k]
      return (sum(pos[n] for n in ns) / len(ns)) if ns else pos.get(k, 0)
    secondary = tiebreak if initial else (lambda k: pos[k])
    levels[r].sort(key=lambda k: (bary(k), secondary(k)))
    pos.update({k: i for i, k in enumerate(levels[r])})

  for r in range(1, num_ranks):
    sort_level(r, up_edges, initial=True)
  best, best_levels = _crossings(levels, up_edges, pos), [list(l) for l in levels]
  for _ in range(4):
    if best == 0:
      break
    for r in range(num_ranks - 2, 0, -1):
      sort_level(r, down_edges)
    for r in range(1, num_ranks):
      sort_level(r, up_edges)
    count = _crossings(levels, up_edges, pos)
    if count < best:
      best, best_levels = count, [list(l) for l in levels]
  levels = best_levels

  # x: pull towards neighbours, boxes may not overlap. A waypoint is pulled
  # by its neighbours (long edges run straight); a box by the boxes at the
  # far ends of its edges (the source of a long edge coming in, the mean of
  # the targets of one going out), so a chain of layers runs straight down
  # with a shortcut bending around it, and a box fed by long edges sits near
  # their sources.
  def far_x(key, neighbour):
    n = nodes[neighbour]
    if not n.waypoint:
      return n.x
    _, s, r = neighbour
    if n.rank < nodes[key].rank:
      return nodes[s].x
    return float(np.mean([nodes[t].x for t in targets[s] if nodes[t].rank > r]))

  def pull(key, neighbours):
    if not neighbours:
      return math.nan
    if nodes[key].waypoint:
      return float(np.mean([nodes[n].x for n in neighbours]))
    return float(np.mean([far_x(key, n) for n in neighbours]))

  def place(r, neighbours):
    keys = levels[r]
    current = np.array([nodes[k].x for k in keys])
    desired = np.array([pull(k, neighbours[k]) for k in keys])
    desired = np.where(np.isnan(desired), current, desired)
    widths = np.array([nodes[k].width for k in keys])
    weight = np.array([_WAYPOINT_WEIGHT if nodes[k].waypoint else 1.0 for k in keys])
    for k, x in zip(keys, _place(desired, widths, weight)):
      nodes[k].x = float(x)

  for r in range(num_ranks):
    place(r, {k: [] for k in levels[r]})  # packed, centred on 0
  for r in range(1, num_ranks):
    place(r, up_edges)
  both = {k: up_edges[k] + down_edges[k] for k in nodes}
  for _ in range(4):
    for r in range(num_ranks - 2, -1, -1):
      place(r, down_edges)
    for r in range(1, num_ranks):
      place(r, up_edges)
    for r in range(num_ranks):
      place(r, both)
  lay = _Layout(nodes, levels, routes, num_ranks)
  x0, x1, _, _ = lay.extent()
  shift = (x0 + x1) / 2
  for n in nodes.values():
    n.x -= shift
  return lay


def layout(block: Block) -> dict:
  """Positions of a block's nodes: ``{node: (x, rank)}``.

  Keys are the node indices of the inputs and layers (``0 .. num_inputs - 1``
  and ``opset.node(t)``) and :data:`OUTPUT` for the output node. ``rank`` is
  the longest path from the inputs (inputs 0, output last); ``x`` is the
  horizontal centre of the node's box in inches, the drawing centred on 0
  (left to right within a rank). Raises ``ValueError`` for a batch of blocks
  or a malformed block.
  """
  lay = _build(block)
  return {k: (n.x, n.rank) for k, n in lay.nodes.items() if not n.waypoint}


# -- drawing ------------------------------------------------------------------

def _check_path(path) -> str:
  ext = os.path.splitext(os.fspath(path))[1].lower()
  if ext not in FORMATS:
    raise ValueError(f"cannot write {os.fspath(path)!r}: unsupported extension "
                     f"{ext or '(none)'}; use one of {', '.join(FORMATS)}")
  return ext[1:]


def _route_path(lay: _Layout, route: list, entry_x: float) -> Path:
  """A smooth path along ``route``, vertical wherever it crosses a rank.

  Between ranks the path is a cubic curve leaving and arriving vertically;
  through the rank of a waypoint it is a straight vertical line as tall as
  a box, so curves bend only in the gaps between ranks and never cut
  through a box.
  """
  first = lay.nodes[route[0]]
  verts, codes = [(first.x, -first.rank * _ROW - _BOX_H / 2)], [Path.MOVETO]
  for i, key in enumerate(route[1:], start=1):
    n = lay.nodes[key]
    y = -n.rank * _ROW
    xa, ya = verts[-1]
    xb = entry_x if i == len(route) - 1 else n.x
    yb = y + _BOX_H / 2
    k = (ya - yb) * 0.5
    verts += [(xa, ya - k), (xb, yb + k), (xb, yb)]
    codes += [Path.CURVE4] * 3
    if i < len(route) - 1:
      verts.append((xb, y - _BOX_H / 2))
      codes.append(Path.LINETO)
  return Path(verts, codes)


def _render(ax, lay: _Layout, title, scale: float) -> None:
  ax.set_axis_off()
  lw = 0.9 * scale
  # Arrows: where several enter one box, spread them over its top edge.
  incoming: dict = {}
  for route in lay.routes:
    incoming.setdefault(route[-1], []).append(route)
  for target, routes in incoming.items():
    n = lay.nodes[target]
    routes = sorted(routes, key=lambda r: (lay.nodes[r[-2]].x, lay.nodes[r[0]].x))
    step = min(0.18, n.width * 0.8 / max(len(routes), 1))
    for i, route in enumerate(routes):
      entry = n.x + (i - (len(routes) - 1) / 2) * step
      ax.add_patch(FancyArrowPatch(
          path=_route_path(lay, route, entry), arrowstyle="-|>",
          mutation_scale=8 * scale, color=_EDGE_COLOR, linewidth=lw,
          shrinkA=0, shrinkB=0, zorder=1))
  for n in lay.nodes.values():
    if n.waypoint:
      continue
    y = -n.rank * _ROW
    io = n.color == _IO_COLOR
    ax.add_patch(FancyBboxPatch(
        (n.x - n.width / 2, y - _BOX_H / 2), n.width, _BOX_H,
        boxstyle=f"round,pad=0,rounding_size={0.09}", facecolor=n.color,
        edgecolor=_LINE_COLOR, linewidth=lw * (1.4 if io else 1.0), zorder=2))
    ax.text(n.x, y, n.label, ha="center", va="center_baseline",
            fontsize=_FONT_SIZE * scale, zorder=3,
            fontweight="bold" if io else "normal")
  if title:
    ax.set_title(title, fontsize=_TITLE_SIZE * scale, pad=4 * scale)


def _draw_in_ax(ax, lay: _Layout, title) -> None:
  """Draws into a given axes, scaling text to the room it has."""
  x0, x1, y0, y1 = lay.extent()
  fig = ax.get_figure()
  box = ax.get_position(original=True)
  fw, fh = fig.get_size_inches()
  scale = min(box.width * fw / (x1 - x0), box.height * fh / (y1 - y0))
  ax.set_xlim(x0, x1)
  ax.set_ylim(y0, y1)
  ax.set_aspect("equal", adjustable="box")
  _render(ax, lay, title, max(scale, 0.05))


def _save(fig: Figure, path, fmt: str, dpi: int) -> None:
  fig.savefig(path, format=fmt, dpi=dpi, facecolor="white")


def draw(block: Block, path=None, title: str | None = None, ax=None, *,
         dpi: int = _DPI):
  """Draws ``block`` as a DAG (see the module docstring) and saves it.

  Args:
    block: one block (index a batch first: ``blocks[i]``).
    path: file to write, ``.png``, ``.svg`` or ``.pdf``. May be None when
      ``ax`` is given.
    title: optional title above the drawing.
    ax: optional matplotlib axes to draw into (e.g. one cell of a grid);
      the drawing is scaled to fit it (aspect kept), text and lines with it. Then the
      figure is saved only if ``path`` is given (the whole figure of ``ax``).
    dpi: resolution of PNG output.

  Returns:
    ``path`` if a file was written, else None (``ax`` given, no ``path``).

  Raises:
    ValueError: for a batch of blocks, a malformed block, an unsupported
      file extension, or neither ``path`` nor ``ax``.
  """
  _check_single(block)
  if path is None and ax is None:
    raise ValueError("draw needs a path to write or an ax to draw into")
  fmt = _check_path(path) if path is not None else None
  lay = _build(block)
  if ax is not None:
    _draw_in_ax(ax, lay, title)
    if path is None:
      return None
    _save(ax.get_figure(), path, fmt, dpi)
    return path
  x0, x1, y0, y1 = lay.extent()
  title_h = _TITLE_H if title else 0.0
  width = max(x1 - x0, _text_width(title, _TITLE_SIZE) + 2 * _MARGIN if title else 0.0)
  height = y1 - y0
  fig = Figure(figsize=(width, height + title_h))
  ax = fig.add_axes((0, 0, 1, height / (height + title_h)))
  _render(ax, lay, title, 1.0)
  cx = (x0 + x1) / 2
  ax.set_xlim(cx - width / 2, cx + width / 2)
  ax.set_ylim(y0, y1)
  _save(fig, path, fmt, dpi)
  return path


def draw_grid(blocks, path, titles: Sequence[str] | None = None, ncols: int = 4, *,
              dpi: int = _DPI):
  """Draws several blocks side by side in one figure and saves it.

  All blocks are drawn at the same scale (that of :func:`draw`): columns are
  as wide as the widest drawing, rows as tall as their tallest one; each
  drawing is top-aligned and centred in its cell.

  Args:
    blocks: a sequence of blocks, or a batch of blocks with one leading axis.
    path: file to write (``.png``, ``.svg`` or ``.pdf``).
    titles: optional title per block.
    ncols: number of columns (rows follow).
    dpi: resolution of PNG output.

  Returns:
    ``path``.

  Raises:
    ValueError: for no blocks, a batched element, a titles list of the wrong
      length, ``ncols < 1`` or an unsupported file extension.
  """
  fmt = _check_path(path)
  if isinstance(blocks, Block):
    if len(blocks.batch_shape) != 1:
      raise ValueError(f"draw_grid takes a list of blocks or a batch with one axis, "
                       f"got batch shape {blocks.batch_shape}")
    blocks = unstack_blocks(blocks)
  blocks = list(blocks)
  if not blocks:
    raise ValueError("draw_grid needs at least one block")
  if ncols < 1:
    raise ValueError(f"ncols must be >= 1, got {ncols}")
  if titles is not None and len(titles) != len(blocks):
    raise ValueError(f"got {len(titles)} titles for {len(blocks)} blocks")
  for i, b in enumerate(blocks):
    try:
      _check_single(b, "draw_grid")
    except ValueError as e:
      raise ValueError(f"block {i}: {e}") from None
  lays = [_build(b) for b in blocks]
  extents = [lay.extent() for lay in lays]
  has_title = titles is not None and any(titles)
  title_h = _TITLE_H if has_title else 0.0
  cell_w = max(x1 - x0 for x0, x1, _, _ in extents)
  if has_title:
    cell_w = max(cell_w, max(_text_width(t or "", _TITLE_SIZE) for t in titles)
                 + 2 * _MARGIN)
  ncols = min(ncols, len(blocks))
  nrows = -(-len(blocks) // ncols)
  row_h = [max(y1 - y0 for _, _, y0, y1 in extents[r * ncols:(r + 1) * ncols])
           + title_h for r in range(nrows)]
  row_top = np.concatenate([[0.0], np.cumsum(row_h)]) + _GRID_GAP * np.arange(nrows + 1)
  fig_w = ncols * cell_w + (ncols - 1) * _GRID_GAP
  fig_h = row_top[-1] - _GRID_GAP
  fig = Figure(figsize=(fig_w, fig_h))
  for i, (lay, (x0, x1, y0, y1)) in enumerate(zip(lays, extents)):
    row, col = divmod(i, ncols)
    w, h = x1 - x0, y1 - y0
    left = col * (cell_w + _GRID_GAP) + (cell_w - w) / 2
    top = row_top[row] + title_h
    ax = fig.add_axes((left / fig_w, 1 - (top + h) / fig_h, w / fig_w, h / fig_h))
    _draw_in_ax(ax, lay, titles[i] if titles is not None else None)
  _save(fig, path, fmt, dpi)
  return path
