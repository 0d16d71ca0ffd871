"""Jobs: importable functions ``run(config, workdir)``, chosen by ``config.job``."""

import os

from ml_collections import config_dict

from experiments.jobs import ablation
from experiments.jobs import analysis_msf
from experiments.jobs import darts
from experiments.jobs import darts_convergence
from experiments.jobs import expert
from experiments.jobs import irl
from experiments.jobs import latency
from experiments.jobs import nb201_convergence
from experiments.jobs import search
from experiments.jobs import train

JOBS = {
    "ablation": ablation.run,
    "analysis_msf": analysis_msf.run,
    "darts": darts.run,
    "darts_convergence": darts_convergence.run,
    "expert": expert.run,
    "irl": irl.run,
    "latency": latency.run,
    "nb201_convergence": nb201_convergence.run,
    "search": search.run,
    "train": train.run,
}


def run(config: config_dict.ConfigDict, workdir: str):
  """Runs ``JOBS[config.job]`` after writing ``config.json`` into ``workdir``."""
  job = config.get("job")
  if job not in JOBS:
    raise ValueError(f"config.job={job!r} is not a known job; known jobs: "
                     f"{', '.join(sorted(JOBS))}")
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  return JOBS[job](config, workdir)

