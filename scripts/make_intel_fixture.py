#!/usr/bin/env python
"""Cut the small, stratified slice of the real Intel npz that the tests use.

    python -m scripts.make_intel_fixture   # writes tests/data/intel_slice.npz

The tests must not need the 100 MB file, so they read this slice instead: the same
keys, layout and dtypes, a fixed number of images per class from each split, drawn with
a seeded generator so that anyone regenerates the same file.
"""
from pathlib import Path

import numpy as np

import utils

PER_CLASS = {"train": 30, "val": 8, "test": 8}


def stratified_slice(labels, per_class, rng):
    """Sorted indices of `per_class` examples of every class present in `labels`."""
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def main(argv=None):
    parser = utils.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default="data/intel_landscapes_48x48.npz")
    parser.add_argument("--out", default="tests/data/intel_slice.npz")
    parser.add_argument("--seed", type=int, default=0)
    opt = parser.parse_args(argv)
    if not Path(opt.source).is_file():
        raise utils.UserError(f"{utils.absolute(opt.source)}: no such file; run `make data` first")
    rng = np.random.default_rng(opt.seed)
    arrays = {}
    with np.load(opt.source) as source:
        for split in utils.INTEL_SPLITS:
            labels = source[f"{split}_labels"].reshape(-1)
            keep = stratified_slice(labels, PER_CLASS[split], rng)
            arrays[f"{split}_images"] = source[f"{split}_images"][keep]
            arrays[f"{split}_labels"] = source[f"{split}_labels"][keep]
    Path(opt.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(opt.out, **arrays)
    sizes = ", ".join(f"{split} {len(arrays[f'{split}_labels'])}" for split in PER_CLASS)
    print(f"wrote {opt.out} ({sizes} images, {Path(opt.out).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    utils.run_main(main)
