"""Every documented finding and error on the hostile corpus: `Model.check()` against
`bitnet-cli compat-check --json`, `open()` and `numpy()` against `bitnet-cli dequant` (the same
exception kind for the same exit status, the same message, the same warnings), the findings each
corpus file must give (the Rust tests' expectations), every code of docs/validation.md exercised,
and the exception classes."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import bitnet_gguf as b
import numpy as np
import pytest

from support import (
    FORMATS,
    ROOT,
    THIRD_PARTY,
    bits,
    cli,
    cli_dequant,
    cli_json,
    fixtures,
    hostile_files,
    mini,
    rel,
    seeds,
    third_party,
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    out = {}
    for code, data in hostile_files().items():
        out[code] = d / f"{code}.gguf"
        out[code].write_bytes(data)
    return out


def all_files(hostile) -> list[Path]:
    return [*fixtures(), *third_party(), *seeds(), *hostile.values(), *[mini(f) for f in FORMATS]]


def findings_json(m: b.Model, strict: bool) -> dict:
    """Model.check() as compat-check --json groups it."""
    found = m.check(strict=strict)
    group = lambda s: [f.as_dict() for f in found if f.severity == s]
    errors = group("error")
    return {"valid": not errors, "errors": errors, "warnings": group("warning"), "info": group("info")}


def test_check_is_compat_check(hostile):
    for path in all_files(hostile):
        for strict in (False, True):
            args = ["compat-check", "--json", *(["--strict"] if strict else []), rel(path)]
            (want,) = cli_json(*args)
            del want["path"]
            try:
                m = b.open(rel(path))
            except b.ParseError as e:
                # A file that does not parse: compat-check reports the parse error as its one
                # finding; open() raises it.
                (finding,) = want["errors"]
                assert str(e) == f"{rel(path)}: {finding['message']} [{finding['code']}]"
                assert (e.code, e.offset, e.path) == (finding["code"], finding.get("offset"), rel(path))
                continue
            assert findings_json(m, strict) == want, path


# The findings `Model::check` must give on the committed corpus, as
# crates/bitnet-models/tests/fuzz_regressions.rs expects them.
SEED_CODES = {
    "malformed-i2s-ambiguous-1x160.gguf": ["i2s-ambiguous-flavor"],
    "malformed-i2s-size-mismatch.gguf": ["i2s-size-mismatch"],
    "malformed-i2s-qk256-reserved-nan-scale.gguf": ["scale-not-finite"],
    "malformed-i2s-qk256-scale-f16-pair.gguf": ["scale-shape"],
    "malformed-i2s-bitnet32f16-odd-scales.gguf": ["reserved-code", "block-scale-not-finite"],
    "malformed-tq2_0-all-codes.gguf": ["reserved-code"],
    "malformed-i2s-bitnetcpp-reserved-codes.gguf": ["reserved-code"],
    "malformed-i2s-bitnetcpp-nan-scale.gguf": ["scale-not-finite"],
    "malformed-i2s-bitnetcpp-inf-scale.gguf": ["scale-not-finite"],
    "malformed-i2s-bitnetcpp-truncated-codes.gguf": ["i2s-size-mismatch"],
    "malformed-i2s-bitnetcpp-truncated-tail.gguf": ["i2s-size-mismatch"],
    "malformed-i2s-bitnetcpp-cols-not-128.gguf": ["i2s-size-mismatch"],
    "malformed-i2s-bitnetcpp-ambiguous-1x128.gguf": ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-1x128-from-file.gguf": ["i2s-flavor-from-file"],
    "malformed-i2s-bitnetcpp-1x128-mixed-file.gguf": ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-ambiguous-1x512.gguf": ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-1x512-from-file.gguf": ["i2s-flavor-from-file"],
    "malformed-i2s-bitnet32f16-1x512-from-file.gguf": ["i2s-flavor-from-file"],
    "malformed-i2s-bitnetcpp-1x512-qk256-file.gguf": ["i2s-ambiguous-flavor"],
    "malformed-i2s-bitnetcpp-garbage-tail.gguf": [],
    "malformed-i2s-bitnetcpp-negative-scale.gguf": [],
    "malformed-i2s-bitnetcpp-scale-sibling.gguf": ["scale-ignored"],
    "malformed-tq1_0-nan-scale.gguf": ["block-scale-not-finite"],
    "malformed-bitnet-keys-inconsistent.gguf": [
        "key-type", "missing-key", "missing-key", "key-type", "missing-key", "key-inconsistent",
        "key-inconsistent",
    ],
    "malformed-offset-u64-max.gguf": [
        "misaligned-offset", "tensor-gap", "data-out-of-bounds", "trailing-bytes",
    ],
    "malformed-misordered-tensors.gguf": ["tensor-gap", "tensor-misordered", "trailing-bytes"],
}


def test_the_corpus_gives_the_findings_the_rust_tests_expect():
    for name, codes in SEED_CODES.items():
        assert [f.code for f in b.open(ROOT / "fuzz/seeds/parse" / name).check()] == codes, name


def test_each_hostile_file_gives_its_code(hostile):
    for code, path in hostile.items():
        try:
            found = [f.code for f in b.open(path).check()]
        except b.ParseError as e:
            found = [e.code]
        assert code in found, (code, found)


def documented_codes() -> set[str]:
    """The codes of docs/validation.md's tables, and those of dequant's errors (docs/cli.md)."""
    text = (ROOT / "docs" / "validation.md").read_text()
    codes = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert len(codes) > 40
    return codes | {"no-such-tensor", "unsupported-type"}


def outcome(path: str, name: str):
    """What the package does with tensor `name` of `path`: ("ok", values, warnings) or
    ("error", exception, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values = b.open(path).tensor(name).numpy()
            result = ("ok", values)
        except b.GgufError as e:
            result = ("error", e)
    messages = [str(w.message) for w in caught if issubclass(w.category, b.GgufWarning)]
    assert all(issubclass(w.category, b.GgufWarning) for w in caught), caught
    return (*result, messages)


def test_open_and_numpy_behave_as_dequant(hostile, tmp_path):
    """For every file, every tensor name and one the file lacks: the CLI's exit status 0 is a
    result with the same bits (and warnings as below), 1 a ParseError or ValidationError, 2 a UsageError or
    IoError, each with the CLI's message and code. And every documented code is among the codes
    raised here and the findings of `check()` on the same files."""
    out = tmp_path / "values.f32"
    seen = set()
    for path in all_files(hostile):
        p = rel(path)
        try:
            names = [t.name for t in b.open(p).tensors]
        except b.ParseError:
            names = []
        for name in [*names, "no.such.tensor"]:
            run, want = cli_dequant(p, name, out)
            kind, got, warned = outcome(p, name)
            # dequant warns about every finding of the file; numpy() reads no other tensor, so
            # it warns about the container's findings and this tensor's: a part of dequant's,
            # in the same order, with every one about this tensor.
            cli_warned = run.warning_lines()
            assert [w for w in cli_warned if w in warned] == warned, (p, name)
            about = {f"{p}: {f.message} [{f.code}]" for f in _checked(p) if getattr(f, "tensor", None) == name}
            assert [w for w in cli_warned if w in about] == [w for w in warned if w in about], (p, name)
            if run.status == 0:
                assert kind == "ok", (p, name, got)
                assert np.array_equal(bits(got.reshape(-1)), bits(want)), (p, name)
                continue
            assert kind == "error", (p, name, run.stderr)
            expected = (b.ParseError, b.ValidationError) if run.status == 1 else (b.UsageError, b.IoError)
            assert isinstance(got, expected), (p, name, type(got), run.stderr)
            # dequant prints each refusing finding; the last is the one it exits on.
            assert str(got) == run.error_lines()[-1], (p, name)
            assert got.path == p
            if got.code is not None:
                assert str(got).endswith(f"[{got.code}]") or got.code == "no-such-tensor"
                seen.add(got.code)
    seen |= {f.code for path in all_files(hostile) for f in _checked(path)}
    missing = documented_codes() - seen
    assert not missing, f"documented codes no file exercises: {sorted(missing)}"


def _checked(path: Path):
    try:
        return b.open(path).check()
    except b.ParseError as e:
        return [e]


def test_io_errors_are_the_cli_s(tmp_path):
    missing = tmp_path / "missing.gguf"
    for target in (missing, tmp_path, Path("/dev/null")):
        run = cli("dequant", target, "x")
        assert run.status == 2
        with pytest.raises(b.IoError) as e:
            b.open(target)
        assert str(e.value) == run.error_lines()[-1]
        assert isinstance(e.value, OSError) and e.value.path == str(target)


def test_an_empty_file_is_truncated(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(b.ParseError) as e:
        b.open(empty)
    assert (e.value.code, e.value.offset) == ("truncated", 0)


def test_the_exception_classes():
    assert issubclass(b.GgufError, Exception)
    for cls in (b.ParseError, b.ValidationError, b.UsageError, b.IoError):
        assert issubclass(cls, b.GgufError)
    assert issubclass(b.NotExactError, b.ValidationError)
    assert issubclass(b.UsageError, ValueError) and issubclass(b.IoError, OSError)
    assert issubclass(b.GgufWarning, UserWarning) and not issubclass(b.GgufWarning, b.GgufError)
    assert b.GgufError.__module__ == "bitnet_gguf"
    e = b.ValidationError("by hand")
    assert (str(e), e.code, e.path, e.offset, e.tensor, e.key) == ("by hand", None, None, None, None, None)


def test_a_validation_error_carries_the_finding():
    path = "fuzz/seeds/parse/malformed-i2s-bitnetcpp-nan-scale.gguf"
    with pytest.raises(b.ValidationError) as e:
        b.open(path).tensor("w").numpy()
    (finding,) = b.open(path).check()
    assert (e.value.code, e.value.offset, e.value.tensor, e.value.key) == (
        finding.code,
        finding.offset,
        finding.tensor,
        None,
    )
    assert str(e.value) == f"{path}: {finding.message} [{finding.code}]"


def test_warnings_can_be_made_errors():
    t = b.open("fuzz/seeds/parse/malformed-tq2_0-all-codes.gguf").tensor("t")
    with warnings.catch_warnings():
        warnings.simplefilter("error", b.GgufWarning)
        with pytest.raises(b.GgufWarning, match=r"reserved code\(s\) 3.*\[reserved-code\]$"):
            t.numpy()


def test_a_bad_kernel_is_a_usage_error_as_in_the_cli(tmp_path):
    import subprocess
    import sys

    code = "import bitnet_gguf as b; b.open('ci/fixtures/qk256/qk256_4x256_seed42.gguf').tensor('blk.0.attn_q.weight').numpy()"
    env = {"BITNET_KERNEL": "sse9", "PATH": "/usr/bin:/bin"}
    py = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "bitnet_gguf.UsageError: BITNET_KERNEL: unknown kernel \"sse9\"" in py.stderr, py.stderr
    import os

    run = subprocess.run(
        [os.environ["BITNET_CLI"], "dequant", "ci/fixtures/qk256/qk256_4x256_seed42.gguf", "blk.0.attn_q.weight"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip().removeprefix("error: ") in py.stderr
