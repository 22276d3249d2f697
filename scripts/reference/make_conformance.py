#!/usr/bin/env python3
"""Conformance reference: a small VGG-like Caffe net evaluated in float64 by PyTorch.

Writes, into Fixtures/reference/conformance/ (or --out):
  net.prototxt             the net, as Caffe layers (Input with tops data + label)
  weights.caffemodel.h5    its parameters as a Caffe HDF5 snapshot (float32)
  expected.h5              input, labels, every layer's output and backward diff, every parameter
                           gradient, the input gradient and the loss, all float64 except the input
  README.md                is hand-written; this script only checks that it exists

The reference is computed in float64 FROM THE FLOAT32-ROUNDED weights and inputs, so a float32
engine fed weights.caffemodel.h5 and input/data differs from it only by its own rounding.

Caffe semantics checked or relied on (see docs/semantics.md §4):
* Convolution: cross-correlation with zero padding, output (in + 2 pad - k)/stride + 1 (floor)
  (BVLC/caffe src/caffe/layers/base_conv_layer.cpp). torch.nn.functional.conv2d computes the same.
* Pooling MAX with Caffe's default CEIL rounding: out = ceil((in + 2 pad - k)/stride) + 1, no
  clipping step because pad = 0 (BVLC/caffe src/caffe/layers/pooling_layer.cpp). PyTorch ceil_mode:
  out = floor((in + 2 pad - (k - 1) - 1 + stride - 1)/stride) + 1, minus 1 if the last window
  starts at or past in + pad (pytorch/pytorch aten/src/ATen/native/Pool.h). Both are evaluated
  below for every pooling layer and must agree (8 -> 4 for the 3x3 s2 pool: its last window starts
  at 6 and covers rows 6..7 only, a partial window). Both scan the window row-major and keep the
  first maximum (strict >), so exact ties route the gradient identically.
* ReLU: derivative taken as 0 at x = 0 (slope 0); no pre-activation is near 0 here (margin check).
* InnerProduct flattens (c, h, w) in that order, as torch's reshape of an NCHW tensor.
* SoftmaxWithLoss, normalization VALID without ignore_label = mean over the N samples, the same as
  torch's cross_entropy(reduction="mean"); Caffe's max(p, FLT_MIN) clamp is checked to be inactive.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from caffe_h5 import provenance_attrs, read_caffemodel_h5, round_to_float32, write_caffemodel_h5  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "conformance"

BATCH = 4
IN_CHANNELS = 3
IN_SIZE = 16
FC1_OUTPUT = 32
CLASSES = 10
LABELS = [3, 7, 0, 9]
FIRST_SEED = 1
FLT_MIN = float(np.finfo(np.float32).tiny)

# A decision (ReLU sign, pooling argmax) closer than this fraction of its blob's RMS is treated as
# fragile: float32 rounding (~1e-7 relative per operation, ~1e-6 after a few layers) must not be
# able to flip it, otherwise a float32 engine would route a whole gradient element differently.
DECISION_MARGIN_REL = 1e-4

# Layer table in net order: (name, Caffe type, bottom blob, top blob, settings).
# In-place ReLUs reuse the conv/IP blob name, as in Caffe prototxts.
LAYERS = [
    ("data", "Input", None, "data", {}),
    ("conv1", "Convolution", "data", "conv1", {"num_output": 8, "in": IN_CHANNELS}),
    ("relu1", "ReLU", "conv1", "conv1", {}),
    ("conv2", "Convolution", "conv1", "conv2", {"num_output": 8, "in": 8}),
    ("relu2", "ReLU", "conv2", "conv2", {}),
    ("pool1", "Pooling", "conv2", "pool1", {"kernel": 2, "stride": 2}),
    ("conv3", "Convolution", "pool1", "conv3", {"num_output": 16, "in": 8}),
    ("relu3", "ReLU", "conv3", "conv3", {}),
    ("pool2", "Pooling", "conv3", "pool2", {"kernel": 3, "stride": 2}),
    ("fc1", "InnerProduct", "pool2", "fc1", {"num_output": FC1_OUTPUT}),
    ("relu4", "ReLU", "fc1", "fc1", {}),
    ("fc2", "InnerProduct", "fc1", "fc2", {"num_output": CLASSES, "in": FC1_OUTPUT}),
    ("loss", "SoftmaxWithLoss", "fc2", "loss", {}),
]
LAYER_NAMES = [layer[0] for layer in LAYERS]


def caffe_pool_out(size: int, kernel: int, stride: int, pad: int = 0) -> int:
    """BVLC/caffe pooling_layer.cpp Reshape, round_mode CEIL (the default)."""
    out = int(math.ceil(float(size + 2 * pad - kernel) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def torch_ceil_pool_out(size: int, kernel: int, stride: int, pad: int = 0, dilation: int = 1) -> int:
    """pytorch/pytorch aten/src/ATen/native/Pool.h pooling_output_shape with ceil_mode=True."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1)) // stride + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def spatial_sizes() -> dict[str, int]:
    """Spatial size of every 4-D top, checking Caffe CEIL == PyTorch ceil_mode at each pool."""
    sizes = {"data": IN_SIZE}
    current = IN_SIZE
    for name, kind, _, top, settings in LAYERS[1:]:
        if kind == "Convolution":
            current = (current + 2 * 1 - 3) // 1 + 1  # pad 1, k 3, stride 1
        elif kind == "Pooling":
            caffe = caffe_pool_out(current, settings["kernel"], settings["stride"])
            torch_out = torch_ceil_pool_out(current, settings["kernel"], settings["stride"])
            if caffe != torch_out:
                raise AssertionError(f"{name}: Caffe CEIL gives {caffe}, PyTorch ceil_mode {torch_out}")
            current = caffe
        elif kind == "InnerProduct":
            break
        sizes[name] = current
    return sizes


def param_shapes() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    sizes = spatial_sizes()
    fc1_in = 16 * sizes["pool2"] ** 2
    shapes = {}
    for name, kind, _, _, settings in LAYERS:
        if kind == "Convolution":
            shapes[name] = ((settings["num_output"], settings["in"], 3, 3), (settings["num_output"],))
        elif kind == "InnerProduct":
            k = settings.get("in", fc1_in)
            shapes[name] = ((settings["num_output"], k), (settings["num_output"],))
    return shapes


def make_inputs(seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    """Input N(0,1); weights N(0, 2/fan_in) (He scale keeps every layer's RMS near 1 so the
    softmax is not saturated and no gradient is vanishingly small); biases 0.1 N(0,1).
    numpy's PCG64 generator: the same numbers on every platform for a given seed."""
    rng = np.random.default_rng(seed)
    data = round_to_float32(rng.standard_normal((BATCH, IN_CHANNELS, IN_SIZE, IN_SIZE)))
    labels = np.asarray(LABELS, dtype=np.float32)
    params = {}
    for name, (w_shape, b_shape) in param_shapes().items():
        fan_in = int(np.prod(w_shape[1:]))
        weight = round_to_float32(rng.standard_normal(w_shape) * math.sqrt(2.0 / fan_in))
        bias = round_to_float32(rng.standard_normal(b_shape) * 0.1)
        params[name] = [weight, bias]
    return data, labels, params


def forward(x: torch.Tensor, params: dict[str, list[torch.Tensor]], labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The net, one tensor per layer output (keyed by layer name)."""
    out: dict[str, torch.Tensor] = {}
    current = x
    for name, kind, _, _, settings in LAYERS[1:]:
        if kind == "Convolution":
            current = F.conv2d(current, params[name][0], params[name][1], stride=1, padding=1)
        elif kind == "ReLU":
            current = F.relu(current)
        elif kind == "Pooling":
            current = F.max_pool2d(current, settings["kernel"], settings["stride"], padding=0, ceil_mode=True)
        elif kind == "InnerProduct":
            current = F.linear(current.reshape(current.shape[0], -1), params[name][0], params[name][1])
        elif kind == "SoftmaxWithLoss":
            current = F.cross_entropy(current, labels.long(), reduction="mean").reshape(1)
        else:
            raise AssertionError(kind)
        out[name] = current
    return out


def relu_margin(pre: np.ndarray) -> float:
    """Smallest |pre-activation| relative to the blob's RMS."""
    return float(np.min(np.abs(pre)) / math.sqrt(np.mean(pre**2)))


def pool_margin(bottom: np.ndarray, kernel: int, stride: int, out_size: int) -> tuple[float, int]:
    """Smallest gap between the largest and second largest value of a window, relative to the
    blob's RMS, over windows whose maximum is not an exact 0; and the number of windows whose
    maximum is an exact tie at 0 (all inputs clipped by the ReLU below: both engines see exact
    zeros and keep the first, so these test the tie rule rather than risk a flip)."""
    needed = (out_size - 1) * stride + kernel
    pad = needed - bottom.shape[2]
    padded = F.pad(torch.from_numpy(bottom), (0, pad, 0, pad), value=-math.inf)
    windows = padded.unfold(2, kernel, stride).unfold(3, kernel, stride).reshape(*padded.shape[:2], out_size, out_size, -1)
    top2 = torch.topk(windows, 2, dim=-1).values
    gap = (top2[..., 0] - top2[..., 1]).numpy()
    maxima = top2[..., 0].numpy()
    exact_zero_ties = int(np.sum((maxima == 0.0) & (gap == 0.0)))
    candidates = gap[~((maxima == 0.0) & (gap == 0.0))]
    rms = math.sqrt(np.mean(bottom**2))
    return float(np.min(candidates) / rms), exact_zero_ties


def evaluate(data: np.ndarray, labels: np.ndarray, params: dict[str, list[np.ndarray]], dtype: torch.dtype):
    """Forward + backward at the given precision; returns outputs, bottom diffs, param grads."""
    x = torch.tensor(data, dtype=dtype, requires_grad=True)
    p = {name: [torch.tensor(b, dtype=dtype, requires_grad=True) for b in blobs] for name, blobs in params.items()}
    y = torch.tensor(labels, dtype=dtype)
    outs = forward(x, p, y)
    for t in outs.values():
        t.retain_grad()
    outs["loss"].sum().backward()
    forward_np = {name: t.detach().numpy().astype(np.float64) for name, t in outs.items()}
    # backward/<layer> = the diff the layer writes into its bottom 0. In-place ReLU: its bottom is
    # the conv/IP blob, whose diff is the gradient w.r.t. the pre-activation.
    producer = {"data": x}
    for name in LAYER_NAMES[1:]:
        producer[name] = outs[name]
    backward_np = {}
    previous = "data"
    for name in LAYER_NAMES[1:]:
        backward_np[name] = producer[previous].grad.detach().numpy().astype(np.float64)
        previous = name
    grads = {name: [b.grad.detach().numpy().astype(np.float64) for b in blobs] for name, blobs in p.items()}
    return forward_np, backward_np, grads


def finite_difference_check(data, labels, params, grads, input_grad, rng) -> float:
    """Central differences (h = 1e-6, float64) on 12 random coordinates of every parameter and of
    the input; returns the largest |fd - autograd| / max(1, max|grad of that tensor|)."""
    def loss_at(d, p):
        with torch.no_grad():
            t = forward(torch.tensor(d, dtype=torch.float64),
                        {k: [torch.tensor(b, dtype=torch.float64) for b in v] for k, v in p.items()},
                        torch.tensor(labels, dtype=torch.float64))
        return float(t["loss"][0])

    h = 1e-6
    worst = 0.0
    targets = [("data", None, input_grad)] + [(n, i, g) for n, gs in grads.items() for i, g in enumerate(gs)]
    base_d = data.astype(np.float64)
    base_p = {k: [b.astype(np.float64) for b in v] for k, v in params.items()}
    for name, index, grad in targets:
        scale = max(1.0, float(np.max(np.abs(grad))))
        for flat in rng.choice(grad.size, size=min(12, grad.size), replace=False):
            coord = np.unravel_index(flat, grad.shape)
            values = []
            for sign in (1.0, -1.0):
                d = base_d.copy()
                p = {k: [b.copy() for b in v] for k, v in base_p.items()}
                target = d if index is None else p[name][index]
                target[coord] += sign * h
                values.append(loss_at(d, p))
            fd = (values[0] - values[1]) / (2 * h)
            worst = max(worst, abs(fd - grad[coord]) / scale)
    return worst


def prototxt(sizes: dict[str, int]) -> str:
    lines = [
        "# Conformance net for initdiag: a small VGG-like net (see README.md in this folder).",
        "# Generated by scripts/reference/make_conformance.py; weights in weights.caffemodel.h5,",
        "# expected values in expected.h5. No fillers: the weights always come from the snapshot.",
        "# force_backward so the input gradient is computed (Caffe skips it for a net input otherwise).",
        'name: "ConformanceSmallVGG"',
        "force_backward: true",
        "layer {",
        '  name: "data"',
        '  type: "Input"',
        '  top: "data"',
        '  top: "label"',
        "  input_param {",
        f"    shape {{ dim: {BATCH} dim: {IN_CHANNELS} dim: {IN_SIZE} dim: {IN_SIZE} }}",
        f"    shape {{ dim: {BATCH} }}",
        "  }",
        "}",
    ]
    for name, kind, bottom, top, settings in LAYERS[1:]:
        lines += ["layer {", f'  name: "{name}"', f'  type: "{kind}"', f'  bottom: "{bottom}"']
        if kind == "SoftmaxWithLoss":
            lines.append('  bottom: "label"')
        lines.append(f'  top: "{top}"')
        if kind == "Convolution":
            lines += ["  convolution_param {", f"    num_output: {settings['num_output']}",
                      "    pad: 1", "    kernel_size: 3", "  }"]
        elif kind == "Pooling":
            comment = f"  # {sizes[bottom]} -> {sizes[name]} under Caffe's default CEIL rounding"
            lines += [comment, "  pooling_param {", "    pool: MAX", f"    kernel_size: {settings['kernel']}",
                      f"    stride: {settings['stride']}", "  }"]
        elif kind == "InnerProduct":
            lines += ["  inner_product_param {", f"    num_output: {settings['num_output']}", "  }"]
        lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    sizes = spatial_sizes()
    assert sizes["pool2"] == 4, sizes

    # Draw until no ReLU sign or pooling argmax is within DECISION_MARGIN_REL of flipping.
    seed = FIRST_SEED
    while True:
        data, labels, params = make_inputs(seed)
        fwd, bwd, grads = evaluate(data, labels, params, torch.float64)
        margins = {name: relu_margin(fwd[name]) for name in ("conv1", "conv2", "conv3", "fc1")}
        zero_ties = {}
        for pool, bottom in (("pool1", "relu2"), ("pool2", "relu3")):
            kernel = LAYERS[LAYER_NAMES.index(pool)][4]["kernel"]
            stride = LAYERS[LAYER_NAMES.index(pool)][4]["stride"]
            margins[pool], zero_ties[pool] = pool_margin(fwd[bottom], kernel, stride, sizes[pool])
        if min(margins.values()) >= DECISION_MARGIN_REL:
            break
        print(f"seed {seed}: smallest decision margin {min(margins.values()):.2e}, drawing again")
        seed += 1

    logits = fwd["fc2"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    label_index = labels.astype(np.int64)
    p_true = probabilities[np.arange(BATCH), label_index]
    assert p_true.min() > FLT_MIN, "Caffe's FLT_MIN clamp would be active"
    # Caffe softmax_loss_layer.cpp: loss = -sum log p[label] / N (VALID, no ignore_label).
    caffe_loss = -np.sum(np.log(p_true)) / BATCH
    assert abs(caffe_loss - fwd["loss"][0]) <= 1e-12 * abs(caffe_loss), (caffe_loss, fwd["loss"][0])
    # Its gradient (p - onehot) * loss_weight / N must be what autograd wrote into fc2's diff.
    onehot = np.zeros_like(probabilities)
    onehot[np.arange(BATCH), label_index] = 1.0
    assert np.max(np.abs((probabilities - onehot) / BATCH - bwd["loss"])) <= 1e-15

    input_grad = bwd["conv1"]
    fd_error = finite_difference_check(data, labels, params, grads, input_grad, np.random.default_rng(seed + 1000))
    assert fd_error < 1e-7, f"finite differences disagree with autograd: {fd_error:.3e}"

    # What a float32 engine is expected to reach: the same computation by torch in float32.
    fwd32, bwd32, grads32 = evaluate(data, labels, params, torch.float32)

    def rel_error(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    worst32 = 0.0
    snapshot = args.out / "weights.caffemodel.h5"
    write_caffemodel_h5(snapshot, LAYER_NAMES, params)
    read_back = read_caffemodel_h5(snapshot)
    for name, blobs in params.items():
        for a, b in zip(read_back[name], blobs):
            assert a.dtype == np.float32 and a.shape == b.shape and np.array_equal(a, b)

    (args.out / "net.prototxt").write_text(prototxt(sizes))

    blob_of = {name: top for name, _, _, top, _ in LAYERS}
    bottom_of = {name: bottom for name, _, bottom, _, _ in LAYERS}
    with h5py.File(args.out / "expected.h5", "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_conformance.py", seed).items():
            f.attrs[key] = value
        f.attrs["description"] = (
            "Reference for net.prototxt with weights.caffemodel.h5 on input/data, input/label: "
            "float64 forward/backward from the float32-rounded weights and inputs."
        )
        f.attrs["tolerance_rel"] = 1e-4
        f.attrs["finite_difference_max_error"] = fd_error
        f.attrs["decision_margin_threshold_rel"] = DECISION_MARGIN_REL
        for name, margin in margins.items():
            f.attrs[f"decision_margin_rel_{name}"] = margin
        for name, ties in zero_ties.items():
            f.attrs[f"exact_zero_ties_{name}"] = ties
        f.create_dataset("input/data", data=data)
        f.create_dataset("input/label", data=labels)
        f.create_dataset("loss", data=fwd["loss"])
        f.create_dataset("logits", data=logits)
        f.create_dataset("probabilities", data=probabilities)
        for name in LAYER_NAMES[1:]:
            ds = f.create_dataset(f"forward/{name}", data=fwd[name])
            ds.attrs["blob"] = blob_of[name]
            ds.attrs["float32_torch_rel_error"] = rel_error(fwd32[name], fwd[name])
            ds = f.create_dataset(f"backward/{name}", data=bwd[name])
            ds.attrs["bottom_blob"] = bottom_of[name]
            ds.attrs["float32_torch_rel_error"] = rel_error(bwd32[name], bwd[name])
            worst32 = max(worst32, rel_error(fwd32[name], fwd[name]), rel_error(bwd32[name], bwd[name]))
        for name, gs in grads.items():
            for index, g in enumerate(gs):
                ds = f.create_dataset(f"grad/{name}/{index}", data=g)
                ds.attrs["float32_torch_rel_error"] = rel_error(grads32[name][index], g)
                worst32 = max(worst32, rel_error(grads32[name][index], g))
        ds = f.create_dataset("grad/data", data=input_grad)
        ds.attrs["float32_torch_rel_error"] = rel_error(bwd32["conv1"], input_grad)
        f.attrs["float32_torch_max_rel_error"] = worst32

    if not (args.out / "README.md").exists():
        print("warning: the fixture folder has no README.md", file=sys.stderr)
    print(f"seed {seed}; loss {fwd['loss'][0]:.12f}; smallest decision margin {min(margins.values()):.3e}; "
          f"exact zero ties {zero_ties}; finite-difference error {fd_error:.2e}; "
          f"torch float32 vs float64 worst blob error {worst32:.2e}")
    print("pool2 spatial size", sizes["pool2"], "(Caffe CEIL == PyTorch ceil_mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
