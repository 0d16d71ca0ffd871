"""Flax networks of the block space (Sec. 3.4, 4.1-4.2): ops, blocks, networks.

Modules: ``ops`` (the ops of a block at a fixed width, and the decisions the
paper leaves open), ``blocks`` (:class:`StaticBlock` compiled from one block,
:class:`DynamicBlock` that interprets any block given as arrays, and the
parameter mapping between them), ``network`` (stem, stages of blocks,
transitions, classifier; :class:`NetworkConfig` and its presets).

The contract: for the same parameters, the static and the dynamic module
compute the same function and update the same BatchNorm statistics, with
``static_variables_from_dynamic(block, dynamic_variables)`` mapping the
variables (of a block, a network, or any module holding dynamic blocks).
"""

from irlas_jax.nn import blocks
from irlas_jax.nn import darts
from irlas_jax.nn import darts_eval
from irlas_jax.nn import network
from irlas_jax.nn import ops
from irlas_jax.nn.blocks import DynamicBlock
from irlas_jax.nn.blocks import StaticBlock
from irlas_jax.nn.blocks import block_layers
from irlas_jax.nn.blocks import dynamic_variables_from_static
from irlas_jax.nn.blocks import sink_mask
from irlas_jax.nn.blocks import sinks_of_layers
from irlas_jax.nn.blocks import static_variables_from_dynamic
from irlas_jax.nn.darts import DartsSearchNetwork
from irlas_jax.nn.darts_eval import DartsEvalNetwork
from irlas_jax.nn.network import DOWNSAMPLE_KINDS
from irlas_jax.nn.network import PRESETS
from irlas_jax.nn.network import DynamicNetwork
from irlas_jax.nn.network import NetworkConfig
from irlas_jax.nn.network import StaticNetwork
from irlas_jax.nn.network import cifar10
from irlas_jax.nn.network import cifar10_proxy
from irlas_jax.nn.network import count_params
from irlas_jax.nn.network import imagenet_mobile
from irlas_jax.nn.network import tiny
from irlas_jax.nn.ops import DEPTHWISE_IMPLS
from irlas_jax.nn.ops import ConcatProjection
from irlas_jax.nn.ops import DepthwiseConv
from irlas_jax.nn.ops import SeparableConv
from irlas_jax.nn.ops import SinkProjection
from irlas_jax.nn.ops import avg_pool
from irlas_jax.nn.ops import depthwise_conv
from irlas_jax.nn.ops import max_pool
