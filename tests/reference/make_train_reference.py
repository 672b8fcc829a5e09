#!/usr/bin/python3
"""Reference for scalec's training engine: a small CNN trained 20 SGD steps in PyTorch.

Run with Debian's Python (torch 1.13 CPU, onnx 1.12, numpy):

    /usr/bin/python3 tests/reference/make_train_reference.py

Writes next to this file:
  cnn_digits_init.onnx   the CNN with its initial (seeded random) weights, BatchNormalization kept
  lenet_fashion_init.onnx  LeNet-5 for 28x28 Fashion-MNIST with seeded random weights (training tests)
  cnn_digits_sgd20.npz   loss of each of the 20 steps ("loss", [20]), and every initializer after them
                         (BatchNormalization running statistics included), keyed by ONNX name

The steps use test_models/digits_train.npz in stored order, batch 16 (rows 16k .. 16k+15 at step k),
SGD lr 0.05, momentum 0.9, weight decay 1e-4, cross-entropy. The C++ test
tests/train/test_sgd_reference.cpp replays them. Two runs give byte-identical files.
"""
import io
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STEPS, BATCH, LR, MOMENTUM, WEIGHT_DECAY = 20, 16, 0.05, 0.9, 1e-4


class DigitsCNN(nn.Module):
    """Conv-BN-ReLU-MaxPool twice, then two Linear layers: every trainable op family once."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),    # 8x4x4
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))  # 16x2x2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5 for 1x28x28 inputs (padding 2 on the first conv, as in the original 32x32 layout)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 6x14x14
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))             # 16x5x5
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def make_model():
    torch.manual_seed(11)
    model = DigitsCNN()
    with torch.no_grad():  # non-trivial BN affine (identical 1/0 tensors would be deduplicated by the exporter)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    return model


def export(model, path, side=8):
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, 1, side, side),), buf, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      keep_initializers_as_inputs=False)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    return proto


def add_dropout(proto, path, ratio=0.1):
    """Dropout(ratio) after the classifier's first ReLU, as a model exported for training keeps it
    (the eval-mode exporter drops it). Training must apply it and the exported model must lose it."""
    relus = [n for n in proto.graph.node if n.op_type == "Relu"]
    src = relus[2].output[0]
    for n in proto.graph.node:
        for i, name in enumerate(n.input):
            if name == src:
                n.input[i] = "dropout_out"
    proto.graph.initializer.append(numpy_helper.from_array(np.array(ratio, dtype=np.float32), "dropout_ratio"))
    at = list(proto.graph.node).index(relus[2]) + 1
    proto.graph.node.insert(at, onnx.helper.make_node("Dropout", [src, "dropout_ratio"], ["dropout_out"], name="dropout"))
    onnx.checker.check_model(proto)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def main():
    model = make_model()
    proto = export(model, os.path.join(HERE, "cnn_digits_init.onnx"))
    names = [t.name for t in proto.graph.initializer]
    state = model.state_dict()
    missing = [n for n in names if n not in state]
    assert not missing, f"initializers without a torch tensor: {missing}"

    torch.manual_seed(5)
    lenet_path = os.path.join(HERE, "lenet_fashion_init.onnx")
    add_dropout(export(LeNet5(), lenet_path, side=28), lenet_path)

    data = np.load(os.path.join(ROOT, "test_models", "digits_train.npz"))
    x, y = torch.from_numpy(data["input"]), torch.from_numpy(data["labels"])
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    losses = []
    for k in range(STEPS):
        xb, yb = x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH]
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = {n: state[n].detach().numpy().copy() for n in names}
    with open(os.path.join(HERE, "cnn_digits_sgd20.npz"), "wb") as f:
        np.savez(f, loss=np.array(losses, dtype=np.float64), **after)
    print("losses:", " ".join(f"{v:.4f}" for v in losses))


if __name__ == "__main__":
    main()
