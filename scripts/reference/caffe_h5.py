"""Helpers shared by the reference generators: Caffe HDF5 snapshots and fixture HDF5 files.

Caffe layout (BVLC/caffe src/caffe/net.cpp, Net::ToHDF5): a group `data`, inside it one group per
layer *name* for every layer of the net (layers without parameters get an empty group), inside
that float32 datasets "0", "1", ... in blob order with the blob's N-D shape (conv weight
(O, C/g, kh, kw), InnerProduct weight (N, K), biases (N,)). Loading (Net::CopyTrainedLayersFromHDF5)
matches by layer name and ignores unknown names, so the empty groups are harmless either way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import h5py
import numpy as np


def write_caffemodel_h5(path: Path, layer_names: list[str], params: dict[str, list[np.ndarray]]) -> None:
    """Write a Caffe HDF5 snapshot. `layer_names` lists every layer in net order, `params` the
    learnable blobs of those that have them (already rounded to float32)."""
    unknown = set(params) - set(layer_names)
    if unknown:
        raise ValueError(f"params for layers not in the net: {sorted(unknown)}")
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for name in layer_names:
            group = data.create_group(name)
            for index, blob in enumerate(params.get(name, [])):
                if blob.dtype != np.float32:
                    raise TypeError(f"{name}/{index}: Caffe snapshots hold float32, got {blob.dtype}")
                group.create_dataset(str(index), data=blob)


def read_caffemodel_h5(path: Path) -> dict[str, list[np.ndarray]]:
    """Read back the blobs of every layer that has any (used to self-check the written file)."""
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for name, group in f["data"].items():
            blobs = [group[str(i)][()] for i in range(len(group))]
            if blobs:
                out[name] = blobs
    return out


def provenance_attrs(script: str, seed: int) -> dict[str, object]:
    """Attributes recorded on every generated file: who made it and with what."""
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "generator": script,
        "generator_commit": commit,
        "torch_version": str(torch.__version__),
        "numpy_version": str(np.__version__),
        "seed": seed,
    }


def round_to_float32(array: np.ndarray) -> np.ndarray:
    """The float32 value a float32 engine sees, kept as float32."""
    return np.asarray(array, dtype=np.float64).astype(np.float32)
