#!/usr/bin/env python3
"""Adaptive-solver reference: 3 iterations of Caffe's Nesterov, AdaGrad, RMSProp, AdaDelta and Adam
on the tiny net of make_solver_reference.py, Caffe's formulas restated in float64 numpy.

Writes, into Fixtures/reference/solver_adaptive/ (or --out):
  net.prototxt, weights.caffemodel.h5, data.h5   the same net, start and batch as Fixtures/reference/solver/
  <type>.prototxt                                one solver per type (below)
  expected.h5                                    per type: loss, lr, and per param the weights after each
                                                 update, every history set, the regularised gradient

The loss gradient comes from torch float64 autograd (the forward of make_solver_reference.py); the
updates are numpy float64 written from Caffe's source, not from initdiag's code. With g the
gradient after clipping and weight decay (diff = dloss/dw + weight_decay * decay_mult * w),
local_rate = rate * lr_mult, iteration i = updates already applied:

  Nesterov (src/caffe/solvers/nesterov_solver.cpp):
    h_new = momentum * h + local_rate * g ;  step = (1 + momentum) * h_new - momentum * h
  AdaGrad (src/caffe/solvers/adagrad_solver.cpp):
    h += g^2 ;  step = local_rate * g / (sqrt(h) + delta)
  RMSProp (src/caffe/solvers/rmsprop_solver.cpp):
    h = rms_decay * h + (1 - rms_decay) * g^2 ;  step = local_rate * g / (sqrt(h) + delta)
  AdaDelta (src/caffe/solvers/adadelta_solver.cpp):
    h = momentum * h + (1 - momentum) * g^2 ;  u = g * sqrt((h2 + delta) / (h + delta))
    h2 = momentum * h2 + (1 - momentum) * u^2 ;  step = local_rate * u
  Adam (src/caffe/solvers/adam_solver.cpp), t = i + 1, beta1 = momentum, beta2 = momentum2:
    m = beta1 * m + (1 - beta1) * g ;  v = beta2 * v + (1 - beta2) * g^2
    step = local_rate * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + delta)
  w -= step   (Net::Update)

Every float field of the solver (base_lr, momentum, momentum2, delta, rms_decay, gamma, power,
weight_decay, clip_gradients) is taken at its float32 value, as caffe.proto stores it; the
arithmetic on those values is float64.

Clipping (SGDSolver::ClipGradients): if the L2 norm of all raw gradients exceeds clip_gradients,
every gradient is scaled by clip_gradients / norm before the weight decay. lr policies:
fixed = base_lr; step = base_lr * gamma^floor(i / stepsize); inv = base_lr * (1 + gamma * i)^-power.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from caffe_h5 import provenance_attrs, write_caffemodel_h5  # noqa: E402
from make_solver_reference import (  # noqa: E402
    LAYER_NAMES, MULTS, PARAM_LAYERS, SEED, check_margin, loss_and_pre, make_inputs, net_prototxt,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "solver_adaptive"
ITERATIONS = 3
WEIGHT_DECAY = 0.01

# Each solver's fields; caffe.proto defaults (delta 1e-8, momentum2 0.999, rms_decay 0.99) where omitted.
SOLVERS: dict[str, dict[str, object]] = {
    "Nesterov": {"base_lr": 0.1, "lr_policy": "step", "gamma": 0.5, "stepsize": 2, "momentum": 0.9},
    "AdaGrad": {"base_lr": 0.05, "lr_policy": "fixed"},
    "RMSProp": {"base_lr": 0.01, "lr_policy": "inv", "gamma": 0.1, "power": 0.75, "rms_decay": 0.98,
                "clip_gradients": 0.5},
    "AdaDelta": {"base_lr": 1.0, "lr_policy": "fixed", "momentum": 0.95, "delta": 1e-6},
    "Adam": {"base_lr": 0.01, "lr_policy": "step", "gamma": 0.5, "stepsize": 2, "momentum": 0.9,
             "momentum2": 0.999},
}
HISTORY_SETS = {"Nesterov": ["history"], "AdaGrad": ["history"], "RMSProp": ["history"],
                "AdaDelta": ["history", "update_history"], "Adam": ["m", "v"]}


def f32(x: float) -> float:
    """caffe.proto's float fields hold the float32 value of what the prototxt says (0.999 is
    0.99900001287…, so Caffe's 1 - momentum2 is 1.29e-5 off 0.001): the reference uses it."""
    return float(np.float32(x))


def field(cfg, name):
    defaults = {"delta": 1e-8, "momentum2": 0.999, "rms_decay": 0.99, "momentum": 0.0, "gamma": 0.0,
                "power": 0.0, "stepsize": 0, "clip_gradients": -1.0}
    value = cfg.get(name, defaults.get(name))
    return value if name == "stepsize" else f32(value)


def rate(cfg, i: int) -> float:
    policy = cfg["lr_policy"]
    base = f32(cfg["base_lr"])
    if policy == "fixed":
        return base
    if policy == "step":
        return base * math.pow(field(cfg, "gamma"), math.floor(i / field(cfg, "stepsize")))
    if policy == "inv":
        return base * math.pow(1 + field(cfg, "gamma") * i, -field(cfg, "power"))
    raise ValueError(policy)


def gradients(data, labels, w, dtype=torch.float64):
    x = torch.tensor(data, dtype=dtype)
    y = torch.tensor(labels, dtype=dtype)
    leaves = {n: [torch.tensor(b, dtype=dtype, requires_grad=True) for b in bs] for n, bs in w.items()}
    loss, pre = loss_and_pre(x, y, leaves)
    margin = check_margin(pre, "forward")
    loss.backward()
    grads = {n: [b.grad.detach().numpy().astype(np.float64) for b in bs] for n, bs in leaves.items()}
    return float(loss.detach()), grads, margin


def run(solver: str, data, labels, params, dtype=np.float64):
    """The solver's trajectory (dtype float64 for the fixture; float32 only to measure rounding)."""
    cfg = SOLVERS[solver]
    w = {n: [np.asarray(b, dtype=dtype) for b in bs] for n, bs in params.items()}
    sets = HISTORY_SETS[solver]
    hist = {s: {n: [np.zeros_like(b) for b in bs] for n, bs in w.items()} for s in sets}
    rec = {"loss": [], "lr": [], "margin": [], "clipped": [], "weights": {}, "grad": {}, "history": {}}
    mom = field(cfg, "momentum")
    delta = field(cfg, "delta")
    for i in range(ITERATIONS):
        loss, raw, margin = gradients(data, labels, {n: [b.astype(np.float64) for b in bs] for n, bs in w.items()},
                                      torch.float64 if dtype == np.float64 else torch.float32)
        raw = {n: [g.astype(dtype) for g in gs] for n, gs in raw.items()}
        r = rate(cfg, i)
        rec["loss"].append(loss)
        rec["lr"].append(r)
        rec["margin"].append(margin)
        clip = field(cfg, "clip_gradients")
        norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for gs in raw.values() for g in gs))
        scale = clip / norm if clip >= 0 and norm > clip else 1.0
        rec["clipped"].append(scale != 1.0)
        for name in PARAM_LAYERS:
            for index, (lr_mult, decay_mult) in enumerate(MULTS):
                key = (name, index)
                g = raw[name][index] * dtype(scale) + dtype(f32(WEIGHT_DECAY) * decay_mult) * w[name][index]
                lr = dtype(r * lr_mult)
                h = hist[sets[0]][name][index]
                if solver == "Nesterov":
                    new = dtype(mom) * h + lr * g
                    step = dtype(1 + mom) * new - dtype(mom) * h
                    hist["history"][name][index] = new
                elif solver == "AdaGrad":
                    h = h + g * g
                    hist["history"][name][index] = h
                    step = lr * g / (np.sqrt(h) + dtype(delta))
                elif solver == "RMSProp":
                    d = dtype(field(cfg, "rms_decay"))
                    h = d * h + (dtype(1) - d) * g * g
                    hist["history"][name][index] = h
                    step = lr * g / (np.sqrt(h) + dtype(delta))
                elif solver == "AdaDelta":
                    h2 = hist["update_history"][name][index]
                    h = dtype(mom) * h + dtype(1 - mom) * g * g
                    u = g * np.sqrt((h2 + dtype(delta)) / (h + dtype(delta)))
                    hist["history"][name][index] = h
                    hist["update_history"][name][index] = dtype(mom) * h2 + dtype(1 - mom) * u * u
                    step = lr * u
                elif solver == "Adam":
                    b1, b2, t = mom, field(cfg, "momentum2"), i + 1
                    m = dtype(b1) * h + dtype(1 - b1) * g
                    v = dtype(b2) * hist["v"][name][index] + dtype(1 - b2) * g * g
                    hist["m"][name][index], hist["v"][name][index] = m, v
                    correction = math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                    step = lr * dtype(correction) * m / (np.sqrt(v) + dtype(delta))
                else:
                    raise ValueError(solver)
                w[name][index] = w[name][index] - step
                rec["grad"].setdefault(key, []).append(g.astype(np.float64))
                rec["weights"].setdefault(key, []).append(w[name][index].astype(np.float64))
                for s in sets:
                    rec["history"].setdefault((s, name, index), []).append(hist[s][name][index].astype(np.float64))
    return rec


def solver_prototxt(solver: str) -> str:
    cfg = SOLVERS[solver]
    lines = [f"# {solver} reference (generated by scripts/reference/make_adaptive_solver_reference.py).",
             'net: "net.prototxt"', f'type: "{solver}"']
    for key, value in cfg.items():
        lines.append(f'{key}: "{value}"' if isinstance(value, str) else f"{key}: {value}")
    lines += [f"weight_decay: {WEIGHT_DECAY}", 'regularization_type: "L2"', f"max_iter: {ITERATIONS}",
              "display: 1", "snapshot_after_train: false", "random_seed: 1", "solver_mode: CPU"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    data, labels, params = make_inputs()

    write_caffemodel_h5(args.out / "weights.caffemodel.h5", LAYER_NAMES, params)
    (args.out / "net.prototxt").write_text(net_prototxt())
    with h5py.File(args.out / "data.h5", "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("label", data=labels)

    with h5py.File(args.out / "expected.h5", "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_adaptive_solver_reference.py", SEED).items():
            f.attrs[key] = value
        f.attrs["description"] = (
            "3 iterations of each <type>.prototxt on net.prototxt from weights.caffemodel.h5 on data.h5, "
            "Caffe's update formulas in float64 from the float32-rounded start. Under <type>/: loss, lr, "
            "weights/<layer>/<blob>, grad/<layer>/<blob>, history/<set>/<layer>/<blob>, stacked over iterations.")
        for solver in SOLVERS:
            (args.out / f"{solver.lower()}.prototxt").write_text(solver_prototxt(solver))
            rec = run(solver, data, labels, params)
            rec32 = run(solver, data, labels, params, np.float32)
            # What float32 arithmetic reaches on the same recipe (per slice: max|Δ| / max|w64|).
            err = 0.0
            for key, values in rec["weights"].items():
                for a, b in zip(rec32["weights"][key], values):
                    err = max(err, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
            if err > 2e-6:
                raise AssertionError(f"{solver}: float32 recipe is {err:.2e} from float64; the fixture is ill-conditioned")
            if solver == "RMSProp" and not any(rec["clipped"]):
                raise AssertionError("RMSProp: clip_gradients never triggered")
            g = f.create_group(solver)
            g.attrs["float32_max_rel_error"] = err
            g.attrs["clipped"] = np.asarray(rec["clipped"], dtype=np.int8)
            g.attrs["history_sets"] = np.asarray(HISTORY_SETS[solver], dtype=h5py.string_dtype())
            g.attrs["relu_min_margin_rel"] = min(rec["margin"])
            g.create_dataset("loss", data=np.asarray(rec["loss"]))
            g.create_dataset("lr", data=np.asarray(rec["lr"]))
            for (name, index), values in rec["weights"].items():
                g.create_dataset(f"weights/{name}/{index}", data=np.stack(values))
                g.create_dataset(f"grad/{name}/{index}", data=np.stack(rec["grad"][(name, index)]))
            for (s, name, index), values in rec["history"].items():
                g.create_dataset(f"history/{s}/{name}/{index}", data=np.stack(values))
            print(f"{solver}: loss {rec['loss']}, lr {rec['lr']}, clipped {rec['clipped']}, "
                  f"float32 vs float64 {err:.2e}, ReLU margin {min(rec['margin']):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
