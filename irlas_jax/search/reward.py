"""The search reward (Eq. 9): R = F_accuracy + lambda * F_topology.

F_accuracy is the validation accuracy in percent (as the paper states), so
with lambda = 30 (Sec. 4.1) the topology term matters only where F differs
by a fraction of a unit between blocks. Pure and vectorised: it takes
arrays of accuracies and F values (already z-scored if the search
normalises F) and returns one reward per block.
"""

import jax.numpy as jnp


def reward(accuracy, f_topology, lam):
  """Eq. 9: ``accuracy + lam * f_topology``, elementwise."""
  return jnp.asarray(accuracy) + lam * jnp.asarray(f_topology)
