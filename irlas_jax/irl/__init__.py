"""Inverse RL: the mirror stimuli function and max-margin IRL (Alg. 1).

Modules: ``mirror_stimuli`` (F = w . mu, Eq. 3-4, save/load),
``max_margin_solver`` (the QP of Eq. 8 with a certified gap), ``planner``
(the exact DP RL step), ``inverse_rl`` (Alg. 1), ``analysis`` (Sec. 4.3
diagnostics). The package exports the functions ``fit`` and ``max_margin``
under the names the issues use, so the modules carry other names.
"""

from irlas_jax.irl.analysis import optimum
from irlas_jax.irl.analysis import random_f_stats
from irlas_jax.irl.analysis import rank_among_random
from irlas_jax.irl.analysis import relative_changes
from irlas_jax.irl.inverse_rl import RL_STEPS
from irlas_jax.irl.inverse_rl import default_config
from irlas_jax.irl.inverse_rl import dynamic_programming_step
from irlas_jax.irl.inverse_rl import fit
from irlas_jax.irl.inverse_rl import register_rl_step
from irlas_jax.irl.max_margin_solver import MaxMarginResult
from irlas_jax.irl.max_margin_solver import max_margin
from irlas_jax.irl.mirror_stimuli import MirrorStimuli
from irlas_jax.irl.planner import Plan
from irlas_jax.irl.planner import layer_feature_table
from irlas_jax.irl.planner import plan
