"""ImageNet mobile-setting transfer of a searched block (Sec. 4.2, Table 2).

  python -m experiments.main --config=experiments/configs/imagenet_mobile.py --workdir=runs/imagenet_mobile \
      --config.model.source=block_file --config.model.block_file=runs/search_cifar10/best_blocks.json \
      --config.data.data_dir=D

The block found on CIFAR-10 is transferred "by increasing the total number
of stacked blocks and the filter channel size": the ``imagenet_mobile``
preset (224 x 224, stem to 56 x 56, 12 blocks in 4 stages) with every width
scaled by one multiplier so the network has about 5M parameters
(``model.param_budget``; Sec. 4.5, "about 5M parameters"). Training: batch
256, 224 x 224 inputs, random crop and flip, SGD with a cosine schedule
(Sec. 4.2); evaluation on the validation split (ImageNet's test images are
not public) with a centre crop. ImageNet must be prepared for tfds
(``python -m irlas_jax.data.prepare imagenet2012 --data_dir=D`` after
placing the ILSVRC2012 tars in ``D/downloads/manual``).

Decisions the paper leaves open: the epoch count (250, DARTS' ImageNet
setting), the initial learning rate and weight decay (Sec. 4.2's 0.2 and
5e-4, since Sec. 4.5 says the transferred models follow Sec. 4.2), and the
crop: images are resized (shorter side 224) and centre-cropped by the data
layer for every split, training adds a random flip and (``crop_padding``)
no random-resized crop; a GPU/TPU pod is needed (multi-host: see
``config.distributed`` and the README).

``:runlocal``: 32 x 32 images, narrow widths, 1 epoch of 16 images
(the pipeline end to end, e.g. under ``tfds.testing.mock_data``).
"""

from irlas_jax import data
from irlas_jax import distributed
from irlas_jax.evaluate import final_training


def get_config(arg: str = ""):
  config = final_training.default_config()
  config.job = "train"
  config.runlocal = "runlocal" in (arg or "")
  config.distributed = distributed.default_config()
  config.model.network = "imagenet_mobile"  # Sec. 4.2: 224 x 224, more blocks, wider
  config.model.param_budget = 5_000_000  # Sec. 4.5: "about 5M parameters"
  config.num_epochs = 250  # not given in the paper (DARTS' ImageNet setting)
  config.batch_size = 256  # Sec. 4.2
  config.learning_rate = 0.2  # Sec. 4.2 recipe (cosine scheme)
  config.momentum = 0.9  # Sec. 4.2
  config.weight_decay = 5e-4  # Sec. 4.2
  config.data = data.default_config("imagenet2012")  # 224, flip, centre crop
  config.data.normalize = True
  config.eval_split = "validation"
  config.log_every_steps = 500
  if config.runlocal:
    config.model.param_budget = None
    config.model.network_overrides.stem_width = 8
    config.model.network_overrides.widths = (8, 8, 16, 16)
    config.model.network_overrides.repeats = (1, 1, 1, 1)
    config.num_epochs = 1
    config.batch_size = 4
    config.eval_batch_size = 8
    config.log_every_steps = 0
    config.tensorboard = False
    config.data.image_size = 32
    config.data.max_examples = 16
    config.data.max_eval_examples = 8
  return config
