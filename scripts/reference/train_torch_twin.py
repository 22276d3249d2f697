#!/usr/bin/env python3
"""Trains pytorch-cifar's VGG('VGG19') (BatchNorm after every convolution, one Linear head) in
PyTorch on the real CIFAR-10 exactly as initdiag runs its Caffe twin
(Fixtures/nets/pytorch_cifar_vgg19_bn.prototxt, scheme w=torch-default,b=torch-default): training
batches in file order, pixels scaled by 1/255 (no mean, no augmentation), SGD lr 0.05, momentum
0.9, weight decay 5e-4, batch 128, PyTorch's default initialisation. Prints the mean training
loss per window of iterations, to set beside the twin's trace.

Usage (torch in a venv outside the repository, scripts/reference/README.md):
    python scripts/reference/train_torch_twin.py --data ../shared/data/cifar-10-batches-bin --iterations 200
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def vgg19_bn() -> nn.Module:
    layers, channels = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            channels = v
    layers.append(nn.AvgPool2d(kernel_size=1, stride=1))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))


def batches(folder: str, batch: int):
    records = []
    for k in range(1, 6):
        raw = np.fromfile(os.path.join(folder, f"data_batch_{k}.bin"), dtype=np.uint8).reshape(-1, 3073)
        records.append(raw)
    raw = np.concatenate(records)
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) * np.float32(1 / 255)
    i = 0
    while True:
        if i + batch > len(raw):
            i = 0
        yield torch.from_numpy(images[i:i + batch]), torch.from_numpy(labels[i:i + batch])
        i += batch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.05)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = vgg19_bn()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    data = batches(a.data, 128)
    model.train()
    for it in range(a.iterations):
        x, y = next(data)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if it % 10 == 0:
            print(f"iteration {it} loss {losses[-1]:.4f}", flush=True)
    means = [float(np.mean(losses[i:i + a.window])) for i in range(0, len(losses), a.window)]
    print("window means (" + str(a.window) + " iterations): " + ", ".join(f"{m:.3f}" for m in means))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
