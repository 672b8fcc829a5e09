#!/usr/bin/python3
"""Deterministic generator for scalec's test fixtures.

Run with Debian's Python (torch 1.13 CPU, onnx 1.12, sklearn 1.2, numpy 1.24):

    /usr/bin/python3 test_models/generate.py

It writes, next to this file: the ONNX models, the sklearn-digits data split,
golden inputs/outputs under golden/, and manifest.json with the sha256 of every
file. Running it twice gives byte-identical files. Bump FIXTURE_VERSION whenever
the fixtures change meaning, so tests holding the old version fail loudly.
"""
import collections
import hashlib
import io
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper
from sklearn.datasets import load_digits

FIXTURE_VERSION = 1
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
               onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
MAX_BYTES = 1 << 20


def seed_everything(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


# ----------------------------------------------------------------------------- models

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                 nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


class LeNet(nn.Module):
    """LeNet-style CNN for 8x8 digits."""
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16x4x4
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))  # 32x2x2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(x + y)


class ResNetBN(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.Sequential(ResBlock(c), ResBlock(c))
        self.pool = nn.AdaptiveAvgPool2d(1)  # exports as GlobalAveragePool
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual block (stride 1, in == out) plus a classifier head."""
    def __init__(self, c=8, expand=4):
        super().__init__()
        h = c * expand
        self.block = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = x + self.block(x)
        return self.fc(torch.flatten(self.pool(x), 1))


class TransformerBlock(nn.Module):
    """Embedding + one pre-norm encoder block with 2-head attention written out by hand."""
    def __init__(self, vocab=100, seq=16, dim=32, heads=2, hidden=64, classes=10):
        super().__init__()
        self.seq, self.dim, self.heads, self.dh = seq, dim, heads, dim // heads
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(seq, dim) * 0.1)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="none"), nn.Linear(hidden, dim))
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos                      # [N, S, D]
        # Fixed shapes with -1 for the batch, so the export has constant Reshape shapes, not Shape ops.
        h = self.ln1(x)
        q, k, v = (t.reshape(-1, self.seq, self.heads, self.dh).transpose(1, 2)  # [N, H, S, Dh]
                   for t in (self.q(h), self.k(h), self.v(h)))
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / (self.dh ** 0.5), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(-1, self.seq, self.dim)
        x = x + self.proj(y)
        x = x + self.mlp(self.ln2(x))
        return self.head(x.mean(dim=1))


# ----------------------------------------------------------------------------- digits

def digits_split():
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(y))
    n_train = int(0.8 * len(y))  # 1437
    train_idx, val_idx = perm[:n_train], perm[n_train:]
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), train_idx, val_idx


def accuracy(model, x, y):
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def train_lenet(train, val, epochs=60, batch=32):
    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xs, ys = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    gen = torch.Generator().manual_seed(1)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(ys), generator=gen)
        for i in range(0, len(ys), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss_fn(model(xs[idx]), ys[idx]).backward()
            opt.step()
    model.eval()
    return model, accuracy(model, *val)


# ----------------------------------------------------------------------------- export

def export(model, name, example, input_name, opset, preserve_bn=False):
    """Export to ONNX, check, record inferred shapes, save; return the saved ModelProto."""
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model, (example,), buf, opset_version=opset,
        input_names=[input_name], output_names=["logits"],
        dynamic_axes={input_name: {0: "N"}, "logits": {0: "N"}},
        # PRESERVE (module in eval mode) keeps BatchNormalization nodes instead of folding them into
        # Conv; constant folding is off there because torch warns it may rewrite parameters.
        training=torch.onnx.TrainingMode.PRESERVE if preserve_bn else torch.onnx.TrainingMode.EVAL,
        do_constant_folding=not preserve_bn,
        keep_initializers_as_inputs=False)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    assert len(data) < MAX_BYTES, f"{name}.onnx is {len(data)} bytes"
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(data)
    return proto


def op_histogram(proto):
    return dict(sorted(collections.Counter(n.op_type for n in proto.graph.node).items()))


def stored_tensors(proto):
    """All initializers and Constant-node values of the main graph, as numpy arrays with elem types."""
    out = [(t.data_type, numpy_helper.to_array(t)) for t in proto.graph.initializer]
    for node in proto.graph.node:
        if node.op_type != "Constant":
            continue
        for a in node.attribute:
            if a.name == "value":
                out.append((a.t.data_type, numpy_helper.to_array(a.t)))
            elif a.name == "value_float":
                out.append((onnx.TensorProto.FLOAT, np.array(a.f, np.float32)))
            elif a.name == "value_floats":
                out.append((onnx.TensorProto.FLOAT, np.array(a.floats, np.float32)))
            elif a.name == "value_int":
                out.append((onnx.TensorProto.INT64, np.array(a.i, np.int64)))
            elif a.name == "value_ints":
                out.append((onnx.TensorProto.INT64, np.array(a.ints, np.int64)))
    return out


def value_shapes(values):
    out = {}
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
        out[v.name] = {"dtype": onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[t.elem_type].name, "shape": dims}
    return out


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def savez(path, **arrays):
    np.savez(path, **arrays)
    assert os.path.getsize(path) < MAX_BYTES, path


def write_golden(model, name, input_name, x):
    model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy().astype(np.float32)
    savez(os.path.join(GOLDEN, name + ".in.npz"), **{input_name: x})
    savez(os.path.join(GOLDEN, name + ".out.npz"), logits=y)


def manifest_entry(name, proto, opset, extra=None):
    tensors = stored_tensors(proto)
    entry = {
        "file": name + ".onnx",
        "sha256": sha256(os.path.join(HERE, name + ".onnx")),
        "opset": opset,
        "parameters": int(sum(a.size for t, a in tensors if t in FLOAT_TYPES)),
        "bytes": int(sum(a.nbytes for _, a in tensors)),
        "inputs": value_shapes(proto.graph.input),
        "outputs": value_shapes(proto.graph.output),
        "ops": op_histogram(proto),
    }
    entry.update(extra or {})
    return entry


# ----------------------------------------------------------------------------- per model

def make_mlp():
    seed_everything(1)
    model = MLP()
    x = np.random.RandomState(101).randn(4, 64).astype(np.float32)
    return model, "input", x, 13, {}


def make_lenet_digits():
    seed_everything(2)
    train, val, train_idx, val_idx = digits_split()
    savez(os.path.join(HERE, "digits_train.npz"), input=train[0], labels=train[1])
    savez(os.path.join(HERE, "digits_val.npz"), input=val[0], labels=val[1])
    with open(os.path.join(HERE, "digits_split.json"), "w") as f:
        json.dump({"seed": 0, "source": "sklearn.datasets.load_digits, pixels / 16.0",
                   "train": train_idx.tolist(), "val": val_idx.tolist()}, f)
        f.write("\n")
    model, acc = train_lenet(train, val)
    assert acc >= 0.95, f"digits validation accuracy {acc:.4f} < 0.95"
    return model, "input", val[0][:4].copy(), 13, {"accuracy": round(acc, 6)}


def randomize_norm_affine(model):
    """Non-trivial gamma/beta for BatchNorm/LayerNorm (the defaults 1/0 are a weak test, and torch
    would deduplicate the identical initializers into Identity nodes)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    return model


def calibrate_bn(model, shape, seed):
    """A few train-mode passes on shifted random data so BN running stats are non-trivial."""
    randomize_norm_affine(model)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(30):
            model(torch.randn(16, *shape, generator=gen) * 1.5 + 0.3)
    model.eval()
    return model


def make_resnet_bn():
    seed_everything(3)
    model = calibrate_bn(ResNetBN(), (3, 16, 16), 303)
    x = np.random.RandomState(103).randn(4, 3, 16, 16).astype(np.float32)
    return model, "input", x, 13, {}


def make_mobilenet_block():
    seed_everything(4)
    model = calibrate_bn(InvertedResidual(), (8, 16, 16), 404)
    x = np.random.RandomState(104).randn(4, 8, 16, 16).astype(np.float32)
    return model, "input", x, 13, {}


def make_transformer_block():
    seed_everything(5)
    model = randomize_norm_affine(TransformerBlock())
    x = np.random.RandomState(105).randint(0, 100, size=(4, 16)).astype(np.int64)
    return model, "tokens", x, 17, {}


MODELS = {
    "mlp": (make_mlp, {"Gemm", "Relu"}),
    "lenet_digits": (make_lenet_digits, {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"}),
    "resnet_bn": (make_resnet_bn, {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool",
                                   "Gemm"}),
    "mobilenet_block": (make_mobilenet_block, {"Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"}),
    "transformer_block": (make_transformer_block, {"Gather", "LayerNormalization", "MatMul", "Softmax",
                                                   "Erf", "Add"}),
}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(GOLDEN, exist_ok=True)
    manifest = {"fixture_version": FIXTURE_VERSION, "generator": "test_models/generate.py",
                "models": {}, "data": {}}
    for name, (make, required_ops) in MODELS.items():
        model, input_name, golden_x, opset, extra = make()
        proto = export(model, name, torch.from_numpy(golden_x), input_name, opset,
                       preserve_bn=(name == "resnet_bn"))
        hist = op_histogram(proto)
        missing = required_ops - set(hist)
        assert not missing, f"{name}: ops {sorted(missing)} missing from {hist}"
        if name == "mobilenet_block":
            groups = [a.i for n in proto.graph.node if n.op_type == "Conv"
                      for a in n.attribute if a.name == "group"]
            assert 32 in groups, f"{name}: no depthwise Conv (groups {groups})"
        write_golden(model, name, input_name, golden_x)
        manifest["models"][name] = manifest_entry(name, proto, opset, extra)
        print(f"{name}: opset {opset}, {manifest['models'][name]['parameters']} parameters, ops {hist}"
              + (f", accuracy {extra['accuracy']:.4f}" if extra else ""), file=sys.stderr)

    data_files = ["digits_train.npz", "digits_val.npz", "digits_split.json"]
    data_files += [f"golden/{n}.{s}.npz" for n in MODELS for s in ("in", "out")]
    manifest["data"] = {f: sha256(os.path.join(HERE, f)) for f in data_files}
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
