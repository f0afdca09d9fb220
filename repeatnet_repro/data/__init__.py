"""Data sets: a registry of builders that return cheap `DataSource`s (see base.py).

torchvision (and pandas) are imported inside the functions that read real data: importing them costs
seconds on every entrypoint call, and synthetic, digits and shortest-path runs need neither."""
from . import digits, synthetic  # noqa: F401  (registration)
from . import cifar, imagenet, mnist, rotmnist, shortest_paths, tinyimagenet  # noqa: F401  (registration)
from .base import DATASETS, DataInfo, DatasetMissingError

__all__ = ["DATASETS", "DataInfo", "DatasetMissingError", "build_data"]


def build_data(cfg):
    """The `DataSource` named by `cfg.dataset` (no I/O yet)."""
    return DATASETS.build(cfg)
