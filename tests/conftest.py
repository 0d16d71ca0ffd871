"""Test-wide JAX settings: CPU, persistent compilation cache, float32.

JAX tests are compile-bound; the persistent cache makes a second run of the
suite (and programs compiled by several tests) skip XLA compilation.
"""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after the environment is set)

_CACHE_DIR = os.path.join(tempfile.gettempdir(), "irlas_jax_test_compilation_cache")
jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
