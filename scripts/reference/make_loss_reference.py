#!/usr/bin/env python3
"""Loss-layer reference: forward and backward of Caffe's loss layers in float64.

Writes Fixtures/reference/loss/expected.h5 (or --out DIR): one group per case, holding
  x0, x1[, x2]   the bottoms (float32-rounded values, stored as float64)
  loss           the loss (scalar, float64)
  grad0[, grad1] d(loss_weight * loss)/d bottom, for the bottoms that take a gradient
and attributes: `type` (the Caffe layer type) plus the layer's parameters as the test builds them
(loss_weight, normalization, ignore_label, margin, legacy_version, norm, axis, h_source).

References (float64, inputs rounded to float32 first, as the float32 engine sees them):
  EuclideanLoss            F.mse_loss(a, b, reduction="sum") / (2 N), autograd for both bottoms
  SigmoidCrossEntropyLoss  F.binary_cross_entropy_with_logits(x, t, weight=mask, reduction="sum")
                           / normaliser (default BATCH_SIZE = N, as Caffe's layer), autograd
  MultinomialLogisticLoss  F.nll_loss(log(max(p, 1e-20)), y, reduction="sum") / N, autograd
  HingeLoss                numpy: Caffe's one-vs-all hinge sum_j max(0, 1 + delta_ij x_ij)[^2] / N
                           (delta = -1 at the label), which is not F.multi_margin_loss (that one is
                           sum_{j != y} max(0, 1 - x_y + x_j)^p / C); gradient by torch autograd
                           of the same formula; the script checks the difference from
                           multi_margin_loss is real
  ContrastiveLoss          numpy: Caffe's formula (contrastive_loss_layer.cpp), the gradient with
                           Caffe's (d + 1e-4) guard; checked against autograd of the exact loss
  InfogainLoss             numpy: softmax over axis, -sum H[label, l] log p_l / normaliser, the
                           gradient p * rowsum(H)[label] - H[label, :]; checked against autograd

Caffe sources: BVLC/caffe src/caffe/layers/{euclidean,sigmoid_cross_entropy,
multinomial_logistic,hinge,contrastive,infogain}_loss_layer.cpp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from caffe_h5 import provenance_attrs  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "loss"
SEED = 20261202

torch.set_default_dtype(torch.float64)


def f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def normaliser(mode: str, outer: int, inner: int, valid: int) -> float:
    n = {"FULL": outer * inner, "VALID": valid, "BATCH_SIZE": outer, "NONE": 1}[mode]
    return float(max(1, n))


def euclidean(rng, shape, lw):
    a = f32(rng.uniform(-1, 1, shape))
    b = f32(rng.uniform(-1, 1, shape))
    ta, tb = t(a, True), t(b, True)
    loss = F.mse_loss(ta, tb, reduction="sum") / (2 * shape[0])
    (lw * loss).backward()
    return {"x0": a, "x1": b, "loss": loss.item(), "grad0": ta.grad.numpy(), "grad1": tb.grad.numpy()}, {}


def sigmoid_ce(rng, shape, lw, mode, ignore):
    x = f32(rng.uniform(-6, 6, shape))
    tgt = f32(rng.uniform(0, 1, shape))
    tgt[rng.uniform(0, 1, shape) < 0.3] = 1.0
    tgt[rng.uniform(0, 1, shape) < 0.2] = 0.0
    if ignore is not None:
        tgt[rng.uniform(0, 1, shape) < 0.25] = float(ignore)
    mask = np.ones(shape) if ignore is None else (np.trunc(tgt) != ignore).astype(np.float64)
    tx = t(x, True)
    target = np.where(mask > 0, tgt, 0.0)
    total = F.binary_cross_entropy_with_logits(tx, t(target), weight=t(mask), reduction="sum")
    outer, inner = shape[0], int(np.prod(shape[1:]))
    loss = total / normaliser(mode or "BATCH_SIZE", outer, inner, int(mask.sum()))
    (lw * loss).backward()
    attrs = {} if mode is None else {"normalization": mode}
    if ignore is not None:
        attrs["ignore_label"] = ignore
    return {"x0": x, "x1": tgt, "loss": loss.item(), "grad0": tx.grad.numpy()}, attrs


def multinomial(rng, n, c, lw, tiny=False):
    logits = rng.normal(0, 1.5, (n, c))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, c, n)
    if tiny:
        p[0, y[0]] = 1e-30  # below kLOG_THRESHOLD: clamped to 1e-20, gradient -w/N / 1e-20
    p = f32(p)
    tp = t(p, True)
    loss = F.nll_loss(torch.log(torch.clamp(tp, min=1e-20)), torch.tensor(y), reduction="sum") / n
    (lw * loss).backward()
    grad = tp.grad.numpy().copy()
    if tiny:
        # torch.clamp passes no gradient below the bound; Caffe's max() keeps -w/N / threshold.
        grad[0, y[0]] = -lw / n / np.float64(np.float32(1e-20))
    return {"x0": p, "x1": y.astype(np.float64), "loss": loss.item(), "grad0": grad}, {}


def hinge(rng, n, c, lw, norm):
    x = f32(rng.uniform(-2, 2, (n, c)))
    # Keep every 1 +/- x away from the hinge's kink for the finite-difference side of the tests.
    x = np.where(np.abs(np.abs(x) - 1) < 0.05, x * 0.8, x)
    x = f32(x)
    y = rng.integers(0, c, n)
    delta = np.ones((n, c))
    delta[np.arange(n), y] = -1
    tx = t(x, True)
    m = torch.clamp(1 + t(delta) * tx, min=0)
    loss = (m.sum() if norm == "L1" else (m * m).sum()) / n
    (lw * loss).backward()
    margins = np.maximum(0, 1 + delta * x)
    ref = (margins.sum() if norm == "L1" else (margins**2).sum()) / n
    assert abs(ref - loss.item()) < 1e-12
    mm = F.multi_margin_loss(t(x), torch.tensor(y), p=1 if norm == "L1" else 2, reduction="sum").item() / n
    assert abs(mm - ref) > 1e-3, "Caffe's hinge equals multi_margin_loss here: pick other inputs"
    return {"x0": x, "x1": y.astype(np.float64), "loss": ref, "grad0": tx.grad.numpy()}, {"norm": norm}


def contrastive(rng, n, c, lw, margin, legacy):
    a = f32(rng.uniform(-1, 1, (n, c)) * 0.6)
    b = f32(rng.uniform(-1, 1, (n, c)) * 0.6)
    y = (rng.uniform(0, 1, n) < 0.5).astype(np.float64)
    y[0], y[1] = 1, 0
    d = a - b
    dsq = (d * d).sum(1)
    dist = np.sqrt(dsq)
    if legacy:
        per = np.where(y != 0, dsq, np.maximum(margin - dsq, 0))
    else:
        per = np.where(y != 0, dsq, np.maximum(margin - dist, 0) ** 2)
    loss = per.sum() / n / 2
    alpha = lw / n
    g = np.zeros_like(d)
    for j in range(n):
        if y[j] != 0:
            g[j] = alpha * d[j]
        else:
            if legacy:
                mdist, beta = margin - dsq[j], -alpha
            else:
                mdist = margin - dist[j]
                beta = -alpha * mdist / (dist[j] + 1e-4)
            g[j] = beta * d[j] if mdist > 0 else 0
    # Self-check against autograd of the exact loss (Caffe's 1e-4 guard differs by ~1e-4/d).
    ta, tb = t(a, True), t(b, True)
    td = ta - tb
    tsq = (td * td).sum(1)
    ty = t(y)
    if legacy:
        tper = ty * tsq + (1 - ty) * torch.clamp(margin - tsq, min=0)
    else:
        tper = ty * tsq + (1 - ty) * torch.clamp(margin - torch.sqrt(tsq), min=0) ** 2
    tloss = tper.sum() / n / 2
    (lw * tloss).backward()
    assert abs(tloss.item() - loss) < 1e-12
    assert np.max(np.abs(ta.grad.numpy() - g)) < 1e-3 * max(1.0, np.abs(g).max())
    assert np.max(np.abs(tb.grad.numpy() + g)) < 1e-3 * max(1.0, np.abs(g).max())
    attrs = {"margin": margin, "legacy_version": int(legacy)}
    return {"x0": a, "x1": b, "x2": y, "loss": loss, "grad0": g, "grad1": -g}, attrs


def infogain(rng, shape, axis, lw, mode, ignore, h_source):
    x = f32(rng.uniform(-3, 3, shape))
    c = shape[axis]
    outer = int(np.prod(shape[:axis]))
    inner = int(np.prod(shape[axis + 1:]))
    y = rng.integers(0, c, outer * inner).astype(np.float64)
    if ignore is not None:
        y[1] = ignore
        y[-1] = ignore
    h = f32(rng.uniform(0, 1, (c, c)) + np.eye(c))
    xr = x.reshape(outer, c, inner)
    p = np.exp(xr - xr.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = 0.0
    g = np.zeros_like(xr)
    valid = 0
    for i in range(outer):
        for j in range(inner):
            label = int(y[i * inner + j])
            if ignore is not None and label == ignore:
                continue
            loss -= (h[label] * np.log(np.maximum(p[i, :, j], 1e-20))).sum()
            g[i, :, j] = p[i, :, j] * h[label].sum() - h[label]
            valid += 1
    norm = normaliser(mode or "VALID", outer, inner, valid)
    loss /= norm
    g *= lw / norm
    # Autograd check.
    tx = t(x, True)
    tp = torch.softmax(tx.reshape(outer, c, inner), dim=1)
    total = 0
    for i in range(outer):
        for j in range(inner):
            label = int(y[i * inner + j])
            if ignore is not None and label == ignore:
                continue
            total = total - (t(h[label]) * torch.log(tp[i, :, j])).sum()
    tl = total / norm
    (lw * tl).backward()
    assert abs(tl.item() - loss) < 1e-12
    assert np.max(np.abs(tx.grad.numpy().reshape(g.shape) - g)) < 1e-12
    attrs = {"axis": axis}
    if mode is not None:
        attrs["normalization"] = mode
    if ignore is not None:
        attrs["ignore_label"] = ignore
    out = {"x0": x, "x1": y.reshape(shape[:axis] + shape[axis + 1:]), "loss": loss, "grad0": g.reshape(shape)}
    if h_source:
        out["H"] = h  # the test writes it to a binary BlobProto and names it in infogain_loss_param.source
        attrs["h_source"] = 1
    else:
        out["x2"] = h
    return out, attrs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    cases = {
        "euclidean_4d": ("EuclideanLoss", 1.0, lambda lw: euclidean(rng, (4, 3, 2, 2), lw)),
        "euclidean_lw": ("EuclideanLoss", 0.5, lambda lw: euclidean(rng, (5, 7), lw)),
        "sigmoid_ce_default": ("SigmoidCrossEntropyLoss", 1.0, lambda lw: sigmoid_ce(rng, (4, 6), lw, None, None)),
        "sigmoid_ce_valid_ignore": ("SigmoidCrossEntropyLoss", 1.0, lambda lw: sigmoid_ce(rng, (3, 2, 4), lw, "VALID", -1)),
        "sigmoid_ce_full_lw": ("SigmoidCrossEntropyLoss", 2.0, lambda lw: sigmoid_ce(rng, (5, 3), lw, "FULL", None)),
        "multinomial": ("MultinomialLogisticLoss", 1.0, lambda lw: multinomial(rng, 6, 5, lw)),
        "multinomial_clamp_lw": ("MultinomialLogisticLoss", 0.25, lambda lw: multinomial(rng, 4, 3, lw, tiny=True)),
        "hinge_l1": ("HingeLoss", 1.0, lambda lw: hinge(rng, 6, 4, lw, "L1")),
        "hinge_l2_lw": ("HingeLoss", 3.0, lambda lw: hinge(rng, 5, 7, lw, "L2")),
        "contrastive": ("ContrastiveLoss", 1.0, lambda lw: contrastive(rng, 8, 3, lw, 1.0, False)),
        "contrastive_legacy_lw": ("ContrastiveLoss", 0.5, lambda lw: contrastive(rng, 8, 4, lw, 0.8, True)),
        "infogain_bottom_ignore": ("InfogainLoss", 1.0, lambda lw: infogain(rng, (2, 4, 3), 1, lw, None, 3, False)),
        "infogain_source_none_lw": ("InfogainLoss", 0.7, lambda lw: infogain(rng, (3, 5), 1, lw, "NONE", None, True)),
        "infogain_axis2_batch": ("InfogainLoss", 1.0, lambda lw: infogain(rng, (2, 3, 4), 2, lw, "BATCH_SIZE", None, False)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "expected.h5"
    with h5py.File(path, "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_loss_reference.py", SEED).items():
            f.attrs[key] = value
        f.attrs["description"] = "Caffe loss layers: bottoms, loss and loss_weight-scaled bottom gradients, float64"
        for name, (layer_type, lw, make) in cases.items():
            data, attrs = make(lw)
            g = f.create_group(name)
            g.attrs["type"] = layer_type
            g.attrs["loss_weight"] = lw
            for k, v in attrs.items():
                g.attrs[k] = v
            for k, v in data.items():
                g.create_dataset(k, data=np.asarray(v, dtype=np.float64))
            print(f"{name:28s} {layer_type:24s} loss {data['loss']:.10g}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
