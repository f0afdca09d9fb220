"""Download or generate a data set, verify its checksums and build its decoded cache, ahead of training.

    python scripts/prepare_data.py cifar10 --root data/cifar10                  # download + md5 + cache
    python scripts/prepare_data.py cifar10 --root data/cifar10 --format folder  # an ImageFolder copy there: check + cache
    python scripts/prepare_data.py rotmnist --root data/rotmnist --variant rotated --mnist-root data
    python scripts/prepare_data.py shortest_paths --root data/shortest_paths train_size=5000

Trailing KEY=VALUE pairs set any other option of the data set (see conf/dataset/NAME.yaml).
`--offline` never downloads: it only verifies and caches what is already there; a folder copy
(`--format folder`) has nothing to download, so it is only verified and cached, with or without it.
Missing data or a bad option is one line on stderr and exit code 2. A decoded cache
(ROOT/cache/*.pt) is trusted while it exists; `--rebuild` deletes it first, e.g. after replacing files.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from repeatnet_repro.data import DATASETS, DatasetMissingError


def options(args: argparse.Namespace) -> dict:
    """The builder's keyword arguments from the command line."""
    params = DATASETS.params(args.name)
    opts = {"name": args.name, "root": args.root}
    for flag, key in (("format", "format"), ("variant", "variant"), ("mnist_root", "mnist_root")):
        if getattr(args, flag) is not None:
            opts[key] = getattr(args, flag)
    if "mnist_root" in params and "mnist_root" not in opts:
        opts["mnist_root"] = str(args.root)
    if "download" in params:  # a folder copy (cifar --format folder) has nothing to download: verify and cache it
        opts["download"] = not args.offline and opts.get("format") != "folder"
    for pair in args.options:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE, got '{pair}'; valid keys: {sorted(params)}")
        opts[key] = yaml.safe_load(value)
    return opts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=[n for n in DATASETS.choices() if n not in ("digits", "synthetic")])
    parser.add_argument("--root", required=True, help="the data set's folder (dataset.root)")
    parser.add_argument("--format", help="dataset.format (cifar: torchvision | folder)")
    parser.add_argument("--variant", help="dataset.variant (rotmnist: official | rotated)")
    parser.add_argument("--mnist-root", dest="mnist_root", help="rotmnist rotated: the folder holding MNIST/raw")
    parser.add_argument("--offline", action="store_true", help="verify and cache only, never download")
    parser.add_argument("--rebuild", action="store_true", help="delete ROOT/cache and decode again")
    parser.add_argument("options", nargs="*", help="KEY=VALUE: other options of the data set")
    args = parser.parse_intermixed_args(argv)
    try:
        source = DATASETS.build(options(args))
        if args.rebuild:
            shutil.rmtree(Path(args.root) / "cache", ignore_errors=True)
        print(source.prepare())
    except (DatasetMissingError, ValueError) as err:  # the user's to fix: one line, exit code 2
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a failed download (URLError) or an unwritable root
        print(f"error: {type(err).__name__}: {err} (root {args.root}); check the network, or put the files "
              "there by hand and pass --offline", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
