"""The search driver (propose -> evaluate -> reward -> update -> checkpoint),
its checkpoints, the reward of Eq. 9, and the outputs of a finished search."""

from irlas_jax.search.checkpoint import SearchCheckpointer
from irlas_jax.search.driver import search
from irlas_jax.search.report import write_outputs
from irlas_jax.search.reward import reward
