#!/usr/bin/env python3
"""Solver reference: 3 SGD iterations of a tiny net, Caffe's update and PyTorch's, in float64.

Writes, into Fixtures/reference/solver/ (or --out):
  net.prototxt             Input (data 8x6, label 8) - ip1 6->5 - relu1 - ip2 5->3 - SoftmaxWithLoss;
                           biases have param { lr_mult: 2 decay_mult: 0 }
  solver.prototxt          SGD, lr_policy step (stepsize 2, gamma 0.5), momentum 0.9,
                           weight_decay 0.01, max_iter 3
  weights.caffemodel.h5    initial weights (Caffe HDF5 snapshot, float32)
  data.h5                  data (8,6) float32, label (8) float32 (datasets named after the tops,
                           as Caffe's HDF5Data layer reads them); the same batch every iteration
  expected.h5              per iteration: loss, lr, weights after the update, history / momentum
                           buffers, the gradient the update saw; under caffe/ and torch/

Caffe's update (BVLC/caffe src/caffe/solvers/sgd_solver.cpp, src/caffe/solver.cpp; docs/semantics.md §5):
  rate      = base_lr * gamma ^ floor(iter / stepsize)            (lr_policy "step", iter = updates done)
  diff      = dloss/dw + weight_decay * decay_mult * w            (Regularize, L2)
  history   = momentum * history + rate * lr_mult * diff          (ComputeUpdateValue; history starts 0)
  w        -= history                                              (Net::Update)
PyTorch's (pytorch/pytorch torch/optim/sgd.py; docs/semantics.md §9), lr_mult/decay_mult as param groups:
  g   = dloss/dw + weight_decay_group * w
  buf = g on the first step, else momentum * buf + g               (dampening 0)
  w  -= lr_group * buf ;  StepLR(step_size=2, gamma=0.5) after each step
The two agree while the lr is constant (iterations 0 and 1) and differ from iteration 2, where the
lr halves: Caffe's history still carries the old rate, PyTorch rescales its whole buffer.
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
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "solver"

SEED = 20261127
SAMPLES = 8
FEATURES = 6
HIDDEN = 5
CLASSES = 3
LABELS = [0, 1, 2, 0, 1, 2, 1, 0]
ITERATIONS = 3
BASE_LR = 0.1
GAMMA = 0.5
STEPSIZE = 2
MOMENTUM = 0.9
WEIGHT_DECAY = 0.01
# (lr_mult, decay_mult) per blob index: weights default 1/1, biases 2/0.
MULTS = [(1.0, 1.0), (2.0, 0.0)]
LAYER_NAMES = ["data", "ip1", "relu1", "ip2", "loss"]
PARAM_LAYERS = ["ip1", "ip2"]
# As in make_conformance.py: a ReLU pre-activation closer to 0 than this fraction of the blob's
# RMS could flip sign under float32 rounding.
DECISION_MARGIN_REL = 1e-4


def caffe_step_rate(iteration: int) -> float:
    """BVLC/caffe solver GetLearningRate, policy "step"."""
    return BASE_LR * math.pow(GAMMA, math.floor(iteration / STEPSIZE))


def make_inputs() -> tuple[np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    rng = np.random.default_rng(SEED)
    data = round_to_float32(rng.standard_normal((SAMPLES, FEATURES)))
    labels = np.asarray(LABELS, dtype=np.float32)
    params = {}
    for name, (n_out, n_in) in (("ip1", (HIDDEN, FEATURES)), ("ip2", (CLASSES, HIDDEN))):
        weight = round_to_float32(rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in))
        bias = round_to_float32(rng.standard_normal(n_out) * 0.1)
        params[name] = [weight, bias]
    return data, labels, params


def loss_and_pre(x: torch.Tensor, labels: torch.Tensor, p: dict[str, list[torch.Tensor]]):
    pre = F.linear(x, p["ip1"][0], p["ip1"][1])
    logits = F.linear(F.relu(pre), p["ip2"][0], p["ip2"][1])
    # SoftmaxWithLoss, VALID normalisation without ignore_label = mean over the samples.
    return F.cross_entropy(logits, labels.long(), reduction="mean"), pre


def check_margin(pre: torch.Tensor, where: str) -> float:
    values = pre.detach().numpy()
    margin = float(np.min(np.abs(values)) / math.sqrt(np.mean(values**2)))
    if margin < DECISION_MARGIN_REL:
        raise AssertionError(f"{where}: a ReLU pre-activation is within {margin:.2e} of 0")
    return margin


def run_caffe(data, labels, params, dtype=torch.float64):
    """Caffe's SGD written out (float64 for the reference; float32 only to measure rounding)."""
    x = torch.tensor(data, dtype=dtype)
    y = torch.tensor(labels, dtype=dtype)
    w = {n: [torch.tensor(b, dtype=dtype) for b in bs] for n, bs in params.items()}
    history = {n: [torch.zeros_like(b) for b in bs] for n, bs in w.items()}
    record = {"loss": [], "lr": [], "margin": [], "weights": {}, "history": {}, "grad": {}, "loss_grad": {}, "update_norm": {}}
    for iteration in range(ITERATIONS):
        leaves = {n: [b.clone().requires_grad_(True) for b in bs] for n, bs in w.items()}
        loss, pre = loss_and_pre(x, y, leaves)
        record["margin"].append(check_margin(pre, f"caffe iteration {iteration}"))
        loss.backward()
        rate = caffe_step_rate(iteration)
        record["loss"].append(float(loss.detach()))
        record["lr"].append(rate)
        for name in PARAM_LAYERS:
            for index, (lr_mult, decay_mult) in enumerate(MULTS):
                key = (name, index)
                raw = leaves[name][index].grad.detach()
                diff = raw + WEIGHT_DECAY * decay_mult * w[name][index]
                history[name][index] = MOMENTUM * history[name][index] + rate * lr_mult * diff
                w[name][index] = w[name][index] - history[name][index]
                record["loss_grad"].setdefault(key, []).append(raw.numpy().astype(np.float64))
                record["grad"].setdefault(key, []).append(diff.numpy().astype(np.float64))
                record["history"].setdefault(key, []).append(history[name][index].numpy().astype(np.float64))
                record["weights"].setdefault(key, []).append(w[name][index].numpy().astype(np.float64))
                record["update_norm"].setdefault(key, []).append(float(torch.linalg.vector_norm(history[name][index].double())))
    return record


def run_torch(data, labels, params):
    """torch.optim.SGD + StepLR, float64, with lr_mult/decay_mult as two parameter groups."""
    x = torch.tensor(data, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    p = {n: [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs] for n, bs in params.items()}
    groups = []
    for index, (lr_mult, decay_mult) in enumerate(MULTS):
        groups.append({
            "params": [p[n][index] for n in PARAM_LAYERS],
            "lr": BASE_LR * lr_mult,
            "weight_decay": WEIGHT_DECAY * decay_mult,
        })
    optimizer = torch.optim.SGD(groups, lr=BASE_LR, momentum=MOMENTUM, dampening=0.0, nesterov=False)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=STEPSIZE, gamma=GAMMA)
    # Independent re-statement of torch's rule, to check the optimizer does what §9 says.
    shadow_w = {n: [b.detach().clone() for b in bs] for n, bs in p.items()}
    shadow_buf: dict[tuple[str, int], torch.Tensor] = {}
    record = {"loss": [], "lr": [], "lr_bias": [], "margin": [], "weights": {}, "momentum_buffer": {}, "grad": {}}
    for iteration in range(ITERATIONS):
        optimizer.zero_grad(set_to_none=True)
        loss, pre = loss_and_pre(x, y, p)
        record["margin"].append(check_margin(pre, f"torch iteration {iteration}"))
        loss.backward()
        lrs = [group["lr"] for group in optimizer.param_groups]
        record["loss"].append(float(loss.detach()))
        record["lr"].append(lrs[0])
        record["lr_bias"].append(lrs[1])
        for name in PARAM_LAYERS:
            for index, (lr_mult, decay_mult) in enumerate(MULTS):
                key = (name, index)
                g = p[name][index].grad.detach() + WEIGHT_DECAY * decay_mult * shadow_w[name][index]
                shadow_buf[key] = g.clone() if iteration == 0 else MOMENTUM * shadow_buf[key] + g
                shadow_w[name][index] = shadow_w[name][index] - lrs[index] * shadow_buf[key]
                record["grad"].setdefault(key, []).append(g.numpy().copy())
        optimizer.step()
        scheduler.step()
        for name in PARAM_LAYERS:
            for index in range(len(MULTS)):
                key = (name, index)
                tensor = p[name][index]
                buf = optimizer.state[tensor]["momentum_buffer"]
                assert torch.allclose(tensor.detach(), shadow_w[name][index], rtol=1e-14, atol=1e-15), key
                assert torch.allclose(buf, shadow_buf[key], rtol=1e-14, atol=1e-15), key
                record["weights"].setdefault(key, []).append(tensor.detach().numpy().copy())
                record["momentum_buffer"].setdefault(key, []).append(buf.numpy().copy())
    return record


def net_prototxt() -> str:
    param_specs = ["  param { lr_mult: 1 decay_mult: 1 }", "  param { lr_mult: 2 decay_mult: 0 }"]
    lines = [
        "# Solver reference net (generated by scripts/reference/make_solver_reference.py).",
        "# Weights come from weights.caffemodel.h5 (pass it with --weights); data from data.h5.",
        'name: "SolverReferenceTiny"',
        "layer {",
        '  name: "data"',
        '  type: "Input"',
        '  top: "data"',
        '  top: "label"',
        "  input_param {",
        f"    shape {{ dim: {SAMPLES} dim: {FEATURES} }}",
        f"    shape {{ dim: {SAMPLES} }}",
        "  }",
        "}",
    ]
    for name, bottom, n_out in (("ip1", "data", HIDDEN), ("ip2", "ip1", CLASSES)):
        lines += ["layer {", f'  name: "{name}"', '  type: "InnerProduct"', f'  bottom: "{bottom}"',
                  f'  top: "{name}"', *param_specs, "  inner_product_param {", f"    num_output: {n_out}",
                  "  }", "}"]
        if name == "ip1":
            lines += ["layer {", '  name: "relu1"', '  type: "ReLU"', '  bottom: "ip1"', '  top: "ip1"', "}"]
    lines += ["layer {", '  name: "loss"', '  type: "SoftmaxWithLoss"', '  bottom: "ip2"', '  bottom: "label"',
              '  top: "loss"', "}"]
    return "\n".join(lines) + "\n"


def solver_prototxt() -> str:
    return "\n".join([
        "# Solver reference (generated by scripts/reference/make_solver_reference.py).",
        "# lr per iteration: 0.1, 0.1, 0.05 (step policy: base_lr * gamma^floor(iter/stepsize)).",
        'net: "net.prototxt"',
        'type: "SGD"',
        f"base_lr: {BASE_LR}",
        'lr_policy: "step"',
        f"gamma: {GAMMA}",
        f"stepsize: {STEPSIZE}",
        f"momentum: {MOMENTUM}",
        f"weight_decay: {WEIGHT_DECAY}",
        'regularization_type: "L2"',
        f"max_iter: {ITERATIONS}",
        "display: 1",
        "snapshot_after_train: false",
        "random_seed: 1",
        "solver_mode: CPU",
    ]) + "\n"


def stack(values: list[np.ndarray]) -> np.ndarray:
    return np.stack(values, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    data, labels, params = make_inputs()
    caffe = run_caffe(data, labels, params)
    torch_run = run_torch(data, labels, params)
    # What float32 arithmetic reaches on the same recipe: per blob, max |w32 - w64| / max |w64|.
    caffe32 = run_caffe(data, labels, params, torch.float32)
    float32_error = 0.0
    for group in ("weights", "history", "grad"):
        for key, values in caffe[group].items():
            for a, b in zip(caffe32[group][key], values):
                float32_error = max(float32_error, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    float32_loss_error = max(abs(a - b) / abs(b) for a, b in zip(caffe32["loss"], caffe["loss"]))

    # Iterations 0 and 1 (constant lr): both styles must give the same weights; iteration 2 must not.
    differences = []
    for iteration in range(ITERATIONS):
        worst = 0.0
        for key in caffe["weights"]:
            a = caffe["weights"][key][iteration]
            b = torch_run["weights"][key][iteration]
            worst = max(worst, float(np.max(np.abs(a - b))))
        differences.append(worst)
    assert differences[0] < 1e-15 and differences[1] < 1e-14, differences
    assert differences[2] > 1e-6, differences
    assert np.allclose(caffe["lr"], [0.1, 0.1, 0.05], rtol=0, atol=1e-17)
    assert np.allclose(torch_run["lr"], caffe["lr"], rtol=0, atol=1e-17)
    assert np.allclose(torch_run["lr_bias"], [2 * r for r in caffe["lr"]], rtol=0, atol=1e-17)
    assert np.allclose(torch_run["loss"][:2], caffe["loss"][:2], rtol=1e-14, atol=0)

    snapshot = args.out / "weights.caffemodel.h5"
    write_caffemodel_h5(snapshot, LAYER_NAMES, params)
    read_back = read_caffemodel_h5(snapshot)
    for name, blobs in params.items():
        for a, b in zip(read_back[name], blobs):
            assert a.dtype == np.float32 and np.array_equal(a, b)
    (args.out / "net.prototxt").write_text(net_prototxt())
    (args.out / "solver.prototxt").write_text(solver_prototxt())
    with h5py.File(args.out / "data.h5", "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("label", data=labels)

    with h5py.File(args.out / "expected.h5", "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_solver_reference.py", SEED).items():
            f.attrs[key] = value
        f.attrs["description"] = (
            "3 SGD iterations of net.prototxt/solver.prototxt from weights.caffemodel.h5 on data.h5, "
            "float64 from the float32-rounded start; caffe/ = Caffe's momentum form, torch/ = "
            "torch.optim.SGD + StepLR. Arrays are stacked over iterations (axis 0)."
        )
        for key, value in (("base_lr", BASE_LR), ("gamma", GAMMA), ("stepsize", STEPSIZE),
                           ("momentum", MOMENTUM), ("weight_decay", WEIGHT_DECAY), ("iterations", ITERATIONS)):
            f.attrs[key] = value
        f.attrs["lr_policy"] = "step"
        f.attrs["lr_mult"] = np.asarray([m[0] for m in MULTS])
        f.attrs["decay_mult"] = np.asarray([m[1] for m in MULTS])
        f.attrs["caffe_minus_torch_max_abs_weight_difference"] = np.asarray(differences)
        f.attrs["float32_caffe_max_rel_error"] = float32_error
        f.attrs["float32_caffe_loss_rel_error"] = float32_loss_error
        f.attrs["relu_min_margin_rel"] = min(caffe["margin"] + torch_run["margin"])
        for name, blobs in params.items():
            for index, blob in enumerate(blobs):
                f.create_dataset(f"initial/{name}/{index}", data=blob)
        f.create_dataset("caffe/loss", data=np.asarray(caffe["loss"]))
        f.create_dataset("caffe/lr", data=np.asarray(caffe["lr"]))
        f.create_dataset("torch/loss", data=np.asarray(torch_run["loss"]))
        f.create_dataset("torch/lr", data=np.asarray(torch_run["lr"]))
        f.create_dataset("torch/lr_bias", data=np.asarray(torch_run["lr_bias"]))
        for (name, index) in caffe["weights"]:
            for group in ("weights", "history", "grad", "loss_grad"):
                f.create_dataset(f"caffe/{group}/{name}/{index}", data=stack(caffe[group][(name, index)]))
            f.create_dataset(f"caffe/update_norm/{name}/{index}", data=np.asarray(caffe["update_norm"][(name, index)]))
            for group in ("weights", "momentum_buffer", "grad"):
                f.create_dataset(f"torch/{group}/{name}/{index}", data=stack(torch_run[group][(name, index)]))

    print("caffe loss", caffe["loss"], "lr", caffe["lr"])
    print("torch loss", torch_run["loss"], "lr", torch_run["lr"], "bias lr", torch_run["lr_bias"])
    print("max |w_caffe - w_torch| after each iteration", differences)
    print(f"float32 Caffe recipe vs float64: blobs {float32_error:.2e}, loss {float32_loss_error:.2e}; "
          f"smallest ReLU margin {min(caffe['margin'] + torch_run['margin']):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
