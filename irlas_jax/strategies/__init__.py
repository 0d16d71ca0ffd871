"""Search strategies: ``init(key, config)``, ``propose(state, key)``,
``update(state, blocks, rewards, aux)`` (see :mod:`irlas_jax.strategies.base`).

``qlearning`` is the paper's agent (Sec. 3.4); ``random`` the baseline.
"""

from irlas_jax.strategies import irl_step  # registers irl.rl_step='qlearning'
from irlas_jax.strategies import qlearning
from irlas_jax.strategies import random_search
from irlas_jax.strategies.base import Strategy
from irlas_jax.strategies.base import get
from irlas_jax.strategies.base import names
from irlas_jax.strategies.base import register
