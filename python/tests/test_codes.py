"""`Tensor.codes()`: the weights and scales against a decoder of the stored bytes written here from
docs/formats.md, and `(values * d) * scale == numpy()` bit for bit, on every ternary tensor of
the fixtures, the mini models and the hostile corpus files whose tensors decode."""

from __future__ import annotations

import warnings

import bitnet_gguf as b
import numpy as np
import pytest

from support import FIXTURES, FORMATS, bits, fixtures, mini, reference_codes, seeds

TERNARY = ("I2_S", "TQ1_0", "TQ2_0")


def ternary_tensors():
    files = [*fixtures(), *[mini(f) for f in FORMATS], *seeds()]
    for path in files:
        try:
            m = b.open(path)
        except b.ParseError:
            continue
        for t in m.tensors:
            if t.type_name in TERNARY:
                yield path, t.name


def decodes(t: b.Tensor) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", b.GgufWarning)
        try:
            t.numpy()
            return True
        except b.ValidationError:
            return False


CASES = [(p, n) for p, n in ternary_tensors() if decodes(b.open(p).tensor(n))]


@pytest.mark.filterwarnings("ignore::bitnet_gguf.GgufWarning")
@pytest.mark.parametrize("path,name", CASES, ids=lambda x: getattr(x, "name", x))
def test_codes_are_the_stored_codes_and_rebuild_numpy(path, name):
    t = b.open(path).tensor(name)
    c = t.codes()
    values = t.numpy()
    fmt = t.flavor or t.type_name.lower()
    assert c.format == fmt
    assert c.values.dtype == np.int8 and c.values.shape == t.shape
    assert set(np.unique(c.values)) <= {-1, 0, 1}

    cols = t.ne[0]
    rows = int(np.prod(t.ne[1:], dtype=np.int64))
    with open(path, "rb") as f:
        f.seek(t.offset)
        stored = f.read(t.bytes)
    assert len(stored) == t.bytes
    w, d = reference_codes(fmt, stored, rows, cols)
    assert np.array_equal(c.values.reshape(rows, cols), w)
    if d is None:
        assert c.block_scales is None and c.block_size is None
        expanded = np.float32(1.0)
    else:
        assert c.block_size == {"bitnet32f16": 32}.get(fmt, 256)
        assert c.block_scales.shape == (*t.shape[:-1], d.shape[1])
        assert np.array_equal(bits(c.block_scales.reshape(rows, -1)), bits(d))
        expanded = np.repeat(c.block_scales, c.block_size, axis=-1)[..., :cols]
    with np.errstate(invalid="ignore"):  # NaN and infinite block scales multiply as they are
        rebuilt = (c.values.astype(np.float32) * expanded) * np.float32(c.scale)
    assert np.array_equal(bits(rebuilt), bits(values))


def test_scales_of_each_format():
    # QK256: the `.scale` tensor; bitnetcpp: the tail; BitNet32F16: block scales, scale 1.
    m = b.open(FIXTURES / "qk256_4x256_seed42.gguf")
    sibling = m.tensor("blk.0.attn_q.scale").numpy()[0]
    assert m.tensor("blk.0.attn_q.weight").codes().scale == sibling
    m = b.open(FIXTURES / "bitnet32f16_2x64_seed44.gguf")
    c = m.tensor("blk.0.attn_q.weight").codes()
    assert (c.scale, c.block_size, c.block_scales.shape) == (1.0, 32, (2, 2))
    # gen-model's TQ2_0 weights have block scales 1.0 and the tensor scale in `.scale`.
    m = b.open(mini("tq2_0"))
    c = m.tensor("blk.0.attn_q.weight").codes()
    assert np.all(c.block_scales == 1.0)
    assert c.scale == m.tensor("blk.0.attn_q.scale").numpy()[0]


def test_codes_of_a_non_ternary_tensor_is_a_usage_error():
    m = b.open(FIXTURES / "qk256_4x256_seed42.gguf")
    with pytest.raises(b.UsageError) as e:
        m.tensor("blk.0.attn_norm.weight").codes()
    assert str(e.value).endswith(
        'tensor "blk.0.attn_norm.weight" has type F32; codes() reads I2_S, TQ1_0 and TQ2_0 tensors'
    )
