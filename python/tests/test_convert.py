"""`convert()` and `diff()` against `bitnet-cli convert` and `bitnet-cli diff`: the same output
bytes, the same summary, the same refusals with the same messages, nothing left behind; and the
converted values equal to the source's."""

from __future__ import annotations

import json
import os

import bitnet_gguf as b
import numpy as np
import pytest

from support import FIXTURES, FORMATS, ROOT, THIRD_PARTY, bits, cli, fixtures, mini, rel

SOURCES = [*fixtures(), *[mini(f) for f in FORMATS]]


def leftovers(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.endswith(".tmp"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_convert_writes_what_the_cli_writes(source, tmp_path):
    src = rel(source)
    for to in FORMATS:
        theirs, ours = tmp_path / f"cli.{to}.gguf", tmp_path / f"py.{to}.gguf"
        run = cli("convert", src, theirs, "--to", to, "--json")
        if run.status != 0:
            assert run.status == 1, run.stderr
            with pytest.raises(b.ValidationError) as e:
                b.convert(src, ours, to)
            assert str(e.value) == run.error_lines()[-1]
            assert not ours.exists() and leftovers(tmp_path) == []
            continue
        summary = b.convert(src, ours, to=to)
        assert ours.read_bytes() == theirs.read_bytes(), to
        want = json.loads(run.stdout)
        for key in ("converted", "copied", "scales_written", "scales_dropped", "bytes_in", "bytes_out", "buffer_bytes", "workers"):
            assert getattr(summary, key) == want[key], key
        assert summary.to == want["to"] == to
        # The values survive, scales applied, tensor by tensor (diff checks the same in Rust).
        d = b.diff(src, ours)
        assert d.equal, d
        a, c = b.open(src), b.open(ours)
        for t in c.tensors:
            if t.type_name in ("I2_S", "TQ1_0", "TQ2_0"):
                assert np.array_equal(bits(t.numpy()), bits(a.tensor(t.name).numpy())), t.name
    assert leftovers(tmp_path) == []


def test_a_refusal_is_not_exact_error_and_writes_nothing(tmp_path):
    src = rel(FIXTURES / "qk256_3x300_seed43.gguf")
    dst = tmp_path / "out.gguf"
    run = cli("convert", src, dst, "--to", "tq2_0")
    assert run.status == 1
    with pytest.raises(b.NotExactError) as e:
        b.convert(src, dst, to="tq2_0")
    assert str(e.value) == run.error_lines()[-1]
    assert "cannot be converted to tq2_0 exactly" in str(e.value)
    assert str(e.value).endswith("; nothing written [not-exact]")
    assert e.value.path == src
    assert not dst.exists() and leftovers(tmp_path) == []


def test_an_invalid_input_is_validation_error(tmp_path):
    src = "fuzz/seeds/parse/malformed-i2s-ambiguous-1x160.gguf"
    run = cli("convert", src, tmp_path / "a.gguf", "--to", "tq2_0")
    with pytest.raises(b.ValidationError) as e:
        b.convert(src, tmp_path / "b.gguf", to="tq2_0")
    assert type(e.value) is b.ValidationError and e.value.code == "i2s-ambiguous-flavor"
    assert run.status == 1 and str(e.value) == run.error_lines()[-1]
    src = "fuzz/seeds/parse/malformed-bad-magic.gguf"
    run = cli("convert", src, tmp_path / "a.gguf", "--to", "tq2_0")
    with pytest.raises(b.ParseError) as e:
        b.convert(src, tmp_path / "b.gguf", to="tq2_0")
    assert run.status == 1 and str(e.value) == run.error_lines()[-1]


def test_an_existing_output_needs_force(tmp_path):
    src = rel(mini("bitnetcpp"))
    dst = tmp_path / "out.gguf"
    dst.write_bytes(b"keep me")
    with pytest.raises(b.UsageError) as e:
        b.convert(src, dst, to="tq2_0")
    assert str(e.value) == f"{dst}: exists; pass force=True to replace it"
    assert dst.read_bytes() == b"keep me"
    # The CLI's message names its flag; the rest is the same.
    run = cli("convert", src, dst, "--to", "tq2_0")
    assert run.status == 2 and run.error_lines() == [f"{dst}: exists; pass --force to replace it"]
    b.convert(src, dst, to="tq2_0", force=True)
    assert b.diff(src, dst).equal
    assert leftovers(tmp_path) == []


def test_the_input_is_never_the_output(tmp_path):
    src = tmp_path / "m.gguf"
    src.write_bytes(mini("qk256").read_bytes())
    link = tmp_path / "link.gguf"
    link.symlink_to(src)
    run = cli("convert", src, link, "--to", "tq2_0", "--force")
    with pytest.raises(b.UsageError) as e:
        b.convert(src, link, to="tq2_0", force=True)
    assert run.status == 2 and str(e.value) == run.error_lines()[-1]
    assert src.read_bytes() == mini("qk256").read_bytes()


def test_an_unknown_target_is_a_usage_error(tmp_path):
    with pytest.raises(b.UsageError, match=r'^unknown target format "q4_0"; expected one of qk256, bitnet32f16, tq2_0, bitnetcpp, tq1_0$'):
        b.convert(rel(mini("qk256")), tmp_path / "x.gguf", to="q4_0")
    assert os.listdir(tmp_path) == []


def test_arch_renames_the_architecture(tmp_path):
    src = rel(mini("bitnetcpp"))
    ours, theirs = tmp_path / "py.gguf", tmp_path / "cli.gguf"
    b.convert(src, ours, to="tq2_0", arch="bitnet")
    assert cli("convert", src, theirs, "--to", "tq2_0", "--arch", "bitnet").status == 0
    assert ours.read_bytes() == theirs.read_bytes()
    m = b.open(ours).metadata
    assert m["general.architecture"] == "bitnet"
    assert not any(k.startswith("bitnet-b1.58.") for k in m)


def diff_json(d: b.Diff, a: str, c: str) -> dict:
    """Diff as `bitnet-cli diff --json` prints it."""

    def tensor(t: b.TensorDiff) -> dict:
        out = {k: getattr(t, k) for k in ("name", "a_type", "b_type", "a_ne", "b_ne", "equal", "compared")}
        if t.compared == "values":
            out.update(values=t.values, differing=t.differing, max_abs_diff=t.max_abs_diff, max_rel_diff=t.max_rel_diff)
        elif t.compared is None:
            out["reason"] = t.reason
        return out

    return {
        "a": a,
        "b": c,
        "equal": d.equal,
        "metadata": {
            "added": d.added_keys,
            "removed": d.removed_keys,
            "changed": [{"key": k, "a": x, "b": y} for k, x, y in d.changed_keys],
        },
        "tensors": {"only_in_a": d.only_in_a, "only_in_b": d.only_in_b, "shared": [tensor(t) for t in d.shared]},
    }


def json_floats(value):
    """Floats as f32 bits, so a JSON decimal and the Python float of the same f32 compare equal."""
    if isinstance(value, float):
        return int(np.float32(value).view(np.uint32))
    if isinstance(value, list):
        return [json_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: json_floats(v) for k, v in value.items()}
    return value


PAIRS = [
    (FIXTURES / "qk256_4x256_seed42.gguf", FIXTURES / "qk256_3x300_seed43.gguf"),
    (FIXTURES / "bitnetcpp_4x384_seed45.gguf", FIXTURES / "bitnet32f16_2x64_seed44.gguf"),
    (mini("qk256"), mini("bitnetcpp")),
    (mini("tq2_0"), mini("tq1_0")),
    (mini("bitnet32f16"), mini("bitnet32f16")),
    # Tensors neither side can decode: not compared, with the reason.
    (ROOT / "fuzz/seeds/parse/malformed-i2s-bitnetcpp-nan-scale.gguf",) * 2,
    # Q8_0, which neither decodes: compared by its bytes.
    (THIRD_PARTY / "gguf-py-written.gguf",) * 2,
]


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0].name}-{p[1].name}")
def test_diff_reports_what_the_cli_reports(pair):
    a, c = map(rel, pair)
    run = cli("diff", a, c, "--json")
    assert run.status in (0, 1), run.stderr
    want = json.loads(run.stdout)
    d = b.diff(a, c)
    assert d.equal == (run.status == 0)
    ours = diff_json(d, a, c)
    # The metadata values: JSON prints an f32 as its shortest decimal, Python has its f64.
    assert json_floats(ours["metadata"]) == json_floats(want["metadata"])
    assert ours["tensors"] == want["tensors"]
    assert (ours["a"], ours["b"], ours["equal"]) == (want["a"], want["b"], want["equal"])


def test_diff_errors_are_the_cli_s(tmp_path):
    good = rel(mini("qk256"))
    for bad, cls in [
        ("fuzz/seeds/parse/malformed-bad-magic.gguf", b.ParseError),
        (str(tmp_path / "missing.gguf"), b.IoError),
    ]:
        run = cli("diff", good, bad)
        with pytest.raises(cls) as e:
            b.diff(good, bad)
        assert str(e.value) == run.error_lines()[-1]
