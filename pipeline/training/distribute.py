"""Where and how training runs: devices, distribution strategy, precision policy, XLA.

What is supported, and proven on a CPU-only machine by ``tests/training/test_distribute*.py``:

- **one device** (CPU or GPU): the default strategy;
- **several devices of one host**: ``tf.distribute.MirroredStrategy`` (several GPUs; on a CPU
  the same code runs over logical CPU devices, :func:`split_cpu`). Each replica takes
  ``batch_size`` examples (the global batch grows with the replicas). The CCC metrics add up
  sums over every replica, so they equal one device's; the CCC *loss* is a batch statistic and
  under replicas it is the mean of the per-replica batch losses (with the MSE loss and equal
  masks the step is the same as one device's);
- **mixed precision** (``mixed_float16``, on by default with a GPU): the networks compute in
  float16, their outputs and the CCC loss and metrics in float32 (the losses cast);
- **XLA** (``jit_compile``): the CNN compiles and trains with it on the CPU too; Keras turns it
  off under a distribution strategy and with op determinism (the CPU default).

- **several machines** (``MultiWorkerMirroredStrategy`` with ``TF_CONFIG``): Keras 3's
  ``model.fit`` / ``evaluate`` fail under it with the pinned TensorFlow 2.19 / Keras 3.15
  (``ValueError: Attempt to convert a value ({'image': PerReplica:{...}}) with an unsupported
  type (<class 'dict'>) to a Tensor``, keras-team/keras#20585). What runs is a train step
  by ``strategy.run`` (:func:`train_steps`, Keras 3 model and optimizer inside): two worker
  processes on localhost give bit for bit the weights of ``MirroredStrategy`` over two
  devices, and one process's within the per-replica batch-norm statistics (tested). With a
  multi-worker ``TF_CONFIG`` the ``train_cnn`` / ``train_rnn`` stages therefore train with
  such a loop (:mod:`pipeline.training.multiworker`); see docs/scaling.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import tensorflow as tf


def split_cpu(n: int) -> list[str]:
    """Make ``n`` logical CPU devices (before TensorFlow initialises its devices) and return
    their names: a CPU-only stand-in for ``n`` GPUs, to run ``MirroredStrategy`` code."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def precision_policy(mixed_precision: str, has_gpu: bool) -> str:
    """``auto`` | ``on`` | ``off`` → the Keras dtype policy name."""
    use_mixed = mixed_precision == "on" or (mixed_precision == "auto" and has_gpu)
    return "mixed_float16" if use_mixed else "float32"


def in_multi_worker_cluster() -> bool:
    """True when ``TF_CONFIG`` names a cluster of more than one worker."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return False
    cluster = json.loads(raw).get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")) > 1


def cluster_position() -> tuple[int, int]:
    """(workers, this worker's index) from ``TF_CONFIG``, in ``MultiWorkerMirroredStrategy``'s
    order (the chief, if any, first, then the workers); (1, 0) without a cluster. Index 0 is
    the chief: the one that writes the model and the metrics."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 1, 0
    config = json.loads(raw)
    cluster = config.get("cluster", {})
    tasks = [("chief", i) for i in range(len(cluster.get("chief", [])))]
    tasks += [("worker", i) for i in range(len(cluster.get("worker", [])))]
    if len(tasks) <= 1:
        return 1, 0
    task = config.get("task", {})
    me = (task.get("type"), int(task.get("index", 0)))
    if me not in tasks:
        from pipeline.errors import InputError

        raise InputError(
            f"TF_CONFIG: task {task} is not one of the cluster's chief/worker tasks {tasks}"
        )
    return len(tasks), tasks.index(me)


def local_strategy(devices: list[str] | None = None) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over ``devices`` (default: every GPU) when there are several;
    otherwise the default (one-device) strategy."""
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The strategy for a ``TF_CONFIG`` cluster (every worker runs the same command)."""
    return tf.distribute.MultiWorkerMirroredStrategy()


def per_replica_slices(
    make_global: Callable[[], tf.data.Dataset], global_batch: int
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A ``dataset_fn`` for ``strategy.distribute_datasets_from_function``: every replica (on
    any worker) takes its own slice of each global batch of ``make_global()`` (a dataset of
    ``(x, y)`` batches of ``global_batch`` examples, the same on every worker), so a step sees
    the same examples whatever the number of workers and devices."""

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        per = ctx.get_per_replica_batch_size(global_batch)
        k = ctx.num_replicas_in_sync // ctx.num_input_pipelines  # replicas of this worker
        first = ctx.input_pipeline_id * k

        def take(x, y, r):
            return tf.nest.map_structure(lambda t: t[r * per : (r + 1) * per], (x, y))

        def slices(x, y):
            out = tf.data.Dataset.from_tensors(take(x, y, first))
            for r in range(first + 1, first + k):
                out = out.concatenate(tf.data.Dataset.from_tensors(take(x, y, r)))
            return out

        return make_global().flat_map(slices)

    return dataset_fn


def train_steps(strategy, model, optimizer, loss_fn, dataset_fn) -> list[float]:
    """Train ``model`` (built in ``strategy.scope()``) one pass over the distributed dataset
    of ``dataset_fn``; return the loss of each step (mean over the global batch).

    ``loss_fn`` must return a loss already divided by the replicas (``AffectLoss`` does,
    :func:`pipeline.training.losses.per_replica`): the Keras 3 optimizer sums the replicas'
    gradients."""
    dist = strategy.distribute_datasets_from_function(dataset_fn)

    @tf.function
    def step(batch):
        def replica(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        return strategy.reduce("SUM", strategy.run(replica, args=batch), axis=None)

    return [float(step(batch)) for batch in dist]
