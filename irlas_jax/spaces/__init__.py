"""Search spaces: op sets, the block (layer sequence), experts, graphs, drawings.

Modules: ``opset`` (OpSet, the block space's ops), ``layers`` (the table of
valid layers by index), ``block`` (the Block pytree, from/to layers,
validation, uniform sampling), ``experts``, ``graph`` (jraph conversion and
canonical hashing), ``render`` (drawings).
"""

from irlas_jax.spaces import complex_blocks
from irlas_jax.spaces import darts
from irlas_jax.spaces import experts
from irlas_jax.spaces import nb201
from irlas_jax.spaces import render
from irlas_jax.spaces.block import DEFAULT_T_MAX
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.block import is_valid
from irlas_jax.spaces.block import sample_uniform
from irlas_jax.spaces.block import stack_blocks
from irlas_jax.spaces.block import to_layers
from irlas_jax.spaces.block import unstack_blocks
from irlas_jax.spaces.block import validate
from irlas_jax.spaces.graph import canonical_hash
from irlas_jax.spaces.graph import from_graphs_tuple
from irlas_jax.spaces.graph import to_graphs_tuple
from irlas_jax.spaces.layers import LayerCodes
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import BLOCK_OPS
from irlas_jax.spaces.opset import OpSet
from irlas_jax.spaces.opset import OpSpec
from irlas_jax.spaces.opset import get_opset
from irlas_jax.spaces.opset import register_opset
from irlas_jax.spaces.render import draw
from irlas_jax.spaces.render import draw_grid
