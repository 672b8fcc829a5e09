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


# Feature hints (issue 19 item 2): LeNet's second Conv+Relu and its hidden fully connected layer.
CONV = "/features/features.4/Relu_output_0"
HIDDEN = "/classifier/classifier.2/Relu_output_0"


def value_of(path, name, data):
    """`name` on the inputs of `data`, read in ONNX Runtime (the value made a graph output)."""
    m = onnx.load(str(path))
    m.graph.output.append(helper.make_empty_tensor_value_info(name))
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run([name], {"input": np.load(data)["input"]})[0]


def perturbed(teacher, path, scale):
    """The teacher with seeded noise on every weight: the same widths, other features."""
    m = onnx.load(str(teacher))
    rng = np.random.default_rng(2)
    for t in m.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        t.CopyFrom(onnx.numpy_helper.from_array((a + rng.standard_normal(a.shape) * scale).astype(np.float32), t.name))
    onnx.save(m, str(path))


@pytest.mark.parametrize("loss", ["mse", "cosine"])
def test_a_hint_of_the_same_width_pulls_the_student_feature_to_the_teacher(folder, loss):
    perturbed(folder / "lenet_digits.onnx", folder / "noisy.onnx", 0.1)
    val = folder / "digits_val.npz"
    teacher_f = value_of(folder / "lenet_digits.onnx", CONV, val)

    def distance(path):
        s = value_of(path, CONV, val).reshape(len(teacher_f), -1)
        t = teacher_f.reshape(len(teacher_f), -1)
        if loss == "mse":
            return float(((s - t) ** 2).mean())
        return float((1 - (s * t).sum(1) / (np.linalg.norm(s, axis=1) * np.linalg.norm(t, axis=1) + 1e-12)).mean())

    # lr small enough that the KL alone barely moves the features; the hint weight is what pulls
    common = ["--teacher", folder / "lenet_digits.onnx", "--student", folder / "noisy.onnx", "--data", folder / "digits_train.npz",
              "--epochs", "2", "--lr", "0.002", "--momentum", "0.9", "--hint-loss", loss]
    rc, out, err = run_scalec("distill", *common, "--hint", f"{CONV}={CONV}", "--hint-weight", "10",
                              "-o", folder / f"hint_{loss}.onnx", "--report", folder / f"hint_{loss}.json")
    assert rc == 0, err
    rc, out, err = run_scalec("distill", *common, "-o", folder / f"plain_{loss}.onnx")
    assert rc == 0, err
    before, hinted, plain = distance(folder / "noisy.onnx"), distance(folder / f"hint_{loss}.onnx"), distance(folder / f"plain_{loss}.onnx")
    assert hinted < 0.5 * before and hinted < 0.75 * plain, (before, hinted, plain)
    r = json.loads((folder / f"hint_{loss}.json").read_text())
    assert r["distill"]["hints"]["loss"] == loss and r["distill"]["hints"]["values"][0]["projection_parameters"] == 0
    epochs = r["epochs"]
    assert 0 < epochs[1]["hint_loss"] < epochs[0]["hint_loss"] < epochs[0]["loss"]
    # nothing was added to the model: same nodes, weights and outputs as the student
    a, b = onnx.load(str(folder / f"hint_{loss}.onnx")).graph, onnx.load(str(folder / "noisy.onnx")).graph
    assert [n.op_type for n in a.node] == [n.op_type for n in b.node]
    assert [o.name for o in a.output] == [o.name for o in b.output] == ["logits"]
    assert sorted(t.name for t in a.initializer) == sorted(t.name for t in b.initializer)


def test_hints_across_widths_train_projections_that_the_output_does_not_keep(folder):
    # the channel-pruned student: 8 of the teacher's 32 conv channels, 16 of its 64 hidden units
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "--val", folder / "digits_val.npz", *TRAIN,
                              "--hint", f"{CONV}={CONV},{HIDDEN}={HIDDEN}", "-o", folder / "hinted.onnx",
                              "--report", folder / "hinted.json")
    assert rc == 0, err
    r = json.loads((folder / "hinted.json").read_text())
    values = r["distill"]["hints"]["values"]
    assert [v["teacher_shape"] for v in values] == [[1, 32, 4, 4], [1, 64]]
    assert [v["student_shape"] for v in values] == [[1, 8, 4, 4], [1, 16]]
    assert [v["projection_parameters"] for v in values] == [32 * 8 + 32, 16 * 64 + 64]  # 1x1 Conv, linear map
    assert r["parameters_trained"] == 8 and "training 8 tensors" in err  # the projections are not the model's
    assert r["epochs"][-1]["hint_loss"] < r["epochs"][0]["hint_loss"]
    out_graph, student_graph = onnx.load(str(folder / "hinted.onnx")).graph, onnx.load(str(folder / "student.onnx")).graph
    assert [n.op_type for n in out_graph.node] == [n.op_type for n in student_graph.node]
    assert sorted(t.name for t in out_graph.initializer) == sorted(t.name for t in student_graph.initializer)
    assert [o.name for o in out_graph.output] == ["logits"]
    after = ort_accuracy(folder / "hinted.onnx", folder / "digits_val.npz")
    assert abs(after - r["accuracy_student"]) <= 1 / 360 + 1e-9 and after > 0.85
    passes = {p.key: p.value for p in onnx.load(str(folder / "hinted.onnx")).metadata_props}["scalec.passes"]
    assert f"hint={CONV}={CONV},{HIDDEN}={HIDDEN};hint-loss=mse;hint-weight=1" in passes


@pytest.mark.parametrize("hint, code, what", [
    (f"nope={CONV}", 2, "the teacher has no value named 'nope'"),
    (f"{CONV}=nope", 2, "the student has no value named 'nope'"),
    (f"input={CONV}", 2, "'input' is a graph input or weight"),
    (f"{CONV}={HIDDEN}", 2, "the teacher's value has shape [1, 32, 4, 4] and the student's [1, 16]"),
    ("no_equals_sign", 1, "expected TEACHER_VALUE=STUDENT_VALUE"),
])
def test_a_hint_that_does_not_fit_is_refused_naming_it(folder, hint, code, what):
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", "--hint", hint, "-o", folder / "bad.onnx")
    assert rc == code and what in err, err
    assert not (folder / "bad.onnx").exists()


@pytest.mark.parametrize("flags, what", [
    (["--device", "cuda"], "this build has no CUDA kernels yet"),
    (["--teacher-device", "cuda:1"], "this build has no CUDA kernels yet"),
    (["--device", "tpu"], "'tpu' is not a device"),
    (["--cache-top-k", "3"], "--cache-top-k needs --cache-teacher"),
    (["--hint", f"{CONV}={CONV}", "--cache-teacher", "c"], "--hint needs its intermediate values every step"),
])
def test_options_this_build_cannot_honour_are_refused(folder, flags, what):
    rc, out, err = run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                              "--data", folder / "digits_train.npz", *flags, "-o", folder / "bad.onnx")
    assert rc == 1 and what in err, err
    assert not (folder / "bad.onnx").exists()


def test_cache_top_k_keeps_the_largest_logits_and_their_classes(folder):
    cache = folder / "cache_top3"
    run = lambda k, out: run_scalec("distill", "--teacher", folder / "lenet_digits.onnx", "--student", folder / "student.onnx",
                                    "--data", folder / "digits_train.npz", *TRAIN, "--cache-teacher", cache,
                                    "--cache-top-k", str(k), "-o", folder / out, "--report", folder / "k.json")
    rc, out, err = run(3, "k1.onnx")
    assert rc == 0 and "3 of 10 teacher logits per sample stored" in err, err
    header = json.loads((cache / "teacher_logits.json").read_text())
    assert header["k"] == 3 and header["classes"] == 10
    assert json.loads((folder / "k.json").read_text())["distill"]["cache"] == {"k": 3, "classes": 10}
    values = np.fromfile(cache / "teacher_logits.f32", np.float32).reshape(1437, 3)
    classes = np.fromfile(cache / "teacher_indices.i32", np.int32).reshape(1437, 3)
    x = np.load(folder / "digits_train.npz")["input"]
    ref = ort.InferenceSession(str(folder / "lenet_digits.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    top3 = np.argsort(-ref, axis=1, kind="stable")[:, :3]
    agree = (classes == top3).all(1)
    assert agree.mean() > 0.99  # near-ties may order differently in float32 sums
    assert np.allclose(values, np.take_along_axis(ref, classes, 1), atol=1e-4)
    rc, out, err = run(3, "k2.onnx")
    assert rc == 0 and "read from" in err, err
    assert (folder / "k1.onnx").read_bytes() == (folder / "k2.onnx").read_bytes()
    assert ort_accuracy(folder / "k2.onnx", folder / "digits_val.npz") > 0.85
    # the student trained on the top 3 is not the one the whole distribution trains (c1.onnx, same recipe)
    if not (folder / "c1.onnx").exists():  # run alone: make the whole-distribution student here
        assert distill_cached(folder, "lenet_digits.onnx", "digits_train.npz", "c1.onnx")[0] == 0
    assert not np.allclose(weights(folder / "k1.onnx")["features.0.weight"], weights(folder / "c1.onnx")["features.0.weight"])
    rc, out, err = run(5, "k5.onnx")  # this folder keeps 3: another k is refused
    assert rc == 2 and "keeps the 3 largest of 10 logits, this run asks for 5" in err
    assert not (folder / "k5.onnx").exists() and np.array_equal(np.fromfile(cache / "teacher_logits.f32", np.float32).reshape(1437, 3), values)
