"""Benchmark: jitted Adam train steps of StaticNetwork vs DynamicNetwork.

  python -m benchmarks.networks [--settings tiny,proxy] [--archs 8] [--steps 5] [--no_vmap proxy]

For each setting (``tiny``: irlas_nn.tiny() on 8x8x1 images, batch 32;
``proxy``: irlas_nn.cifar10_proxy(), stem + 3 blocks at C=16, on 32x32x3
images, batch 64), blocks of t_max = 24, one train step = forward + backward
(train-mode BN) + optax Adam update, jitted. Rows: StaticNetwork of one block
(compiled per block), DynamicNetwork of one block (compiled once for every
block), jax.vmap of the dynamic step over ``--archs`` architectures (per-arch
params, BN stats and Adam state), jax.lax.map of it over the same. Compile =
lower + XLA compile of the step (no persistent cache); step = minimum wall
time of ``--steps`` calls after one warm-up (the
machine is shared: the minimum is the least disturbed); temp = XLA's temp buffer size.
"""

import argparse
import os
import time

import jax
import jax.numpy as jnp
import optax

from irlas_jax import nn as irlas_nn
from irlas_jax.spaces import experts, sample_uniform, unstack_blocks

T_MAX = 24
SETTINGS = {"tiny": (irlas_nn.tiny, (32, 8, 8, 1)),
            "proxy": (irlas_nn.cifar10_proxy, (64, 32, 32, 3))}
TX = optax.adam(1e-3)


def make_step(apply):
  """step(state, x, y, *block) -> (state, loss); apply(variables, x, *block)."""
  def step(state, x, y, *block):
    params, batch_stats, opt_state = state

    def loss_fn(params):
      logits, updates = apply({"params": params, "batch_stats": batch_stats}, x, *block)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      return loss, updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = TX.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), batch_stats, opt_state), loss
  return step


def init_state(variables):
  return (variables["params"], variables["batch_stats"], TX.init(variables["params"]))


def measure(fn, args, steps):
  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - t0
  temp = compiled.memory_analysis().temp_size_in_bytes if compiled.memory_analysis() else 0
  jax.block_until_ready(compiled(*args))  # warm-up
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - t0)
  return compile_s, min(times), temp


def run(setting, archs, steps, vmap=True):
  """Yields (path, compile_s, step_s, temp_bytes, params) rows as they are measured."""
  make_config, shape = SETTINGS[setting]
  config = make_config()
  x = jax.random.normal(jax.random.key(1), shape)
  y = jax.random.randint(jax.random.key(2), (shape[0],), 0, config.num_classes)
  blocks = unstack_blocks(sample_uniform(jax.random.key(0), archs, T_MAX))
  print(f"# {setting}: blocks of {[int(b.length) for b in blocks]} layers", flush=True)
  dynamic = irlas_nn.DynamicNetwork(config, T_MAX)
  t0 = time.perf_counter()
  variables = jax.jit(dynamic.init)(jax.random.key(0), x, blocks[0])
  jax.block_until_ready(variables)
  yield "dynamic init (compile + run)", time.perf_counter() - t0, 0.0, 0, None
  named = (("resnet expert", experts.get("resnet", T_MAX)),
           (f"random block, {int(blocks[0].length)} layers", blocks[0]))
  for name, block in named:
    static = irlas_nn.StaticNetwork(block, config)
    state = init_state(irlas_nn.static_variables_from_dynamic(block, variables))
    step = make_step(lambda v, x, static=static: static.apply(
        v, x, train=True, mutable=["batch_stats"]))
    yield (f"static ({name})", *measure(step, (state, x, y), steps),
           irlas_nn.count_params(state[0]))

  def apply_dynamic(v, x, block):
    return dynamic.apply(v, x, block, train=True, mutable=["batch_stats"])

  dynamic_step = make_step(apply_dynamic)
  state = init_state(variables)
  compiled = None
  for name, block in named:
    t0 = time.perf_counter()
    if compiled is None:
      compiled = jax.jit(dynamic_step).lower(state, x, y, block).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(state, x, y, block))
    times = []
    for _ in range(steps):
      t0 = time.perf_counter()
      jax.block_until_ready(compiled(state, x, y, block))
      times.append(time.perf_counter() - t0)
    yield (f"dynamic 1 arch ({name})", compile_s, min(times),
           compiled.memory_analysis().temp_size_in_bytes, irlas_nn.count_params(state[0]))
  batch = jax.tree.map(lambda *b: jnp.stack(b), *blocks)
  keys = jax.random.split(jax.random.key(3), archs)
  states = jax.jit(jax.vmap(lambda k, b: init_state(dynamic.init(k, x, b))))(keys, batch)
  mapped = lambda st, x, y, b: jax.lax.map(lambda sb: dynamic_step(sb[0], x, y, sb[1]),
                                           (st, b))
  yield (f"dynamic lax.map {archs} archs", *measure(mapped, (states, x, y, batch),
                                                    max(1, steps // 2)), None)
  if not vmap:
    return
  vmapped = jax.vmap(dynamic_step, in_axes=(0, None, None, 0))
  yield (f"dynamic vmap {archs} archs", *measure(vmapped, (states, x, y, batch),
                                                 max(1, steps // 3)), None)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--settings", default="tiny,proxy")
  parser.add_argument("--archs", type=int, default=8)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--no_vmap", default="", help="settings without the vmap row")
  args = parser.parse_args()
  print(f"# jax {jax.__version__}, {jax.devices()[0].platform}, "
        f"load average {os.getloadavg()}")
  print(f"{'setting':<8} {'path':<42} {'compile s':>9} {'step s':>8} "
        f"{'temp MB':>8} {'params':>8}", flush=True)
  for setting in args.settings.split(","):
    vmap = setting not in args.no_vmap.split(",")
    for path, c, s, m, n in run(setting, args.archs, args.steps, vmap):
      print(f"{setting:<8} {path:<42} {c:9.2f} {s:8.4f} {m / 2**20:8.1f} "
            f"{n if n is not None else '':>8}", flush=True)
  print(f"# load average at the end {os.getloadavg()}")


if __name__ == "__main__":
  main()
