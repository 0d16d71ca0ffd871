"""Runs one irlas-jax experiment: ``python -m experiments.main --config=... --workdir=...``.

Flags only; the work is ``experiments.jobs.run(config, workdir)``, which
tests call directly. Any config field can be overridden on the command line,
e.g. ``--config.encoding=onehot --config.gamma=0.8``.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/configs/*.py).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for every output of the run.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from experiments import jobs  # after flag parsing: keeps --help fast
  jobs.run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
