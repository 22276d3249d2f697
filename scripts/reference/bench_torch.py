#!/usr/bin/env python3
"""PyTorch CPU baseline for `initdiag bench`: the seed VGG19 exactly as the seed prototxt declares it.

Net (seed train_val.prototxt, TRAIN phase): 16 x [Convolution 3x3 pad 1 with bias -> ReLU (in
place)], Pooling MAX 2x2 s2 after each of the 5 blocks, drop6 (Dropout 0.5 on pool5, own top),
fc6 512->512, relu6, drop7 (0.5; in place in the seed, out of place here), fc7 512->512, relu7, fc8 512->10, SoftmaxWithLoss
(= nn.CrossEntropyLoss, mean). float32, CPU, SGD lr 0.05 momentum 0.9 weight_decay 5e-4 (the seed
solver). Inputs are random (uniform [0,1), the range of the seed's 1/255-scaled pixels) with random
labels: the data pipeline is not timed.

Timing method:
* Whole iterations: after --warmup untimed iterations, each of --iterations iterations is timed
  in three parts with time.perf_counter: forward (model + loss), backward (loss.backward()),
  update (optimizer.step() + zero_grad()). CPU ops run synchronously in the calling thread
  (torch's autograd engine executes CPU work on the thread that calls backward), so the clock
  brackets the work. Medians are reported.
* Per layer: a separate pass (not overlapping the whole-iteration timings, so hooks cannot perturb
  them). Each layer runs on a detached copy of the previous layer's output (requires_grad set
  except for the net input, which needs no gradient, as in the real run): forward is timed per
  layer; then backward runs layer by layer in reverse with y.backward(dy), each timed alone, and
  the input's .grad becomes the previous layer's dy. Every layer thus does exactly the work it does
  in the full backward (weight and bias gradients, and the input gradient except for conv1_1).
  In-place ReLU/Dropout cannot act on a leaf that requires grad, so this pass uses their
  out-of-place forms (elementwise, negligible next to the convolutions). Medians over the same
  number of iterations.
* Peak memory: resource.getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux) x 1024.

`--json` prints {"iteration_s", "forward_s", "backward_s", "update_s", "peak_rss_bytes",
"layers": [{"name", "forward_s", "backward_s"}]} (the keys of `initdiag bench --json`) plus a
"config" object describing the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED_CONV_BLOCKS = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]
CLASSES = 10
IMAGE = 32


class Flatten(nn.Module):
    """InnerProduct's implicit (c, h, w) flattening (BVLC/caffe inner_product_layer.cpp, axis 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


def seed_vgg19() -> list[tuple[str, nn.Module]]:
    """(Caffe layer name, module) in the seed prototxt's order."""
    layers: list[tuple[str, nn.Module]] = []
    in_channels = 3
    for block, (channels, count) in enumerate(SEED_CONV_BLOCKS, start=1):
        for index in range(1, count + 1):
            layers.append((f"conv{block}_{index}", nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=True)))
            layers.append((f"relu{block}_{index}", nn.ReLU(inplace=True)))
            in_channels = channels
        layers.append((f"pool{block}", nn.MaxPool2d(kernel_size=2, stride=2)))
    layers += [
        ("drop6", nn.Dropout(p=0.5, inplace=False)),  # top "drop_pool5": not in place in the seed
        ("fc6", nn.Sequential(Flatten(), nn.Linear(512, 512))),
        ("relu6", nn.ReLU(inplace=True)),
        # In place in the seed, but autograd refuses to let an in-place dropout overwrite the
        # output relu6 saved for its backward; out of place costs one 512-wide copy.
        ("drop7", nn.Dropout(p=0.5, inplace=False)),
        ("fc7", nn.Linear(512, 512)),
        ("relu7", nn.ReLU(inplace=True)),
        ("fc8", nn.Linear(512, CLASSES)),
    ]
    return layers


def bvlc_alexnet() -> list[tuple[str, nn.Module]]:
    """BVLC AlexNet (models/bvlc_alexnet/train_val.prototxt, TRAIN, crop 227) in its layer order.

    LRN: Caffe's ACROSS_CHANNELS with local_size 5, alpha 1e-4, beta 0.75, k 1 divides alpha by
    local_size (caffe/src/caffe/layers/lrn_layer.cpp), as torch.nn.LocalResponseNorm does. Pooling:
    Caffe rounds the output size up (pooling_layer.cpp), hence ceil_mode (55 -> 27 -> 13 -> 6 here
    either way). conv2, conv4 and conv5 have group 2."""
    def lrn() -> nn.Module:
        return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=1.0)

    def pool() -> nn.Module:
        return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

    return [
        ("conv1", nn.Conv2d(3, 96, kernel_size=11, stride=4)), ("relu1", nn.ReLU(inplace=True)),
        ("norm1", lrn()), ("pool1", pool()),
        ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2)), ("relu2", nn.ReLU(inplace=True)),
        ("norm2", lrn()), ("pool2", pool()),
        ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2)), ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2)), ("relu5", nn.ReLU(inplace=True)),
        ("pool5", pool()),
        ("fc6", nn.Sequential(Flatten(), nn.Linear(256 * 6 * 6, 4096))), ("relu6", nn.ReLU(inplace=True)),
        ("drop6", nn.Dropout(p=0.5, inplace=False)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)),
        ("drop7", nn.Dropout(p=0.5, inplace=False)),
        ("fc8", nn.Linear(4096, 1000)),
    ]


# --net: (builder, classes, input side, description, SGD lr/momentum/weight decay of its solver)
NETS = {
    "seed-vgg19": (seed_vgg19, CLASSES, IMAGE, "seed VGG19 (train_val.prototxt, TRAIN)", (0.05, 0.9, 5e-4)),
    "bvlc-alexnet": (bvlc_alexnet, 1000, 227, "BVLC AlexNet (train_val.prototxt, TRAIN, crop 227)", (0.01, 0.9, 5e-4)),
}


def initialise(layers: list[tuple[str, nn.Module]], scheme: str) -> None:
    """caffe-xavier: the seed's fillers (weight and bias `xavier`: U(+-sqrt(3/fan_in)), fan_in of the
    blob itself, so 1 for a bias: U(+-sqrt 3); docs/semantics.md §3), drawn with torch's RNG (timing only).
    torch-default: the modules' own reset_parameters."""
    if scheme == "torch-default":
        return
    for _, module in layers:
        for sub in module.modules():
            if isinstance(sub, (nn.Conv2d, nn.Linear)):
                fan_in = sub.weight[0].numel()
                bound = math.sqrt(3.0 / fan_in)
                with torch.no_grad():
                    sub.weight.uniform_(-bound, bound)
                    sub.bias.uniform_(-math.sqrt(3.0), math.sqrt(3.0))


def out_of_place(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.ReLU):
        return nn.ReLU(inplace=False)
    if isinstance(module, nn.Dropout):
        return nn.Dropout(p=module.p, inplace=False)
    return module


def time_iterations(model, criterion, optimizer, data, labels, warmup, iterations):
    forward_t, backward_t, update_t, total_t = [], [], [], []
    losses = []
    for step in range(warmup + iterations):
        t0 = time.perf_counter()
        loss = criterion(model(data), labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        t3 = time.perf_counter()
        losses.append(float(loss.detach()))
        if step >= warmup:
            forward_t.append(t1 - t0)
            backward_t.append(t2 - t1)
            update_t.append(t3 - t2)
            total_t.append(t3 - t0)
    return forward_t, backward_t, update_t, total_t, losses


def time_layers(layers, criterion, optimizer, data, labels, warmup, iterations):
    names = [name for name, _ in layers] + ["loss"]
    modules = [out_of_place(module) for _, module in layers]
    forward_t = {name: [] for name in names}
    backward_t = {name: [] for name in names}
    for step in range(warmup + iterations):
        inputs, outputs = [], []
        x = data
        for index, module in enumerate(modules):
            x_in = x.detach().requires_grad_(index > 0)
            t0 = time.perf_counter()
            y = module(x_in)
            t1 = time.perf_counter()
            if step >= warmup:
                forward_t[names[index]].append(t1 - t0)
            inputs.append(x_in)
            outputs.append(y)
            x = y
        logits = x.detach().requires_grad_(True)
        t0 = time.perf_counter()
        loss = criterion(logits, labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if step >= warmup:
            forward_t["loss"].append(t1 - t0)
            backward_t["loss"].append(t2 - t1)
        grad = logits.grad
        for index in range(len(modules) - 1, -1, -1):
            t0 = time.perf_counter()
            outputs[index].backward(grad)
            t1 = time.perf_counter()
            if step >= warmup:
                backward_t[names[index]].append(t1 - t0)
            grad = inputs[index].grad
        optimizer.zero_grad(set_to_none=False)
    return [
        {"name": name, "forward_s": statistics.median(forward_t[name]), "backward_s": statistics.median(backward_t[name])}
        for name in names
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=sorted(NETS), default="seed-vgg19",
                        help="which net (default seed-vgg19; bvlc-alexnet is BVLC's AlexNet at 227x227)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--init", choices=["caffe-xavier", "torch-default"], default="caffe-xavier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer pass")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads < 1 or args.batch_size < 1 or args.iterations < 1 or args.warmup < 0:
        parser.error("--threads, --batch-size and --iterations must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    builder, classes, side, description, (lr, momentum, decay) = NETS[args.net]
    layers = builder()
    initialise(layers, args.init)
    model = nn.Sequential(*[module for _, module in layers]).train()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=decay)
    data = torch.rand(args.batch_size, 3, side, side)
    labels = torch.randint(0, classes, (args.batch_size,))

    forward_t, backward_t, update_t, total_t, losses = time_iterations(
        model, criterion, optimizer, data, labels, args.warmup, args.iterations)
    layer_rows = [] if args.no_layers else time_layers(
        layers, criterion, optimizer, data, labels, min(args.warmup, 1), args.iterations)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    result = {
        "iteration_s": statistics.median(total_t),
        "forward_s": statistics.median(forward_t),
        "backward_s": statistics.median(backward_t),
        "update_s": statistics.median(update_t),
        "peak_rss_bytes": peak_rss,
        "layers": layer_rows,
        "config": {
            "net": description,
            "torch_version": str(torch.__version__),
            "threads": torch.get_num_threads(),
            "batch_size": args.batch_size,
            "warmup": args.warmup,
            "iterations": args.iterations,
            "init": args.init,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "env": {key: os.environ[key] for key in sorted(os.environ)
                    if key.startswith(("OPENBLAS_", "OMP_", "MKL_", "DNNL_", "ONEDNN_"))},
            "losses": losses,
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    cfg = result["config"]
    print(f"{description}, torch {cfg['torch_version']}, {cfg['threads']} threads, batch {args.batch_size}, "
          f"{args.warmup} warm-up + {args.iterations} timed iterations, init {args.init}")
    print(f"environment: {cfg['env'] or 'no OPENBLAS_/OMP_/MKL_/DNNL_ variables set'}")
    print(f"losses: {', '.join(f'{loss:.4f}' for loss in losses)}")
    print(f"median iteration {result['iteration_s']:.3f} s = forward {result['forward_s']:.3f} + "
          f"backward {result['backward_s']:.3f} + update {result['update_s']:.3f}")
    print(f"peak RSS {peak_rss / 2**20:.0f} MiB")
    if layer_rows:
        print(f"{'layer':<10} {'forward s':>10} {'backward s':>11}")
        for row in layer_rows:
            print(f"{row['name']:<10} {row['forward_s']:>10.4f} {row['backward_s']:>11.4f}")
        print(f"{'sum':<10} {sum(r['forward_s'] for r in layer_rows):>10.4f} "
              f"{sum(r['backward_s'] for r in layer_rows):>11.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
