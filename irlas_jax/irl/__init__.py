"""Inverse RL: the mirror stimuli function and max-margin IRL (Alg. 1).

Modules: ``mirror_stimuli`` (F = w . mu, Eq. 3-4, save/load), ``max_margin``
(the QP of Eq. 8 with a certified gap), ``planner`` (the exact DP RL step),
``fit`` (Alg. 1), ``analysis`` (Sec. 4.3 diagnostics).
"""

from irlas_jax.irl.analysis import optimum
from irlas_jax.irl.analysis import rank_among_random
from irlas_jax.irl.analysis import relative_changes
from irlas_jax.irl.fit import RL_STEPS
from irlas_jax.irl.fit import default_config
from irlas_jax.irl.fit import dynamic_programming_step
from irlas_jax.irl.fit import fit
from irlas_jax.irl.fit import register_rl_step
from irlas_jax.irl.max_margin import MaxMarginResult
from irlas_jax.irl.max_margin import max_margin
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.irl.planner import Plan
from irlas_jax.irl.planner import layer_feature_table
from irlas_jax.irl.planner import plan
