#!/usr/bin/python3
"""Writes a small ResNet-style CNN for 28x28 Fashion-MNIST with seeded random weights (the second
model of bench/qat_proof.py): stem Conv 3x3/2 (16) + BN + ReLU, a basic block (16), a basic block
with stride 2 and a 1x1 projection (32), global average pooling, Linear(32, 10). BatchNormalization
is kept (exported for training, as tests/reference/make_train_reference.py does), so `scalec
finetune` trains it and quantization folds it.

Run with Debian's Python (torch 1.13, onnx 1.12): /usr/bin/python3 bench/make_fashion_resnet.py OUT.onnx
"""
import io
import sys

import onnx
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class FashionResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block1 = Block(16, 16, 1)
        self.block2 = Block(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main() -> None:
    torch.manual_seed(25)
    model = FashionResNet()
    # Distinct BN tensors: the exporter deduplicates identical initializers (the 0/1 running statistics
    # of fresh BatchNorms) behind Identity nodes, and running statistics behind an Identity are not
    # initializers the trainer can update (the model then evaluated at 9.5% after training).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.01)
                m.running_var.uniform_(0.9, 1.1)
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), buf, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      keep_initializers_as_inputs=False)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    onnx.save(proto, sys.argv[1])


if __name__ == "__main__":
    main()
