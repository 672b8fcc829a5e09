#!/usr/bin/python3
"""Writes the CPU benchmark models: seeded random-weight ResNet-18, MobileNetV2, a 4-layer
Transformer encoder, and LSTM and GRU sequence classifiers (28 steps of 28 features, 128 units),
exported from PyTorch to ONNX with a dynamic batch dimension "N".

Run with Debian's Python (torch 1.13, onnx 1.12): /usr/bin/python3 bench/make_models.py [OUT_DIR]
torchvision is not installed, so the nets are written here by hand, following torchvision's
resnet18 and mobilenet_v2 layer for layer.

Export: torch.onnx.export's defaults are kept (training=EVAL, do_constant_folding=True), as a user
exporting a model would. In eval mode torch 1.13 folds each BatchNorm into the Conv before it
(its eval peephole pass), so the CNNs have no BatchNormalization nodes, only Conv with bias; the
BatchNorms still get non-trivial random stats first, so the folded weights are not plain
N(0, s) draws. Opset 17 makes LayerNorm one LayerNormalization node (opset 13 spells it out in
ReduceMean/Sub/Pow/Sqrt/Div); GELU stays Erf-based (Gelu is opset 20). After export,
onnx.shape_inference records the intermediate shapes so `scalec inspect` can count MACs.
"""
import argparse
import os
import sys

import onnx
import torch
from torch import nn

OPSET = 17
SEED = 20240601
SEQ = 128  # transformer sequence length


def randomize_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Gives every BatchNorm non-trivial running stats and affine parameters."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)


# ---- ResNet-18 (torchvision.models.resnet18 layout) ----
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


# ---- MobileNetV2, width 1.0 (torchvision.models.mobilenet_v2 layout) ----
def conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn_relu6(cin, hidden, 1, 1)]
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                    (6, 320, 1, 1)]  # expand t, channels c, repeats n, first stride s
        features, cin = [conv_bn_relu6(3, 32, 3, 2)], 32
        for t, c, n, s in settings:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_relu6(cin, 1280, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# ---- Transformer encoder: 4 layers, hidden 256, 4 heads, FFN 1024, GELU, post-LayerNorm ----
class EncoderLayer(nn.Module):
    """Written out (not nn.TransformerEncoderLayer) so the export is plain MatMul/Softmax/LayerNorm
    ops rather than torch's fused attention path."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.norm2 = nn.LayerNorm(d)
        self.gelu = nn.GELU()

    def forward(self, x):
        # Reshape targets from constants, not x.shape: the exported Reshapes then take constant
        # shapes, so onnx shape inference records every MatMul's shape (and scalec counts MACs).
        s, d, h = SEQ, self.qkv.in_features, self.heads
        hd = d // h
        q, k, v = self.qkv(x).reshape(-1, s, 3, h, hd).permute(2, 0, 3, 1, 4)  # each [n, h, s, hd]
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (hd ** -0.5), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(-1, s, d)
        x = self.norm1(x + self.proj(y))
        return self.norm2(x + self.fc2(self.gelu(self.fc1(x))))


class RecurrentClassifier(nn.Module):
    """A sequence classifier on 28 steps of 28 features (Fashion-MNIST rows): one LSTM or GRU layer of
    128 units, then a Linear on the last step (the issue's LSTM speed row against ONNX Runtime)."""

    def __init__(self, kind: str, hidden: int = 128, classes: int = 10):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(28, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class Transformer(nn.Module):
    def __init__(self, layers: int = 4, d: int = 256, heads: int = 4, ffn: int = 1024):
        super().__init__()
        self.layers = nn.Sequential(*[EncoderLayer(d, heads, ffn) for _ in range(layers)])

    def forward(self, x):
        return self.layers(x)


MODELS = {
    "resnet18": (ResNet18, (3, 224, 224)),
    "mobilenetv2": (MobileNetV2, (3, 224, 224)),
    "transformer": (Transformer, (SEQ, 256)),
    "lstm": (lambda: RecurrentClassifier("lstm"), (28, 28)),
    "gru": (lambda: RecurrentClassifier("gru"), (28, 28)),
}


def count_macs(model: nn.Module, sample_shape) -> int:
    """MACs per sample of Conv2d and Linear layers, from hooks (attention MatMuls added by hand)."""
    total = 0

    def hook(m, inputs, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features
        elif isinstance(m, (nn.LSTM, nn.GRU)):
            gates = 4 if isinstance(m, nn.LSTM) else 3
            total += out[0].shape[1] * gates * m.hidden_size * (m.input_size + m.hidden_size)
        elif isinstance(m, EncoderLayer):
            _, s, d = inputs[0].shape
            total += 2 * s * s * d  # Q K^T and att V over all heads

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *sample_shape))
    for h in handles:
        h.remove()
    return total


def export(name: str, out_dir: str) -> str:
    """Builds one model with seeded weights and writes OUT_DIR/NAME.onnx with recorded shapes."""
    cls, sample_shape = MODELS[name]
    torch.manual_seed(SEED)
    model = cls().eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(SEED + 1))
    path = os.path.join(out_dir, f"{name}.onnx")
    x = torch.randn(1, *sample_shape, generator=torch.Generator().manual_seed(SEED + 2))
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(path)), path)
    macs = count_macs(model, sample_shape)
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {path}  {params / 1e6:.2f} M params, {macs / 1e9:.3f} GMAC per sample", flush=True)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name in args.models.split(","):
        if name not in MODELS:
            print(f"make_models: unknown model '{name}'", file=sys.stderr)
            return 1
        export(name, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
