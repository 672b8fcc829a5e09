#!/usr/bin/python3
"""Deterministic generator of scalec's model zoo: real architectures exported by someone else.

Run with Debian's Python (torch 1.13 + torchvision 0.14; nothing is downloaded):

    /usr/bin/python3 test_models/zoo/generate_zoo.py OUT_DIR [--resolution 224] [--models a,b,...]

For each model: seeded random weights (`weights=None`), BatchNorm running statistics set by a few
forward passes in train mode on seeded random inputs, then eval mode and `torch.onnx.export` with a
dynamic batch axis `N` and no `value_info` (as a user's own export looks). Third-party-style
variants (`*_tp`) hold the same weights exported at opset 11 with every initializer turned into a
`Constant` node, as Paddle2ONNX and tf2onnx write them. Beside each model:
  <name>.calib.npz  16 calibration samples, <name>.test.npz  8 held-back samples,
arrays named after the graph input (float32 N(0,1) images or int64 token ids) plus `labels`
(int64 [N], random classes; scalec's cross-entropy reads any output as [N, C]).
OUT_DIR/zoo.json lists every model with its input, output, opset, style and original. Models whose
files already exist, made by this same script at the same resolution, are not made again.
The same arguments give byte-identical files.
"""
import argparse
import hashlib
import json
import os
import sys
import zlib

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision
from torchvision import models as tvm
from torchvision.models import segmentation as tvseg

ZOO_VERSION = 1
CALIB_SAMPLES, TEST_SAMPLES = 16, 8
BN_BATCHES, BN_BATCH = 4, 8  # BatchNorm statistics from 32 random images
TP_OPSET = 11
# Files made by another version of this script are made again (see main).
GENERATOR_SHA = hashlib.sha256(open(__file__, "rb").read()).hexdigest()

VOCAB, SEQ_LEN = 1000, 32


class TextClassifier(nn.Module):
    """Embedding + positional embedding + TransformerEncoder (2 layers, d=64, 4 heads) + mean + Linear."""

    def __init__(self, num_classes=10, d_model=64):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Parameter(torch.randn(1, SEQ_LEN, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=128, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens) + self.pos).mean(dim=1))


class SegmentationOut(nn.Module):
    """torchvision segmentation models return a dict; export only its 'out' tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def _vit(res):
    vit = tvm.VisionTransformer(image_size=res, patch_size=16, num_layers=4, num_heads=4,
                                hidden_dim=128, mlp_dim=512, num_classes=1000)
    # torchvision zero-initializes the head (for fine-tuning): the logits would all be 0.
    nn.init.normal_(vit.heads.head.weight, std=0.02)
    nn.init.normal_(vit.heads.head.bias, std=0.02)
    return vit


# name -> (builder(res), opset, number of classes). Opsets vary over 13-17 as users' exports do.
ARCHS = {
    "resnet50": (lambda r: tvm.resnet50(weights=None), 13, 1000),
    "mobilenet_v3_small": (lambda r: tvm.mobilenet_v3_small(weights=None), 14, 1000),
    "efficientnet_b0": (lambda r: tvm.efficientnet_b0(weights=None), 13, 1000),
    "convnext_tiny": (lambda r: tvm.convnext_tiny(weights=None), 17, 1000),
    "regnet_y_400mf": (lambda r: tvm.regnet_y_400mf(weights=None), 13, 1000),
    "shufflenet_v2_x1_0": (lambda r: tvm.shufflenet_v2_x1_0(weights=None), 13, 1000),
    "squeezenet1_1": (lambda r: tvm.squeezenet1_1(weights=None), 13, 1000),
    "densenet121": (lambda r: tvm.densenet121(weights=None), 13, 1000),
    "googlenet": (lambda r: tvm.googlenet(weights=None, aux_logits=False, init_weights=True), 15, 1000),
    "vit": (_vit, 17, 1000),
    "deeplabv3_mobilenet_v3_large": (lambda r: SegmentationOut(tvseg.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=False)), 16, 21),
    "text_transformer": (lambda r: TextClassifier(), 17, 10),
}
# Third-party-style variants: name -> the original whose weights they hold.
THIRD_PARTY = {"resnet50_tp": "resnet50", "mobilenet_v3_small_tp": "mobilenet_v3_small"}
ALL_MODELS = list(ARCHS) + list(THIRD_PARTY)


def seed_of(name):
    """A stable per-model seed (crc32 of the name), so a subset gives the same files as the full zoo."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def is_text(name):
    return name == "text_transformer"


def input_name(name):
    return "tokens" if is_text(name) else "input"


def output_name(name):
    return "out" if name.startswith("deeplab") else "logits"


def sample_inputs(name, n, res, rng):
    if is_text(name):
        return rng.integers(0, VOCAB, size=(n, SEQ_LEN), dtype=np.int64)
    return rng.standard_normal((n, 3, res, res), dtype=np.float32)


def set_batchnorm_statistics(model, name, res):
    """Running mean/var as the cumulative average over a few train-mode passes on random inputs."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch counts the same
    rng = np.random.default_rng(seed_of(name) + 1)
    model.train()
    with torch.no_grad():
        for _ in range(BN_BATCHES):
            model(torch.from_numpy(sample_inputs(name, BN_BATCH, res, rng)))
    for bn in bns:
        bn.momentum = 0.1


def build(name, res):
    """The torch module of `name` in eval mode, weights seeded, BatchNorm statistics set."""
    builder, _, _ = ARCHS[name]
    torch.manual_seed(seed_of(name))
    model = builder(res)
    set_batchnorm_statistics(model, name, res)
    model.eval()
    return model


def export(model, name, res, opset, path):
    """torch.onnx.export with a dynamic batch axis; value_info stripped (the exporter records it)."""
    inp, out = input_name(name), output_name(name)
    rng = np.random.default_rng(seed_of(name) + 2)
    dummy = torch.from_numpy(sample_inputs(name, 2, res, rng))
    tmp = path + ".tmp"
    torch.onnx.export(model, dummy, tmp, input_names=[inp], output_names=[out],
                      dynamic_axes={inp: {0: "N"}, out: {0: "N"}}, opset_version=opset,
                      do_constant_folding=True)
    m = onnx.load(tmp)
    os.remove(tmp)
    del m.graph.value_info[:]
    return m


def to_third_party_style(m):
    """Every initializer becomes a Constant node (same output name) at the top of the graph; graph
    inputs that shadowed initializers go. What Paddle2ONNX and tf2onnx write."""
    inits = list(m.graph.initializer)
    init_names = {t.name for t in inits}
    consts = [onnx.helper.make_node("Constant", [], [t.name], name=f"const_{i}", value=t)
              for i, t in enumerate(inits)]
    nodes = consts + list(m.graph.node)
    del m.graph.initializer[:]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    kept = [i for i in m.graph.input if i.name not in init_names]
    del m.graph.input[:]
    m.graph.input.extend(kept)
    del m.graph.value_info[:]
    m.producer_name, m.producer_version = "thirdparty-style", str(ZOO_VERSION)
    return m


def save_data(name, res, out_dir, num_classes):
    rng = np.random.default_rng(seed_of(name) + 3)
    for split, n in (("calib", CALIB_SAMPLES), ("test", TEST_SAMPLES)):
        arrays = {input_name(name): sample_inputs(name, n, res, rng),
                  "labels": rng.integers(0, num_classes, size=n, dtype=np.int64)}
        # np.savez writes fixed zip timestamps (1980), so the bytes depend only on the arrays.
        np.savez(os.path.join(out_dir, f"{name}.{split}.npz"), **arrays)


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def generate(name, res, out_dir):
    """Writes <name>.onnx and its data; returns its zoo.json entry."""
    original = THIRD_PARTY.get(name, name)
    _, opset, num_classes = ARCHS[original]
    model = build(original, res)
    path = os.path.join(out_dir, f"{name}.onnx")
    if name in THIRD_PARTY:
        opset = TP_OPSET
        m = to_third_party_style(export(model, original, res, opset, path))
    else:
        m = export(model, name, res, opset, path)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    # Data of a variant is its original's (same seed), so outputs can be compared sample by sample.
    save_data(original, res, out_dir, num_classes)
    inp = input_name(original)
    shape = [SEQ_LEN] if is_text(original) else [3, res, res]
    return {"file": f"{name}.onnx", "sha256": sha256_of(path), "opset": opset,
            "style": "thirdparty" if name in THIRD_PARTY else "pytorch", "original": original,
            "input": inp, "input_dtype": "int64" if is_text(original) else "float32",
            "input_shape": ["N"] + shape, "output": output_name(original), "classes": num_classes,
            "calib": f"{original}.calib.npz", "test": f"{original}.test.npz"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--resolution", type=int, default=224, help="image side (224; CI uses 64)")
    ap.add_argument("--models", default="all", help=f"comma-separated subset of: {','.join(ALL_MODELS)}")
    args = ap.parse_args()
    names = ALL_MODELS if args.models == "all" else [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in ALL_MODELS]
    if unknown:
        sys.exit(f"generate_zoo: unknown model(s) {unknown}; known: {ALL_MODELS}")
    if args.resolution < 32 or args.resolution % 32:
        sys.exit("generate_zoo: --resolution must be a multiple of 32 (the CNNs downsample 32x)")
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)  # the same bytes on every machine
    torch.use_deterministic_algorithms(True)

    index_path = os.path.join(args.out_dir, "zoo.json")
    index = {}
    if os.path.exists(index_path):
        with open(index_path) as f:
            old = json.load(f)
        if old.get("generator_sha256") == GENERATOR_SHA and old.get("resolution") == args.resolution:
            index = old["models"]
    for name in names:
        entry = index.get(name)
        if entry and all(os.path.exists(os.path.join(args.out_dir, entry[k])) for k in ("file", "calib", "test")) \
                and sha256_of(os.path.join(args.out_dir, entry["file"])) == entry["sha256"]:
            continue
        print(f"generate_zoo: {name} ({args.resolution}x{args.resolution})", flush=True)
        index[name] = generate(name, args.resolution, args.out_dir)
        with open(index_path, "w") as f:  # after each model, so an interrupted run keeps what it made
            json.dump({"zoo_version": ZOO_VERSION, "generator_sha256": GENERATOR_SHA, "resolution": args.resolution,
                       "torch": torch.__version__, "torchvision": torchvision.__version__,
                       "models": index}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
