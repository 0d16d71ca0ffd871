"""Search strategies: ``init(key, config)``, ``propose(state, key)``,
``update(state, blocks, rewards, aux)`` (see :mod:`irlas_jax.strategies.base`).

``qlearning`` is the paper's agent (Sec. 3.4); ``edge_qlearning`` the same
agent for cell spaces (one action per edge); ``evolution`` regularized
evolution (Real et al. 2019); ``random`` the baseline.
"""

from irlas_jax.strategies import edge_qlearning
from irlas_jax.strategies import evolution
from irlas_jax.strategies import darts
from irlas_jax.strategies import irl_step  # registers irl.rl_step='qlearning'
from irlas_jax.strategies import qlearning
from irlas_jax.strategies import random_search
from irlas_jax.strategies.base import Strategy
from irlas_jax.strategies.base import get
from irlas_jax.strategies.base import names
from irlas_jax.strategies.base import register
