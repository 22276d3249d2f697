#!/usr/bin/env python3
"""ONNX import conformance fixtures: small pytorch-cifar nets exported in training mode, and the
PyTorch float64 results of one training-mode forward/backward and one SGD step on real CIFAR-10.

Writes, into Fixtures/reference/onnx/ (or --out):
  images.bin                 the 8 CIFAR-10 records used (the first 8 of data_batch_1.bin, 3,073
                             bytes each: label, then the R, G, B 32x32 planes)
  vgg19_bn_w16.onnx          pytorch-cifar VGG('VGG19') with every channel width divided by 16
  vgg19_bn_w16.json          its reference (below)
  resnet18_w8.onnx           pytorch-cifar ResNet18 (BasicBlock, [2, 2, 2, 2]) with widths / 8
  resnet18_w8.json           its reference
  mini_inception.onnx/.json  GoogLeNet/MobileNet-style ops (ceil-mode max pool with padding,
                             Concat, depthwise conv, adaptive average pool, flatten, Dropout(0))
  inference_folded.onnx      a Conv-BatchNorm net exported for inference (BatchNorm folded)
  inference_bn.onnx          the same without constant folding (training_mode 0)
  mini_dense.onnx/.json      DenseNet-style concat, F.pad before an average pool, mean over H, W,
                             a Linear without bias

Export (torch.onnx, TorchScript exporter):
  torch.onnx.export(model, x, path, dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                    do_constant_folding=False, opset_version=17)
with x a fixed N(0, 1) batch of 8 (numpy PCG64, seed SEED). The export runs one training forward,
so the running statistics in the file (and in the model afterwards) are after one update.

Reference (float64, the model converted with .double() right after the export, so its weights
are bit-equal to the file's initializers): x = record bytes / 255, train mode,
CrossEntropyLoss(mean) against the records' labels.
  loss                       the loss of that forward
  outputs[value]             mean, std (population) and l2 of every ONNX node output value that is
                             a float tensor computed from the input (keyed by the ONNX value name, which is the blob name
                             initdiag's importer gives the node's top), computed by evaluating the
                             exported graph op by op with torch.nn.functional in float64; the
                             graph's output is checked against the model's output (≤ 1e-9)
  gradients[initializer]     l2 of every parameter's gradient (state_dict names = initializer names)
  running[initializer]       l2 of every running_mean / running_var after that forward (PyTorch:
                             momentum 0.1, unbiased batch variance)
  loss_after_sgd_step        the loss of a second training forward after one
                             torch.optim.SGD(lr=0.01, momentum=0.9, weight_decay=5e-4) step
  sgd                        {lr, momentum, weight_decay}
Provenance: generator, generator_commit, torch_version, numpy_version, onnx_version, seed.

Run from the repository root: /tmp/venv-torch/bin/python scripts/reference/export_onnx.py
(reads ../shared/data/cifar-10-batches-bin relative to the repository, or --cifar DIR).

--full-vgg19-bn PATH [--batch N] [--seed S] writes only the full-width pytorch-cifar VGG('VGG19')
(20.0 M parameters, ~80 MB: keep it outside the repository), exported as above with batch N
(default 64) from torch.manual_seed(S) (default SEED), PyTorch's default initialisation
(Conv2d/Linear reset_parameters, BatchNorm2d gamma 1, beta 0): the other side of
`initdiag compare` against the seed's Caffe VGG19 (Reports/compare-seed-vs-pytorch-cifar-vgg19/).
The export's one training forward on an N(0, 1) batch updates the running statistics only; the
learnable initializers are the freshly initialised parameters (checked against the state_dict).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from caffe_h5 import provenance_attrs  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "onnx"
DEFAULT_CIFAR = REPO_ROOT.parent / "shared" / "data" / "cifar-10-batches-bin"
SEED = 20261202
BATCH = 8
RECORD = 3073
SGD = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}

# kuangliu/pytorch-cifar models/vgg.py: cfg, Conv(3x3, pad 1, bias) -> BatchNorm2d -> ReLU(inplace),
# 'M' = MaxPool2d(2, 2), then AvgPool2d(1, 1), out.view(out.size(0), -1), Linear(512, 10).
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, cfg, divisor):
        super().__init__()
        layers, c = [], 3
        for x in cfg:
            if x == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                w = x // divisor
                layers += [nn.Conv2d(c, w, kernel_size=3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
        layers += [nn.AvgPool2d(kernel_size=1, stride=1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, 10)

    def forward(self, x):
        out = self.features(x)
        out = out.view(out.size(0), -1)
        return self.classifier(out)


# kuangliu/pytorch-cifar models/resnet.py: BasicBlock, ResNet18 = [2, 2, 2, 2].
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, blocks, divisor):
        super().__init__()
        w = [64 // divisor, 128 // divisor, 256 // divisor, 512 // divisor]
        self.in_planes = w[0]
        self.conv1 = nn.Conv2d(3, w[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.layer1 = self._make_layer(w[0], blocks[0], 1)
        self.layer2 = self._make_layer(w[1], blocks[1], 2)
        self.layer3 = self._make_layer(w[2], blocks[2], 2)
        self.layer4 = self._make_layer(w[3], blocks[3], 2)
        self.linear = nn.Linear(w[3], 10)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)


class MiniInception(nn.Module):
    """GoogLeNet/MobileNet-style ops in one small net: MaxPool(3, 2, pad 1, ceil_mode) as
    torchvision's GoogLeNet, a Concat of 1x1 / 1x1-3x3 / pool-1x1 branches, a depthwise 3x3
    conv (groups = channels) with BatchNorm, AdaptiveAvgPool2d(1), torch.flatten, Dropout, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.b3 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), nn.Conv2d(8, 4, 1))
        self.dw = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.avg = nn.AdaptiveAvgPool2d((1, 1))
        self.drop = nn.Dropout(0.0)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.pool(self.stem(x))
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)
        x = self.avg(self.dw(x))
        return self.fc(self.drop(torch.flatten(x, 1)))


class MiniDense(nn.Module):
    """DenseNet-style concatenation and transition, F.pad before an average pool (its shape
    sub-graph: Slice, Transpose, ConstantOfShape, …), x.mean([2, 3]) and a Linear without bias
    (Transpose + MatMul)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c1 = nn.Conv2d(8, 4, 3, padding=1)
        self.t = nn.AvgPool2d(2)
        self.l = nn.Linear(12, 10, bias=False)

    def forward(self, x):
        x = self.c0(x)
        x = torch.cat([x, self.c1(F.relu(self.bn(x)))], 1)
        x = F.avg_pool2d(F.pad(self.t(x), (1, 1, 1, 1)), 3, stride=2)
        return self.l(x.mean([2, 3]))


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class NotEvaluated(Exception):
    """The graph has an op the float64 evaluator does not do: that model's reference then has no
    per-output statistics (loss, gradients, running statistics and the SGD step still come from
    the PyTorch model)."""


def evaluate_graph(model_proto, x, params):
    """The exported graph evaluated node by node in float64 (torch.nn.functional); returns every
    value. BatchNormalization in training mode normalises with the batch statistics (its extra
    outputs are not needed here)."""
    g = model_proto.graph
    env = {g.input[0].name: x}
    for init in g.initializer:
        env[init.name] = params[init.name] if init.name in params else torch.from_numpy(numpy_helper.to_array(init).copy())
    for node in g.node:
        a = attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            assert pads[0] == pads[2] and pads[1] == pads[3], node.name
            out = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, stride=a.get("strides", [1, 1]),
                           padding=(pads[0], pads[1]), dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        elif op == "BatchNormalization":
            assert a.get("training_mode", 0) == 1, node.name
            out = F.batch_norm(ins[0], None, None, ins[1], ins[2], training=True, eps=a.get("epsilon", 1e-5))
        elif op == "Relu":
            out = F.relu(ins[0])
        elif op == "MaxPool":
            pads = a.get("pads", [0, 0, 0, 0])
            out = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), (pads[0], pads[1]),
                               ceil_mode=bool(a.get("ceil_mode", 0)))
        elif op == "AveragePool":
            pads = a.get("pads", [0, 0, 0, 0])
            out = F.avg_pool2d(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), (pads[0], pads[1]),
                               ceil_mode=bool(a.get("ceil_mode", 0)),
                               count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            out = ins[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            out = torch.flatten(ins[0], a.get("axis", 1))
        elif op == "Gemm":
            A = ins[0].t() if a.get("transA", 0) else ins[0]
            B = ins[1].t() if a.get("transB", 0) else ins[1]
            out = a.get("alpha", 1.0) * (A @ B) + (a.get("beta", 1.0) * ins[2] if len(ins) > 2 else 0)
        elif op == "Add":
            out = ins[0] + ins[1]
        elif op == "Constant":
            out = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
        elif op == "Shape":
            out = torch.tensor(list(ins[0].shape), dtype=torch.int64)
        elif op == "Gather":
            out = torch.index_select(ins[0], a.get("axis", 0), ins[1].reshape(-1)).reshape(ins[1].shape)
        elif op == "Unsqueeze":
            out = ins[0]
            for ax in sorted(int(v) for v in ins[1].reshape(-1)):
                out = out.unsqueeze(ax)
        elif op == "Concat":
            out = torch.cat(ins, dim=a["axis"])
        elif op == "Reshape":
            out = ins[0].reshape([int(v) for v in ins[1]])
        elif op == "Dropout":
            ratio = ins[1].item() if len(ins) > 1 and ins[1] is not None else 0.5
            if ratio != 0:
                raise NotEvaluated(f"op Dropout with ratio {ratio} (node {node.name})")
            out = ins[0]
        elif op in ("Mul", "Sub"):
            out = ins[0] * ins[1] if op == "Mul" else ins[0] - ins[1]
        elif op == "Cast":
            out = ins[0].to({1: torch.float64, 7: torch.int64}[a["to"]])
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]).reshape(-1)[0] if "value" in a else 0.0
            out = torch.full([int(d) for d in ins[0]], float(v)).to(torch.int64 if isinstance(v, np.integer) else torch.float64)
        elif op == "Slice":
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
            steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            arr = ins[0].numpy()
            sl = [slice(None)] * arr.ndim
            for st, en, ax, sp in zip(starts, ends, axes, steps):
                big = 2**62
                sl[ax] = slice(st, None if abs(en) >= big else en, sp)
            out = torch.from_numpy(arr[tuple(sl)].copy())
        elif op == "Transpose":
            out = ins[0].permute(*a.get("perm", list(reversed(range(ins[0].dim())))))
        elif op == "Pad":
            p = [int(v) for v in ins[1]]
            r = len(p) // 2
            torch_pads = []
            for ax in reversed(range(r)):
                torch_pads += [p[ax], p[ax + r]]
            out = F.pad(ins[0], torch_pads)
        elif op == "ReduceMean":
            out = ins[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        elif op == "MatMul":
            out = ins[0] @ ins[1]
        else:
            raise NotEvaluated(f"op {op} (node {node.name})")
        env[node.output[0]] = out
    return env


def stats(t):
    v = t.detach().reshape(-1).double()
    mean = v.mean().item()
    return {"mean": mean, "std": math.sqrt(((v - mean) ** 2).mean().item()), "l2": v.norm().item()}


def make(name, model, x_export, images, labels, out_dir, prov):
    path = out_dir / f"{name}.onnx"
    model.train()
    torch.onnx.export(model, x_export, str(path), dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, opset_version=17)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = model.state_dict()
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        assert k in inits, f"{k} not an initializer"
        assert np.array_equal(inits[k], v.numpy()), f"{k} differs from the file"
    bn_nodes = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    assert all(attrs(n).get("training_mode", 0) == 1 and len(n.output) == 3 for n in bn_nodes)

    model = model.double()
    model.train()
    x = torch.from_numpy(images).double()
    y = torch.from_numpy(labels).long()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = {k: v.detach() for k, v in model.named_parameters()}
    float_values = {}
    try:
        env = evaluate_graph(proto, x, params)
        graph_out = env[proto.graph.output[0].name]
        err = (graph_out - logits.detach()).abs().max().item()
        assert err <= 1e-9, f"graph evaluation differs from the model by {err}"
        constant = {i.name for i in proto.graph.initializer}
        for node in proto.graph.node:
            if all(not i or i in constant for i in node.input) and node.op_type != "Shape":
                constant.update(node.output)  # computed from constants only: not a layer output
                continue
            v = env[node.output[0]]
            if v.dtype == torch.float64 and v.dim() > 0:
                float_values[node.output[0]] = stats(v)
    except NotEvaluated as e:
        print(f"{name}: no per-output statistics ({e} is not evaluated)")
    gradients = {k: p.grad.norm().item() for k, p in model.named_parameters()}
    running = {k: v.norm().item() for k, v in model.state_dict().items()
               if k.endswith("running_mean") or k.endswith("running_var")}
    opt = torch.optim.SGD(model.parameters(), **SGD)
    opt.step()
    with torch.no_grad():
        loss2 = F.cross_entropy(model(x), y).item()
    ref = {"model": name, "onnx": path.name, "batch": BATCH, "images": "images.bin",
           "labels": [int(v) for v in labels], "loss": loss.item(), "loss_after_sgd_step": loss2, "sgd": SGD,
           "outputs": float_values, "gradients": gradients, "running": running, "provenance": prov}
    (out_dir / f"{name}.json").write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {path.stat().st_size} bytes, loss {loss.item():.6f} -> {loss2:.6f}, "
          f"{len(float_values)} outputs, {len(gradients)} gradients")


def inference_exports(out_dir):
    """Two files the importer must flag as unable to show training behaviour: the same small
    Conv-BatchNorm net exported for inference (model.eval(), the exporter's defaults) — with
    constant folding BatchNorm is folded into the convolution (weights named onnx::Conv_*),
    without it BatchNormalization has training_mode 0."""
    torch.manual_seed(SEED + 4)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(4, 10))
    m.eval()
    x = torch.zeros(2, 3, 8, 8)
    torch.onnx.export(m, (x,), str(out_dir / "inference_folded.onnx"), dynamo=False, opset_version=17)
    torch.onnx.export(m, (x,), str(out_dir / "inference_bn.onnx"), dynamo=False, opset_version=17,
                      do_constant_folding=False)
    folded = onnx.load(str(out_dir / "inference_folded.onnx"))
    assert not any(n.op_type == "BatchNormalization" for n in folded.graph.node)
    print("inference_folded, inference_bn: written")


def export_full_vgg19_bn(path, batch, seed):
    """The full-width VGG19-BN in training mode, PyTorch's default initialisation (see the
    module docstring); checks every learnable initializer equals the model's parameter."""
    torch.manual_seed(seed)
    model = VGG(VGG19, 1)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(path), dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, opset_version=17)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for k, v in params.items():
        assert np.array_equal(inits[k], v.numpy()), f"{k} differs from the file"
    n = sum(v.numel() for v in params.values())
    print(f"{path}: {path.stat().st_size} bytes, {n} parameters, batch {batch}, seed {seed}, "
          f"torch {torch.__version__}, onnx {onnx.__version__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cifar", type=Path, default=DEFAULT_CIFAR)
    ap.add_argument("--full-vgg19-bn", type=Path, default=None, metavar="PATH")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    if args.full_vgg19_bn is not None:
        export_full_vgg19_bn(args.full_vgg19_bn, args.batch, args.seed)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    raw = (args.cifar / "data_batch_1.bin").read_bytes()[: BATCH * RECORD]
    assert len(raw) == BATCH * RECORD
    (args.out / "images.bin").write_bytes(raw)
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(BATCH, RECORD)
    labels = rec[:, 0].astype(np.int64)
    images = rec[:, 1:].reshape(BATCH, 3, 32, 32).astype(np.float64) / 255.0
    prov = provenance_attrs("scripts/reference/export_onnx.py", SEED)
    prov["onnx_version"] = onnx.__version__
    rng = np.random.default_rng(SEED)
    x_export = torch.from_numpy(rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32))
    torch.manual_seed(SEED)
    make("vgg19_bn_w16", VGG(VGG19, 16), x_export, images, labels, args.out, prov)
    torch.manual_seed(SEED + 1)
    make("resnet18_w8", ResNet([2, 2, 2, 2], 8), x_export, images, labels, args.out, prov)
    inference_exports(args.out)
    torch.manual_seed(SEED + 2)
    make("mini_inception", MiniInception(), x_export, images, labels, args.out, prov)
    torch.manual_seed(SEED + 3)
    make("mini_dense", MiniDense(), x_export, images, labels, args.out, prov)


if __name__ == "__main__":
    main()
