#!/usr/bin/env python3
"""BatchNorm + Scale conformance reference (TRAIN phase, in place), float64 by PyTorch.

Writes, into Fixtures/reference/conformance_bn/ (or --out): net.prototxt, weights.caffemodel.h5,
expected.h5 (README.md there is hand-written).

Net: Input data 4x3x8x8 + label -> conv1 3->4 k3 p1 -> bn1 BatchNorm (in place) -> scale1 Scale
bias_term (in place) -> relu1 (in place) -> pool1 MAX k2 s2 (8 -> 4) -> fc1 64->10 -> loss.
The layout of pytorch_cifar_vgg19_bn.prototxt, small.

Caffe BatchNorm (BVLC/caffe src/caffe/layers/batch_norm_layer.cpp; docs/semantics.md §4):
* TRAIN (use_global_stats unset, phase TRAIN): mean and biased variance over N*H*W per channel,
  y = (x - mean) / sqrt(var + eps), eps 1e-5. No affine (that is the Scale layer).
* Blobs after one TRAIN forward from zero: factor s = 0.999*0 + 1 = 1, mean accumulator = mean,
  variance accumulator = (m/(m-1)) * var with m = N*H*W (the unbiased estimate).
* Backward: dx = (dy - mean(dy) - mean(dy*y)*y) / sqrt(var + eps), means per channel over N*H*W.
* TEST (use_global_stats): mean = A_mean/s, var = A_var/s; y = (x - mean)/sqrt(var + eps).
torch.nn.functional.batch_norm(training=True, weight=None, bias=None) normalises identically (biased
variance, same eps); its autograd backward is the formula above. Both are checked here against
explicit re-statements.
Caffe Scale (scale_layer.cpp): y = x * gamma[c] + beta[c] (axis 1, num_axes 1, bias_term).
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
from make_conformance import caffe_pool_out, pool_margin, relu_margin, torch_ceil_pool_out  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "conformance_bn"

BATCH, IN_CHANNELS, SIZE, CHANNELS, CLASSES = 4, 3, 8, 4, 10
POOLED = caffe_pool_out(SIZE, 2, 2)
LABELS = [1, 4, 9, 0]
EPS = 1e-5
MOVING_AVERAGE_FRACTION = 0.999
FIRST_SEED = 1
DECISION_MARGIN_REL = 1e-4

# (name, type, bottom, top)
LAYERS = [
    ("data", "Input", None, "data"),
    ("conv1", "Convolution", "data", "conv1"),
    ("bn1", "BatchNorm", "conv1", "conv1"),
    ("scale1", "Scale", "conv1", "conv1"),
    ("relu1", "ReLU", "conv1", "conv1"),
    ("pool1", "Pooling", "conv1", "pool1"),
    ("fc1", "InnerProduct", "pool1", "fc1"),
    ("loss", "SoftmaxWithLoss", "fc1", "loss"),
]
LAYER_NAMES = [layer[0] for layer in LAYERS]


def make_inputs(seed: int):
    """Input N(0,1) plus a per-channel offset (2, -1, 0.5) so BatchNorm has a mean to remove;
    conv weights N(0, 2/fan_in), conv bias 0.5 N(0,1); Scale gamma 1 + 0.3 N(0,1), beta 0.3 N(0,1)
    (not the 1/0 defaults, so the affine is exercised); fc N(0, 2/fan_in), bias 0.1 N(0,1)."""
    rng = np.random.default_rng(seed)
    offsets = np.asarray([2.0, -1.0, 0.5]).reshape(1, 3, 1, 1)
    data = round_to_float32(rng.standard_normal((BATCH, IN_CHANNELS, SIZE, SIZE)) + offsets)
    labels = np.asarray(LABELS, dtype=np.float32)
    fc_in = CHANNELS * POOLED * POOLED
    params = {
        "conv1": [round_to_float32(rng.standard_normal((CHANNELS, IN_CHANNELS, 3, 3)) * math.sqrt(2.0 / 27)),
                  round_to_float32(rng.standard_normal(CHANNELS) * 0.5)],
        # Caffe BatchNorm blobs: mean accumulator (C), variance accumulator (C), factor (1); all 0.
        "bn1": [np.zeros(CHANNELS, np.float32), np.zeros(CHANNELS, np.float32), np.zeros(1, np.float32)],
        "scale1": [round_to_float32(1.0 + 0.3 * rng.standard_normal(CHANNELS)),
                   round_to_float32(0.3 * rng.standard_normal(CHANNELS))],
        "fc1": [round_to_float32(rng.standard_normal((CLASSES, fc_in)) * math.sqrt(2.0 / fc_in)),
                round_to_float32(rng.standard_normal(CLASSES) * 0.1)],
    }
    return data, labels, params


def forward(x, p, labels, bn_stats=None):
    """bn_stats None: TRAIN (batch statistics); else (mean, var) for TEST (global statistics)."""
    out = {}
    out["conv1"] = F.conv2d(x, p["conv1"][0], p["conv1"][1], padding=1)
    if bn_stats is None:
        out["bn1"] = F.batch_norm(out["conv1"], None, None, training=True, eps=EPS)
    else:
        mean, var = bn_stats
        out["bn1"] = (out["conv1"] - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + EPS)
    out["scale1"] = out["bn1"] * p["scale1"][0].view(1, -1, 1, 1) + p["scale1"][1].view(1, -1, 1, 1)
    out["relu1"] = F.relu(out["scale1"])
    out["pool1"] = F.max_pool2d(out["relu1"], 2, 2, ceil_mode=True)
    out["fc1"] = F.linear(out["pool1"].reshape(BATCH, -1), p["fc1"][0], p["fc1"][1])
    out["loss"] = F.cross_entropy(out["fc1"], labels.long(), reduction="mean").reshape(1)
    return out


def evaluate(data, labels, params, dtype):
    x = torch.tensor(data, dtype=dtype, requires_grad=True)
    p = {n: [torch.tensor(b, dtype=dtype, requires_grad=(n != "bn1")) for b in bs] for n, bs in params.items()}
    y = torch.tensor(labels, dtype=dtype)
    outs = forward(x, p, y)
    for t in outs.values():
        t.retain_grad()
    outs["loss"].sum().backward()
    fwd = {n: t.detach().numpy().astype(np.float64) for n, t in outs.items()}
    producer = {"data": x, **outs}
    bwd, previous = {}, "data"
    for name in LAYER_NAMES[1:]:
        bwd[name] = producer[previous].grad.detach().numpy().astype(np.float64)
        previous = name
    grads = {n: [b.grad.detach().numpy().astype(np.float64) for b in bs] for n, bs in p.items() if n != "bn1"}
    return fwd, bwd, grads


def prototxt() -> str:
    return "\n".join([
        "# BatchNorm + Scale conformance net (generated by scripts/reference/make_conformance_bn.py).",
        "# Run in phase TRAIN: bn1 then uses batch statistics (use_global_stats unset) and updates its",
        "# blobs. Weights (incl. bn1's three zero blobs) in weights.caffemodel.h5, values in expected.h5.",
        'name: "ConformanceBatchNorm"',
        "force_backward: true",
        "layer {", '  name: "data"', '  type: "Input"', '  top: "data"', '  top: "label"',
        "  input_param {", f"    shape {{ dim: {BATCH} dim: {IN_CHANNELS} dim: {SIZE} dim: {SIZE} }}",
        f"    shape {{ dim: {BATCH} }}", "  }", "}",
        "layer {", '  name: "conv1"', '  type: "Convolution"', '  bottom: "data"', '  top: "conv1"',
        "  convolution_param {", f"    num_output: {CHANNELS}", "    pad: 1", "    kernel_size: 3", "  }", "}",
        "layer {", '  name: "bn1"', '  type: "BatchNorm"', '  bottom: "conv1"', '  top: "conv1"', "}",
        "layer {", '  name: "scale1"', '  type: "Scale"', '  bottom: "conv1"', '  top: "conv1"',
        "  scale_param {", "    bias_term: true", "  }", "}",
        "layer {", '  name: "relu1"', '  type: "ReLU"', '  bottom: "conv1"', '  top: "conv1"', "}",
        "layer {", '  name: "pool1"', '  type: "Pooling"', '  bottom: "conv1"', '  top: "pool1"',
        "  pooling_param {", "    pool: MAX", "    kernel_size: 2", "    stride: 2", "  }", "}",
        "layer {", '  name: "fc1"', '  type: "InnerProduct"', '  bottom: "pool1"', '  top: "fc1"',
        "  inner_product_param {", f"    num_output: {CLASSES}", "  }", "}",
        "layer {", '  name: "loss"', '  type: "SoftmaxWithLoss"', '  bottom: "fc1"', '  bottom: "label"',
        '  top: "loss"', "}",
    ]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    assert POOLED == torch_ceil_pool_out(SIZE, 2, 2) == 4

    seed = FIRST_SEED
    while True:
        data, labels, params = make_inputs(seed)
        fwd, bwd, grads = evaluate(data, labels, params, torch.float64)
        pool_gap, zero_ties = pool_margin(fwd["relu1"], 2, 2, POOLED)
        margins = {"scale1": relu_margin(fwd["scale1"]), "pool1": pool_gap}
        if min(margins.values()) >= DECISION_MARGIN_REL:
            break
        print(f"seed {seed}: smallest decision margin {min(margins.values()):.2e}, drawing again")
        seed += 1

    # Re-state Caffe's BatchNorm forward, blob update and backward explicitly (float64).
    x = fwd["conv1"]
    m = BATCH * SIZE * SIZE
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean.reshape(1, -1, 1, 1)) ** 2).mean(axis=(0, 2, 3))
    y = (x - mean.reshape(1, -1, 1, 1)) / np.sqrt(var.reshape(1, -1, 1, 1) + EPS)
    assert np.max(np.abs(y - fwd["bn1"])) < 1e-12
    dy = bwd["scale1"]  # the diff scale1 writes into its bottom = bn1's top diff
    dx = (dy - dy.mean(axis=(0, 2, 3), keepdims=True)
          - (dy * y).mean(axis=(0, 2, 3), keepdims=True) * y) / np.sqrt(var.reshape(1, -1, 1, 1) + EPS)
    assert np.max(np.abs(dx - bwd["bn1"])) <= 1e-12 * max(1.0, np.max(np.abs(dx)))
    factor = MOVING_AVERAGE_FRACTION * 0.0 + 1.0
    mean_acc = MOVING_AVERAGE_FRACTION * 0.0 + mean
    var_acc = MOVING_AVERAGE_FRACTION * 0.0 + (m / (m - 1)) * var

    # TEST phase on the same input with the updated blobs: global mean = A_mean/s, var = A_var/s.
    with torch.no_grad():
        test = forward(torch.tensor(data, dtype=torch.float64),
                       {n: [torch.tensor(b, dtype=torch.float64) for b in bs] for n, bs in params.items()},
                       torch.tensor(labels, dtype=torch.float64),
                       bn_stats=(torch.tensor(mean_acc / factor), torch.tensor(var_acc / factor)))
    test = {n: t.numpy() for n, t in test.items()}
    test_margins = {"scale1": relu_margin(test["scale1"]),
                    "pool1": pool_margin(test["relu1"], 2, 2, POOLED)[0]}
    assert min(test_margins.values()) >= DECISION_MARGIN_REL, test_margins

    # Finite differences on every learnable blob and the input (BatchNorm couples the batch).
    rng = np.random.default_rng(seed + 1000)
    h, worst = 1e-6, 0.0

    def loss_at(d, p):
        with torch.no_grad():
            return float(forward(torch.tensor(d), {k: [torch.tensor(b) for b in v] for k, v in p.items()},
                                 torch.tensor(labels, dtype=torch.float64))["loss"][0])

    base_d = data.astype(np.float64)
    base_p = {k: [b.astype(np.float64) for b in v] for k, v in params.items()}
    targets = [("data", None, bwd["conv1"])] + [(n, i, g) for n, gs in grads.items() for i, g in enumerate(gs)]
    for name, index, grad in targets:
        scale = max(1.0, float(np.max(np.abs(grad))))
        for flat in rng.choice(grad.size, size=min(12, grad.size), replace=False):
            coord = np.unravel_index(flat, grad.shape)
            values = []
            for sign in (1.0, -1.0):
                d = base_d.copy()
                p = {k: [b.copy() for b in v] for k, v in base_p.items()}
                (d if index is None else p[name][index])[coord] += sign * h
                values.append(loss_at(d, p))
            worst = max(worst, abs((values[0] - values[1]) / (2 * h) - grad[coord]) / scale)
    assert worst < 1e-7, worst

    fwd32, bwd32, grads32 = evaluate(data, labels, params, torch.float32)

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    write_caffemodel_h5(args.out / "weights.caffemodel.h5", LAYER_NAMES, params)
    back = read_caffemodel_h5(args.out / "weights.caffemodel.h5")
    assert all(np.array_equal(a, b) for n in params for a, b in zip(back[n], params[n]))
    (args.out / "net.prototxt").write_text(prototxt())

    worst32 = 0.0
    with h5py.File(args.out / "expected.h5", "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_conformance_bn.py", seed).items():
            f.attrs[key] = value
        f.attrs["description"] = ("TRAIN-phase forward/backward of net.prototxt with weights.caffemodel.h5 on "
                                  "input/data, float64 from the float32-rounded inputs; bn_blobs/ = bn1's blobs "
                                  "after that forward; test/ = a TEST-phase forward with those blobs.")
        f.attrs["tolerance_rel"] = 1e-4
        f.attrs["finite_difference_max_error"] = worst
        for name, margin in {**margins, **{f"test_{k}": v for k, v in test_margins.items()}}.items():
            f.attrs[f"decision_margin_rel_{name}"] = margin
        f.attrs["exact_zero_ties_pool1"] = zero_ties
        f.create_dataset("input/data", data=data)
        f.create_dataset("input/label", data=labels)
        f.create_dataset("loss", data=fwd["loss"])
        f.create_dataset("logits", data=fwd["fc1"])
        blob_of = {n: top for n, _, _, top in LAYERS}
        bottom_of = {n: bottom for n, _, bottom, _ in LAYERS}
        for name in LAYER_NAMES[1:]:
            ds = f.create_dataset(f"forward/{name}", data=fwd[name])
            ds.attrs["blob"] = blob_of[name]
            ds.attrs["float32_torch_rel_error"] = rel(fwd32[name], fwd[name])
            ds = f.create_dataset(f"backward/{name}", data=bwd[name])
            ds.attrs["bottom_blob"] = bottom_of[name]
            ds.attrs["float32_torch_rel_error"] = rel(bwd32[name], bwd[name])
            worst32 = max(worst32, rel(fwd32[name], fwd[name]), rel(bwd32[name], bwd[name]))
            f.create_dataset(f"test/forward/{name}", data=test[name])
        for name, gs in grads.items():
            for index, g in enumerate(gs):
                if (name, index) == ("conv1", 1):
                    # A bias right before BatchNorm gets exactly zero gradient: BatchNorm's backward
                    # removes the per-channel mean of dy (sum over N,H,W of dx = 0 because sum y = 0),
                    # and the conv bias gradient is that sum. float64 leaves ~1e-16 of rounding,
                    # float32 ~1e-8: store the exact 0 and an absolute tolerance instead.
                    assert np.max(np.abs(g)) < 1e-12 * np.max(np.abs(gs[0])), g
                    ds = f.create_dataset(f"grad/{name}/{index}", data=np.zeros_like(g))
                    ds.attrs["tolerance_abs"] = 1e-4 * float(np.max(np.abs(gs[0])))
                    ds.attrs["float32_torch_max_abs"] = float(np.max(np.abs(grads32[name][index])))
                    continue
                ds = f.create_dataset(f"grad/{name}/{index}", data=g)
                ds.attrs["float32_torch_rel_error"] = rel(grads32[name][index], g)
                worst32 = max(worst32, rel(grads32[name][index], g))
        f.create_dataset("grad/data", data=bwd["conv1"])
        f.create_dataset("bn_blobs/bn1/0", data=mean_acc)
        f.create_dataset("bn_blobs/bn1/1", data=var_acc)
        f.create_dataset("bn_blobs/bn1/2", data=np.asarray([factor]))
        f.create_dataset("batch_stats/bn1/mean", data=mean)
        f.create_dataset("batch_stats/bn1/var", data=var)
        f.attrs["float32_torch_max_rel_error"] = worst32

    print(f"seed {seed}; loss {fwd['loss'][0]:.12f}; decision margins {margins} (test {test_margins}); "
          f"exact zero ties {zero_ties}; finite differences {worst:.2e}; float32 torch worst {worst32:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
