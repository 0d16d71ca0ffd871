"""Search spaces: op sets, the block (layer sequence), experts, graphs, drawings."""

from irlas_jax.spaces.block import DEFAULT_T_MAX
from irlas_jax.spaces.block import Block
from irlas_jax.spaces.block import from_layers
from irlas_jax.spaces.block import is_valid
from irlas_jax.spaces.block import sample_uniform
from irlas_jax.spaces.block import stack_blocks
from irlas_jax.spaces.block import to_layers
from irlas_jax.spaces.block import unstack_blocks
from irlas_jax.spaces.block import validate
from irlas_jax.spaces.layers import LayerCodes
from irlas_jax.spaces.layers import layer_codes
from irlas_jax.spaces.opset import BLOCK_OPS
from irlas_jax.spaces.opset import OpSet
from irlas_jax.spaces.opset import OpSpec
