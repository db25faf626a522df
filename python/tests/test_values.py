"""`Tensor.numpy()`: bit for bit gguf-py's `dequantize` on every F32, F16, TQ1_0 and TQ2_0 tensor
gguf-py reads, the Rust decoder (`bitnet-cli dequant`) on every tensor of the fixtures and of a
`gen-model --shape mini` model of each format, and the fixtures' expected.json."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import bitnet_gguf as b
import numpy as np
import pytest

from support import (
    FIXTURES,
    FORMATS,
    ROOT,
    THIRD_PARTY,
    bits,
    cli_dequant,
    fixtures,
    gguf_py_values,
    mini,
    rel,
    third_party,
)

# Every file with tensors that gguf-py reads: it rejects I2_S files (36 is not one of its types),
# which rules out the fixtures; the TQ models read.
GGUF_PY_FILES = [
    *[p for p in third_party() if b.open(p).tensors],
    *[mini(f) for f in ("tq2_0", "tq1_0")],
]


@pytest.mark.parametrize("path", GGUF_PY_FILES, ids=lambda p: p.name)
def test_every_tensor_gguf_py_decodes_is_bit_equal(path):
    m = b.open(path)
    theirs = gguf_py_values(path)
    decodable = {t.name for t in m.tensors if t.type_name in ("F32", "F16", "TQ1_0", "TQ2_0")}
    # gguf-py decodes more types (Q8_0); every type both decode is compared.
    assert decodable <= set(theirs), decodable - set(theirs)
    assert decodable, "no tensor to compare"
    for name in sorted(decodable):
        type_name, ne, values = theirs[name]
        t = m.tensor(name)
        ours = t.numpy()
        assert t.type_name == type_name
        assert ours.dtype == np.float32 and ours.flags.c_contiguous
        assert ours.shape == tuple(int(d) for d in ne[::-1]), name
        want = np.asarray(values, dtype=np.float32).reshape(ours.shape)
        if type_name in ("TQ1_0", "TQ2_0"):
            # dequant multiplies a TQ weight by its `.scale` tensor (docs/formats.md); gguf-py
            # decodes each tensor alone: (w x d) x s, one more f32 multiplication.
            stem = name.removesuffix(".weight")
            if name.endswith(".weight") and f"{stem}.scale" in theirs:
                s = np.float32(theirs[f"{stem}.scale"][2].reshape(-1)[0])
                want = want * s
        assert np.array_equal(bits(ours), bits(want)), name


def test_gguf_py_outputs_committed_beside_the_files():
    # gguf-py's own decodings, written when the files were made (testdata/third-party/README.md).
    for gguf, f32le, tensors in [
        ("gguf-py-tq1_0.gguf", "gguf-py-tq1_0.f32le", None),
        ("gguf-py-written.gguf", "gguf-py-written.tq2_0.f32le", ["t.tq2_0"]),
    ]:
        m = b.open(THIRD_PARTY / gguf)
        names = tensors or [t.name for t in m.tensors if t.type_name == "TQ1_0"]
        ours = np.concatenate([m.tensor(n).numpy().reshape(-1) for n in names])
        want = np.fromfile(THIRD_PARTY / f32le, dtype="<f4")
        assert np.array_equal(bits(ours), bits(want))


RUST_FILES = [*fixtures(), *[mini(f) for f in FORMATS]]


@pytest.mark.parametrize("path", RUST_FILES, ids=lambda p: p.name)
def test_every_tensor_equals_the_rust_decoder(path, tmp_path):
    m = b.open(rel(path))
    assert any(t.type_name in ("I2_S", "TQ1_0", "TQ2_0") for t in m.tensors)
    out = tmp_path / "values.f32"
    for t in m.tensors:
        run, want = cli_dequant(rel(path), t.name, out)
        assert run.status == 0, run.stderr
        ours = t.numpy()
        assert ours.shape == t.shape
        assert ours.dtype == np.float32
        assert np.array_equal(bits(ours.reshape(-1)), bits(want)), t.name


@pytest.mark.parametrize("fixture", json.loads((FIXTURES / "expected.json").read_text())["fixtures"], ids=lambda f: f["file"])
def test_fixture_values_match_expected_json(fixture):
    m = b.open(FIXTURES / fixture["file"])
    assert [t.name for t in m.tensors] == [t["name"] for t in fixture["tensors"]]
    for want in fixture["tensors"]:
        t = m.tensor(want["name"])
        assert (t.type_name, t.ggml_type, t.flavor, list(t.ne)) == (
            want["type"],
            want["ggml_type"],
            want["flavor"],
            want["ne"],
        )
        values = t.numpy()
        assert values.size == want["count"]
        le = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
        assert hashlib.sha256(le.tobytes()).hexdigest() == want["sha256"]
        assert ["0x%08x" % v for v in bits(le[:8])] == want["first_bits"]


def test_the_issue_command_prints_the_shape():
    # The "done when" of the issue, run from the root against the installed wheel.
    code = (
        "import bitnet_gguf as b; m=b.open('ci/fixtures/qk256/bitnetcpp_4x384_seed45.gguf'); "
        "print(m.tensor('blk.0.attn_q.weight').numpy().shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "(4, 384)\n"


def test_numpy_returns_a_new_array_each_call():
    t = b.open(FIXTURES / "qk256_4x256_seed42.gguf").tensor("blk.0.attn_q.weight")
    a, c = t.numpy(), t.numpy()
    a[:] = 7
    assert not np.array_equal(a, c)
    assert a.shape == (4, 256) and a.base is not c.base


def test_the_readme_example_runs(tmp_path):
    # The README's five lines, in a directory holding a model.gguf (a mini bitnetcpp model).
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) == 5
    (tmp_path / "model.gguf").write_bytes(mini("bitnetcpp").read_bytes())
    code = block.replace('"ci/fixtures/', f'"{ROOT}/ci/fixtures/')
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[] bitnet-b1.58\n(4, 384)\n"
    assert b.diff(tmp_path / "model.gguf", tmp_path / "model.tq2_0.gguf").equal
