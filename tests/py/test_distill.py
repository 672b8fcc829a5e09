"""scalec distill (issue 19 item 1): a student trained on a teacher's soft targets, as a command and
as a pipeline stage; figures checked in ONNX Runtime; bad teachers refused with exit 2 naming why."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from conftest import REPO_ROOT, run_scalec

MODELS = REPO_ROOT / "test_models"
TRAIN = ["--lr", "0.02", "--momentum", "0.9", "--epochs", "3"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The bundled LeNet as teacher, and a student with 3/4 of its channels removed (12x fewer MACs)."""
    d = tmp_path_factory.mktemp("distill")
    for name in ["lenet_digits.onnx", "digits_train.npz", "digits_val.npz"]:
        shutil.copy(MODELS / name, d / name)
    rc, out, err = run_scalec("prune", d / "lenet_digits.onnx", "--method", "channel", "--sparsity", "0.75",
                              "-o", d / "student.onnx")
    assert rc == 0, err
    train = dict(np.load(d / "digits_train.npz"))
    train.pop("labels")
    np.savez(d / "unlabelled.npz", **train)
    return d


def ort_accuracy(path, data):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    d = np.load(data)
    return float((s.run(None, {"input": d["input"]})[0].argmax(1) == d["labels"]).mean())


def test_student_learns_from_the_teacher_and_reports_what_onnxruntime_measures(folder):
    before = ort_accuracy(folder / "student.onnx", folder / "digits_val.npz")
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "--val", folder / "digits_val.npz", *TRAIN,
                              "--report", folder / "d.json")
    assert rc == 0, err
    out_path = folder / "student.distilled.onnx"  # default output: the student's stem
    r = json.loads((folder / "d.json").read_text())
    assert r["distill"]["temperature"] == 4 and r["distill"]["distill_weight"] == 0.5 and r["distill"]["t2"]
    assert not r["distill"]["labels_from_teacher"]
    after = ort_accuracy(out_path, folder / "digits_val.npz")
    assert abs(after - r["accuracy_student"]) <= 1 / 360 + 1e-9
    assert abs(ort_accuracy(folder / "lenet_digits.onnx", folder / "digits_val.npz") - r["accuracy_teacher"]) < 1e-9
    assert before < 0.5 < 0.85 < after, (before, after)
    passes = {p.key: p.value for p in onnx.load(str(out_path)).metadata_props}["scalec.passes"]
    assert "distill<teacher=lenet_digits.onnx;epochs=3;" in passes and passes.startswith("prune-channels<")


def test_without_labels_the_teacher_alone_trains_the_student(folder):
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "unlabelled.npz", *TRAIN, "-o", folder / "s.onnx", "--report", folder / "u.json")
    assert rc == 0, err
    r = json.loads((folder / "u.json").read_text())
    assert r["distill"]["labels_from_teacher"] and r["distill"]["distill_weight"] == 1.0
    assert ort_accuracy(folder / "s.onnx", folder / "digits_val.npz") > 0.8


def test_no_t2_drops_the_temperature_squared_factor(folder):
    losses = {}
    for flag in [[], ["--no-t2"]]:
        rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                                  "--data", folder / "unlabelled.npz", "--epochs", "1", "--lr", "1e-7",
                                  "--temperature", "4", *flag, "-o", folder / "t.onnx", "--report", folder / "t.json")
        assert rc == 0, err
        losses[bool(flag)] = json.loads((folder / "t.json").read_text())["epochs"][0]["loss"]
    # Distill weight 1 without labels: the loss is the KL term alone, 16x smaller without T^2 (lr
    # 1e-7: the weights barely move, so both runs see the same KL).
    assert losses[True] * 16 == pytest.approx(losses[False], rel=1e-3)


def test_distill_as_a_pipeline_stage_with_a_gate_against_the_teacher(folder):
    (folder / "p.yaml").write_text(
        "model: student.onnx\noutput: student.small.onnx\n"
        "data: {train: digits_train.npz, val: digits_val.npz, calib: digits_val.npz}\n"
        "stages:\n  - distill: {teacher: lenet_digits.onnx, epochs: 3, lr: 0.02, momentum: 0.9}\n  - quantize\n"
        "gates: {max-size: 20000}\n")
    rc, out, err = run_scalec("run", folder / "p.yaml")
    assert rc == 0, err
    assert ort_accuracy(folder / "student.small.onnx", folder / "digits_val.npz") > 0.85


def write_model(path, input_name, classes):
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 1, 8, 8])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])
    w = helper.make_tensor("w", TensorProto.FLOAT, [64, classes], np.full(64 * classes, 0.01, np.float32))
    g = helper.make_graph([helper.make_node("Flatten", [input_name], ["f"]), helper.make_node("MatMul", ["f", "w"], ["logits"])],
                          "g", [x], [y], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.parametrize("teacher, what", [
    ("narrow", "teacher's logits are 5 wide and the student's 10"),
    ("other_input", "the teacher reads input 'pixels'"),
])
def test_a_teacher_that_does_not_fit_is_refused_naming_why(folder, teacher, what):
    path = folder / f"{teacher}.onnx"
    write_model(path, "pixels" if teacher == "other_input" else "input", 5 if teacher == "narrow" else 10)
    rc, out, err = run_scalec("distill", "--teacher", path, "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "-o", folder / "bad.onnx")
    assert rc == 2 and what in err, err
    assert not (folder / "bad.onnx").exists()


def test_usage_errors(folder):
    rc, out, err = run_scalec("distill", "--student", folder / "student.onnx", "--data", folder / "digits_train.npz")
    assert rc == 1 and "--teacher" in err
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "--teacher-output", "nope", "-o", folder / "x.onnx")
    assert rc == 2 and "no output named 'nope'" in err
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "-o", folder / "lenet_digits.onnx")
    assert rc == 1 and "--teacher" in err  # an output may not overwrite the teacher


def narrower_hidden_layer(teacher, path):
    """The teacher with classifier.1 64 -> 32 wide (its weights and classifier.3's weight reshaped,
    seeded random): every other initializer keeps its name and shape, with other values."""
    m = onnx.load(str(teacher))
    rng = np.random.default_rng(1)
    for t in m.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        shape = {"classifier.1.weight": (32, 128), "classifier.1.bias": (32,), "classifier.3.weight": (10, 32)}.get(t.name, a.shape)
        t.CopyFrom(onnx.numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), t.name))
    del m.graph.value_info[:]  # the recorded [N, 64] shapes no longer hold
    onnx.save(m, str(path))


def weights(path):
    return {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def test_init_from_teacher_copies_the_weights_whose_name_and_shape_match(folder):
    narrower_hidden_layer(folder / "lenet_digits.onnx", folder / "narrow.onnx")
    # lr 1e-9: one epoch leaves every weight where it started, so the output shows what was copied
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "narrow.onnx",
                              "--data", folder / "digits_val.npz", "--epochs", "1", "--lr", "1e-9", "--init-from-teacher",
                              "-o", folder / "n.onnx", "--report", folder / "n.json")
    assert rc == 0, err
    teacher, student, out_w = weights(folder / "lenet_digits.onnx"), weights(folder / "narrow.onnx"), weights(folder / "n.onnx")
    changed = {"classifier.1.weight", "classifier.1.bias", "classifier.3.weight"}
    for name, w in out_w.items():
        expect = student[name] if name in changed else teacher[name]
        assert w.shape == expect.shape and np.allclose(w, expect, atol=1e-6), name
        if name not in changed:
            assert not np.allclose(student[name], teacher[name]), name  # equal only because it was copied
    r = json.loads((folder / "n.json").read_text())["distill"]["init_from_teacher"]
    assert r == {"tensors": 5, "float_tensors": 8, "elements": 16 * 9 + 16 + 32 * 16 * 9 + 32 + 10}
    assert "copied 5 of the student's 8 float tensors" in err


def test_init_from_teacher_with_nothing_in_common_copies_nothing_and_says_so(folder):
    write_model(folder / "other.onnx", "input", 10)
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "other.onnx",
                              "--data", folder / "digits_val.npz", "--epochs", "1", "--init-from-teacher",
                              "-o", folder / "o.onnx", "--report", folder / "o.json")
    assert rc == 0, err
    assert json.loads((folder / "o.json").read_text())["distill"]["init_from_teacher"]["tensors"] == 0
    assert "none of the student's 1 float initializers matches" in err


def distill_cached(folder, teacher, data, out):
    return run_scalec("distill", "--teacher", folder / teacher, "--student", folder / "student.onnx", "--data", folder / data,
                      *TRAIN, "--cache-teacher", folder / "cache", "-o", folder / out)


def test_cache_teacher_stores_the_teacher_logits_once_and_reuses_them(folder):
    rc, out, err = distill_cached(folder, "lenet_digits.onnx", "digits_train.npz", "c1.onnx")
    assert rc == 0 and "stored in" in err, err
    header = json.loads((folder / "cache" / "teacher_logits.json").read_text())
    assert header["samples"] == 1437 and header["classes"] == header["k"] == 10 and header["dtype"] == "float32"
    logits = np.fromfile(folder / "cache" / "teacher_logits.f32", np.float32).reshape(1437, 10)
    x = np.load(folder / "digits_train.npz")["input"]
    ref = ort.InferenceSession(str(folder / "lenet_digits.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert np.allclose(logits, ref, atol=1e-4)
    rc, out, err = distill_cached(folder, "lenet_digits.onnx", "digits_train.npz", "c2.onnx")
    assert rc == 0 and "read from" in err, err
    assert (folder / "c1.onnx").read_bytes() == (folder / "c2.onnx").read_bytes()  # same logits, same training
    assert ort_accuracy(folder / "c2.onnx", folder / "digits_val.npz") > 0.85


@pytest.mark.parametrize("teacher, data, what", [
    ("student.onnx", "digits_train.npz", "made from another teacher"),
    ("lenet_digits.onnx", "digits_val.npz", "made from other data"),
])
def test_a_cache_from_another_teacher_or_other_data_is_refused(folder, teacher, data, what):
    if not (folder / "cache" / "teacher_logits.json").exists():
        assert distill_cached(folder, "lenet_digits.onnx", "digits_train.npz", "c0.onnx")[0] == 0
    before = (folder / "cache" / "teacher_logits.f32").read_bytes()
    rc, out, err = distill_cached(folder, teacher, data, "bad.onnx")
    assert rc == 2 and what in err, err
    assert not (folder / "bad.onnx").exists() and (folder / "cache" / "teacher_logits.f32").read_bytes() == before
