#!/usr/bin/python3
"""Reference for scalec's recurrent ops: nn.LSTM and nn.GRU digit classifiers exported from PyTorch.

Run with Debian's Python (torch 1.13 CPU, onnx 1.12, numpy):

    /usr/bin/python3 tests/reference/make_rnn_reference.py

Each model reads a digit [N, 1, 8, 8] as 8 rows of 8 features (batch first), runs a one-layer
recurrent net (hidden 16) and classifies the last step's hidden state with a Linear layer. Writes
next to this file:
  lstm_digits_init.onnx   nn.LSTM classifier with its initial (seeded random) weights
  gru_digits_init.onnx    nn.GRU classifier (bidirectional: both directions' last hidden states)
  lstm_digits_sgd20.npz   the LSTM classifier's loss at each of 20 SGD steps ("loss", [20]) and every
                          initializer after them, keyed by ONNX name
  lstm_digits_sgd20_one_batch.npz  the same for 20 steps on one batch (rows 0..15 every step): what
                          `scalec finetune --epochs 20 --batch 16` does on a 16-row file (one step per epoch)

The steps use test_models/digits_train.npz in stored order, batch 16 (rows 16k .. 16k+15 at step k),
SGD lr 0.1, momentum 0.9, weight decay 1e-4, cross-entropy. tests/train/test_rnn_reference.cpp
replays them through the Trainer, tests/py/test_rnn_models.py the one-batch steps through
`scalec finetune`, and compares `scalec infer` with ONNX Runtime on both models. The exporter writes each LSTM/GRU weight in ONNX's gate order into its own initializer
(W, R, B), so the weights are checked through the ONNX names: each is mapped back to PyTorch's by
re-exporting the trained model. Two runs give byte-identical files.
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
STEPS, BATCH, LR, MOMENTUM, WEIGHT_DECAY = 20, 16, 0.1, 0.9, 1e-4
HIDDEN = 16


class RowClassifier(nn.Module):
    """[N, 1, 8, 8] -> 8 steps of 8 features -> LSTM or GRU -> last hidden state(s) -> Linear(10)."""

    def __init__(self, cell, bidirectional=False):
        super().__init__()
        dirs = 2 if bidirectional else 1
        self.rnn = cell(8, HIDDEN, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(HIDDEN * dirs, 10)

    def forward(self, x):
        out = self.rnn(x.reshape(x.shape[0], 8, 8))[1]
        h = out[0] if isinstance(out, tuple) else out  # LSTM returns (h, c)
        return self.fc(h.transpose(0, 1).reshape(x.shape[0], -1))


def export(model):
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(2, 1, 8, 8),), buf, opset_version=14, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    return proto


def save(proto, name):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(proto.SerializeToString())


def main():
    torch.manual_seed(21)
    lstm = RowClassifier(nn.LSTM)
    init = export(lstm)
    save(init, "lstm_digits_init.onnx")
    torch.manual_seed(22)
    save(export(RowClassifier(nn.GRU, bidirectional=True)), "gru_digits_init.onnx")

    initial_state = {k: v.clone() for k, v in lstm.state_dict().items()}
    for one_batch, file in ((False, "lstm_digits_sgd20.npz"), (True, "lstm_digits_sgd20_one_batch.npz")):
        lstm.load_state_dict(initial_state)
        train(lstm, init, one_batch, file)


def train(lstm, init, one_batch, file):
    data = np.load(os.path.join(ROOT, "test_models", "digits_train.npz"))
    x, y = torch.from_numpy(data["input"]), torch.from_numpy(data["labels"])
    opt = torch.optim.SGD(lstm.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss()
    lstm.train()
    losses = []
    for k in range(STEPS):
        first = 0 if one_batch else k * BATCH
        xb, yb = x[first:first + BATCH], y[first:first + BATCH]
        opt.zero_grad()
        loss = loss_fn(lstm(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # The trained weights under the initial model's ONNX names: the same export, same node order.
    trained = export(lstm)
    names = [t.name for t in init.graph.initializer]
    after = {t.name: numpy_helper.to_array(t) for t in trained.graph.initializer}
    assert sorted(after) == sorted(names), (sorted(after), sorted(names))
    with open(os.path.join(HERE, file), "wb") as f:
        np.savez(f, loss=np.array(losses, dtype=np.float64),
                 **{n: after[n] for n in names if after[n].dtype == np.float32})
    print(file, "losses:", " ".join(f"{v:.4f}" for v in losses))


if __name__ == "__main__":
    main()
