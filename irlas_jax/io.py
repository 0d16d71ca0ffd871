"""Small file helpers shared by jobs: atomic JSON writes.

A run may be killed at any moment; writing to a temporary file and renaming
it over the target means a reader sees the old file or the new one, never
half of one.
"""

import json
import os
from typing import Any


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2)
    f.write("\n")
  os.replace(tmp, path)


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)
