"""Complicated searched cells written in the block space (Table 2, Fig. 6b).

The paper's point in Table 2 is that cells found by earlier NAS (NASNet-A,
DARTS, ...) are fragmented, multi-branch graphs that run slower than their
FLOPs suggest, while IRLAS's blocks stay close to the ResNet expert. To
compare latency at the same width and depth, the latency job writes one
NASNet-A-like and one DARTS-like cell as blocks of this space and stacks
them in the same network as every other row.

How each cell is translated (the block space has one input, one width and
only the ops of Sec. 3.4):

* Both cells take two inputs (the outputs of the previous two cells); a block
  has one, so both map to node 0 (the block input).
* ``sep_conv`` of NASNet and DARTS applies ReLU-depthwise-pointwise-BN
  twice; here that is two chained ``dwconv`` layers (the space's conv is the
  same pre-activation separable conv, once).
* ``nasnet_a_like``: the normal cell of NASNet-A (Zoph et al., 2018):
  ``sep5 + sep3``, ``sep5 + sep3``, ``avg3 + id``, ``avg3 + avg3``,
  ``sep3 + id``; the five sums are the cell's output (here: the block's
  sinks, concatenated and projected back to the stage width). 18 layers.
* ``darts_like``: the DARTS (second order) normal cell (Liu et al., 2019):
  node 2 = ``sep3 + sep3``, node 3 = ``sep3 + sep3``, node 4 =
  ``sep3 + skip``, node 5 = ``skip + dil_conv3(node 2)``, output concat of
  nodes 2..5. The space has no dilated conv: ``dil_conv_3x3`` (a 5x5
  receptive field) becomes ``dwconv5x5``. Node 2 feeds node 5, so it would
  not be a sink; an explicit ``concat(node 5, node 2)`` keeps it in the
  output as DARTS does. 16 layers.

These are *not* registered as experts (:mod:`irlas_jax.spaces.experts`):
experts are the human designs the MSF is fitted on, and the expert tests
build every block-space expert at ``t_max`` 8 and 12, below these cells'
18 and 16 layers. :func:`get` returns them as blocks like ``experts.get``.
"""

from __future__ import annotations

from irlas_jax.spaces.block import DEFAULT_T_MAX, Block, from_layers

_BLOCKS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "nasnet_a_like": (
        # sep5(x) + sep3(x)
        ("dwconv5x5", 0, 0), ("dwconv5x5", 1, 0), ("dwconv3x3", 0, 0),
        ("dwconv3x3", 3, 0), ("add", 4, 2),
        # sep5(x) + sep3(x)
        ("dwconv5x5", 0, 0), ("dwconv5x5", 6, 0), ("dwconv3x3", 0, 0),
        ("dwconv3x3", 8, 0), ("add", 9, 7),
        # avg3(x) + x
        ("avgpool3x3", 0, 0), ("add", 11, 0),
        # avg3(x) + avg3(x)
        ("avgpool3x3", 0, 0), ("avgpool3x3", 0, 0), ("add", 14, 13),
        # sep3(x) + x
        ("dwconv3x3", 0, 0), ("dwconv3x3", 16, 0), ("add", 17, 0),
    ),
    "darts_like": (
        # node 2 = sep3(x) + sep3(x)
        ("dwconv3x3", 0, 0), ("dwconv3x3", 1, 0), ("dwconv3x3", 0, 0),
        ("dwconv3x3", 3, 0), ("add", 4, 2),
        # node 3 = sep3(x) + sep3(x)
        ("dwconv3x3", 0, 0), ("dwconv3x3", 6, 0), ("dwconv3x3", 0, 0),
        ("dwconv3x3", 8, 0), ("add", 9, 7),
        # node 4 = sep3(x) + x
        ("dwconv3x3", 0, 0), ("dwconv3x3", 11, 0), ("add", 12, 0),
        # node 5 = x + dil_conv3(node 2), with dwconv5x5 for the dilated conv
        ("dwconv5x5", 5, 0), ("add", 14, 0),
        # node 2 stays in the output
        ("concat", 15, 5),
    ),
}


def names() -> tuple[str, ...]:
  """Names of the complicated blocks."""
  return tuple(_BLOCKS)


def layers(name: str) -> list[tuple[str, int, int]]:
  """The ``(op, pred1, pred2)`` layers of complicated block ``name``."""
  if name not in _BLOCKS:
    raise ValueError(f"unknown complicated block {name!r}; known: {', '.join(names())}")
  return list(_BLOCKS[name])


def get(name: str, t_max: int = DEFAULT_T_MAX) -> Block:
  """Complicated block ``name`` as a validated :class:`Block` padded to ``t_max``."""
  return from_layers(layers(name), t_max=t_max)
