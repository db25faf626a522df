"""`Model`: the header, metadata and tensor list against gguf-py's reader (for the files it reads)
and against `bitnet-cli inspect --json` (for every file that parses)."""

from __future__ import annotations

import math

import bitnet_gguf as b
import numpy as np
import pytest

from support import FORMATS, ROOT, THIRD_PARTY, cli_json, fixtures, mini, rel, seeds, third_party


def parseable():
    for path in [*fixtures(), *third_party(), *seeds(), *[mini(f) for f in FORMATS]]:
        try:
            b.open(path)
        except b.ParseError:
            continue
        yield path


def same(ours, theirs) -> bool:
    """Python values against inspect's JSON: floats by their value as the file's type holds
    them (JSON has the shortest decimal; NaN and infinities are null)."""
    if isinstance(ours, float):
        if theirs is None:
            return not math.isfinite(ours)
        return ours == theirs or np.float32(ours) == np.float32(theirs)
    if isinstance(ours, list):
        return isinstance(theirs, list) and len(ours) == len(theirs) and all(map(same, ours, theirs))
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize("path", list(parseable()), ids=lambda p: p.name)
def test_model_is_what_inspect_lists(path):
    (want,) = cli_json("inspect", "--json", rel(path))
    m = b.open(rel(path))
    assert (m.version, m.alignment, m.data_offset) == (want["version"], want["alignment"], want["data_offset"])
    assert m.path == rel(path)
    metadata = m.metadata
    assert list(metadata) == list(want["metadata"])
    for key, value in metadata.items():
        assert same(value, want["metadata"][key]), key
    assert len(m.tensors) == len(want["tensors"])
    for t, w in zip(m.tensors, want["tensors"]):
        assert (t.name, t.ggml_type, t.type_name, list(t.ne), t.flavor, t.bytes) == (
            w["name"],
            w["ggml_type"],
            w["type_name"],
            w["ne"],
            w["flavor"],
            w["bytes"],
        )
        assert t.shape == tuple(reversed(t.ne))
        if t.offset is not None:
            assert t.offset == m.data_offset + w["offset"]


@pytest.mark.parametrize("path", [p for p in third_party()], ids=lambda p: p.name)
def test_model_is_what_gguf_py_reads(path):
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(path)
    m = b.open(path)
    assert (m.alignment, m.data_offset) == (reader.alignment, reader.data_offset)
    fields = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    metadata = m.metadata
    assert list(metadata) == [f.name for f in fields]
    for f in fields:
        ours = metadata[f.name]
        vtype = GGUFValueType(int(f.parts[2][0]))
        theirs = f.contents()
        if vtype == GGUFValueType.FLOAT32 or (vtype == GGUFValueType.ARRAY and f.types[-1] == GGUFValueType.FLOAT32):
            # gguf-py hands out numpy float32, which Python widens the way the package does.
            theirs = [float(np.float32(x)) for x in theirs] if isinstance(theirs, list) else float(np.float32(theirs))
        assert ours == theirs and type(ours) is type(theirs), f.name
        if isinstance(ours, list):
            assert all(type(x) is type(y) for x, y in zip(ours, theirs)), f.name
    for t, r in zip(m.tensors, reader.tensors, strict=True):
        assert (t.name, t.ggml_type, t.type_name, list(t.ne), t.offset, t.bytes) == (
            r.name,
            int(r.tensor_type),
            r.tensor_type.name,
            [int(d) for d in r.shape],
            int(r.data_offset),
            int(r.n_bytes),
        )


def test_u64_values_are_exact():
    metadata = b.open(THIRD_PARTY / "gguf-py-written.gguf").metadata
    assert metadata["test.u64"] == 2**63 + 5
    assert isinstance(metadata["test.u64"], int)


def test_duplicate_keys_keep_the_first_value(tmp_path):
    path = tmp_path / "dup.gguf"
    path.write_bytes((ROOT / "fuzz/seeds/parse/malformed-duplicate-keys.gguf").read_bytes())
    m = b.open(path)
    assert m.metadata == {"a": 1, "": 2}
    assert [f.code for f in m.check()] == ["duplicate-key", "empty-key"]


def test_reprs_name_the_things():
    path = rel(fixtures()[0])
    m = b.open(path)
    assert repr(m) == f'<bitnet_gguf.Model "{path}": 2 tensor(s), 10 key(s)>'
    assert repr(m.tensors[0]) == '<bitnet_gguf.Tensor "blk.0.attn_q.weight" I2_S(bitnet32f16) shape=(2, 64)>'
    (f,) = b.open("fuzz/seeds/parse/malformed-i2s-bitnetcpp-scale-sibling.gguf").check()
    assert repr(f) == f"<bitnet_gguf.Finding warning[scale-ignored]: {f.message}>"
