"""What the tests share: the files they read, bitnet-cli, gguf-py, and a builder of GGUF bytes.

Nothing here decodes with the package under test. The expectations come from elsewhere: the Rust
decoder (`bitnet-cli`, the release binary `cargo xtask python` builds), gguf-py (the reference
Python reader, pinned in requirements-test.txt), gguf-py's own outputs committed in
testdata/third-party, `ci/fixtures/qk256/expected.json`, and reference decoders written here from
the layouts of docs/formats.md.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "ci" / "fixtures" / "qk256"
THIRD_PARTY = ROOT / "testdata" / "third-party"
# The hostile corpus of the Rust tests (bitnet-testkit's corpus.rs), as `cargo xtask fuzz
# --write-seeds` commits it; `--check-seeds` (a test of the xtask) keeps it current.
SEEDS = ROOT / "fuzz" / "seeds" / "parse"


def env_path(name: str) -> Path:
    """A path `cargo xtask python` passes in the environment. Missing is an error, never a skip."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the suite with `cargo xtask python`")
    path = Path(value)
    if not path.exists():
        raise RuntimeError(f"{name}={value} does not exist")
    return path


CLI = env_path("BITNET_CLI")
WORK = env_path("BITNET_WORK")

FORMATS = ("qk256", "bitnet32f16", "bitnetcpp", "tq2_0", "tq1_0")


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.gguf"))


def third_party() -> list[Path]:
    return sorted(THIRD_PARTY.glob("*.gguf"))


def mini(format: str) -> Path:
    """`cargo xtask gen-model --shape mini` (seed 1) of `format`, which `cargo xtask python`
    writes into BITNET_WORK before running the tests."""
    path = WORK / f"mini-{format}.gguf"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run the suite with `cargo xtask python`")
    return path


def seeds() -> list[Path]:
    return sorted(SEEDS.glob("*.gguf"))


def rel(path: Path) -> str:
    """A path as the tests pass it to both the package and the CLI: relative to the root when
    inside it, so messages are short."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass
class Run:
    status: int
    stdout: bytes
    stderr: str

    def error_lines(self) -> list[str]:
        return [l[len("error: ") :] for l in self.stderr.split("\n") if l.startswith("error: ")]

    def warning_lines(self) -> list[str]:
        return [l[len("warning: ") :] for l in self.stderr.split("\n") if l.startswith("warning: ")]


def cli(*args: str | Path) -> Run:
    """Runs bitnet-cli from the root (as the tests pass relative paths)."""
    env = {k: v for k, v in os.environ.items() if k != "BITNET_STRICT_MODE"}
    p = subprocess.run(
        [str(CLI), *map(str, args)], cwd=ROOT, capture_output=True, env=env, timeout=600
    )
    return Run(p.returncode, p.stdout, p.stderr.decode())


def cli_json(*args: str | Path) -> list[dict]:
    run = cli(*args)
    # Lines end at "\n" only: a string value may hold U+2028 and the like, which JSON keeps raw.
    return [json.loads(line) for line in run.stdout.decode().split("\n") if line]


def cli_dequant(path: str, tensor: str, out: Path) -> tuple[Run, np.ndarray | None]:
    """`bitnet-cli dequant PATH TENSOR --format f32le --out OUT`: the run, and the values when
    it wrote them."""
    if out.exists():
        out.unlink()
    run = cli("dequant", path, tensor, "--format", "f32le", "--out", out)
    values = np.fromfile(out, dtype="<f4") if run.status == 0 else None
    return run, values


def bits(a: np.ndarray) -> np.ndarray:
    """float32 values as their bit patterns, to compare exactly (-0.0 is not 0.0, NaN is NaN)."""
    return np.ascontiguousarray(a, dtype="<f4").view("<u4")


def gguf_py_values(path: Path) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """gguf-py's reading of every tensor it decodes: name -> (type name, ne, values)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    out = {}
    for t in reader.tensors:
        try:
            values = dequantize(t.data, t.tensor_type)
        except NotImplementedError:
            continue
        out[t.name] = (t.tensor_type.name, np.array(t.shape, dtype=np.int64), values)
    return out


# --- GGUF bytes, field by field (as bitnet-testkit's `Raw` writes them) -------------------------

F32, F16, Q8_0, TQ1_0, TQ2_0, I2_S, MXFP4 = 0, 1, 8, 34, 35, 36, 39


class Raw:
    """Little-endian GGUF bytes appended field by field, for malformed files."""

    def __init__(self, version: int = 3, tensors: int = 0, kvs: int = 0):
        self.b = bytearray(b"GGUF")
        self.u32(version).u64(tensors).u64(kvs)

    def u32(self, v: int) -> "Raw":
        self.b += struct.pack("<I", v)
        return self

    def u64(self, v: int) -> "Raw":
        self.b += struct.pack("<Q", v)
        return self

    def raw(self, data: bytes) -> "Raw":
        self.b += data
        return self

    def str(self, s: bytes) -> "Raw":
        return self.u64(len(s)).raw(s)

    def kv_u32(self, key: str, v: int) -> "Raw":
        return self.str(key.encode()).u32(4).u32(v)

    def tensor(self, name: bytes, ne: list[int], ggml_type: int, offset: int) -> "Raw":
        self.str(name).u32(len(ne))
        for d in ne:
            self.u64(d)
        return self.u32(ggml_type).u64(offset)

    def pad(self, align: int = 32, byte: int = 0) -> "Raw":
        while len(self.b) % align:
            self.b.append(byte)
        return self

    def fill(self, n: int, byte: int = 0) -> "Raw":
        self.b += bytes([byte]) * n
        return self

    def done(self) -> bytes:
        return bytes(self.b)


def hostile_files() -> dict[str, bytes]:
    """Files for the documented findings the committed corpus (`fuzz/seeds`) does not produce,
    built as crates/bitnet-gguf/tests/malformed.rs and crates/bitnet-models/tests/model.rs build
    theirs: name -> bytes. Each name is the code the file must give."""
    files = {}
    files["unsupported-version"] = Raw(version=4).done()
    files["string-too-long"] = Raw(kvs=1).u64(2**64 - 1).fill(40).done()
    files["invalid-value-type"] = Raw(kvs=1).str(b"k").u32(13).u32(0).done()
    files["array-too-long"] = Raw(kvs=1).str(b"a").u32(9).u32(0).u64(2**62).fill(40).done()
    files["alignment-type"] = Raw(kvs=1).str(b"general.alignment").u32(5).u32(32).done()
    files["too-many-dims"] = Raw(tensors=1).str(b"t").u32(5).fill(64).done()
    files["tensor-name-length"] = Raw(tensors=1).tensor(b"n" * 64, [8], F32, 0).pad().fill(32).done()
    files["duplicate-tensor-name"] = (
        Raw(tensors=2).tensor(b"t", [8], F32, 0).tensor(b"t", [8], F32, 32).pad().fill(64).done()
    )
    # 2^62 F32 values: 2^64 bytes.
    files["byte-size-overflow"] = Raw(tensors=1).tensor(b"t", [2**62], F32, 0).pad().done()
    files["not-block-multiple"] = Raw(tensors=1).tensor(b"t", [300, 1], TQ2_0, 0).pad().fill(96).done()
    # b starts at 32, inside a's 64 bytes.
    files["tensor-overlap"] = (
        Raw(tensors=2).tensor(b"a", [16], F32, 0).tensor(b"b", [8], F32, 32).pad().fill(64).done()
    )
    # The padding after the tensor infos holds a 1.
    r = Raw(tensors=1).tensor(b"t", [8], F32, 0)
    r.b.append(1)
    files["non-zero-padding"] = r.pad().fill(32).done()
    # QK256 3x300 (by size alone: 384 bytes; BitNet32F16 would be 300) of code 0: every padding
    # element (300..511 of each row) holds -1 instead of 0.
    files["bad-padding"] = Raw(tensors=1).tensor(b"w", [300, 3], I2_S, 0).pad().fill(384).done()
    # Type 39 of 32 values is MXFP4's 17 bytes; 100 bytes follow it.
    files["probably-tl2"] = Raw(tensors=1).tensor(b"t", [32, 1], MXFP4, 0).pad().fill(100).done()
    # One-column rows, 2^60 of them: a 64-byte QK256 block each, 2^66 bytes.
    # A string value with a NUL inside: gguf-py and ggml would read "a".
    files["nul-in-string"] = Raw(kvs=1).str(b"k").u32(8).str(b"a\x00b").done()
    files["i2s-shape-overflow"] = Raw(tensors=1).tensor(b"w", [1, 2**60], I2_S, 0).pad().fill(64).done()
    return files


# --- reference decoders, from docs/formats.md -----------------------------------------------------


def f16_scales(raw: np.ndarray) -> np.ndarray:
    """Little-endian f16 bytes (pairs) as float32."""
    return np.ascontiguousarray(raw).view("<f2").astype(np.float32)


def reference_codes(fmt: str, data: bytes, rows: int, cols: int):
    """The weights (-1, 0, +1; the reserved code 3 as 0) and block scales of a tensor's stored
    bytes, from the block layouts of docs/formats.md: (weights int8 [rows, cols], d float32
    [rows, blocks] or None)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if fmt == "tq1_0":
        return _tq1_0(buf, rows, cols)
    elems, block_bytes, code_bytes = {
        "qk256": (256, 64, 64),
        "tq2_0": (256, 66, 64),
        "bitnet32f16": (32, 10, 8),
        "bitnetcpp": (128, 32, 32),
    }[fmt]
    e = np.arange(elems)
    if fmt in ("qk256", "tq2_0"):
        byte, shift = (e // 128) * 32 + e % 32, 2 * ((e % 128) // 32)
    elif fmt == "bitnet32f16":
        byte, shift = e % 8, 2 * (e // 8)
    else:
        byte, shift = e % 32, 6 - 2 * (e // 32)
    blocks_per_row = -(-cols // elems)
    n_blocks = rows * blocks_per_row
    blocks = buf[: n_blocks * block_bytes].reshape(n_blocks, block_bytes)
    codes = (blocks[:, byte] >> shift) & 3
    w = np.where(codes == 3, 0, codes.astype(np.int8) - 1).astype(np.int8)
    w = w.reshape(rows, blocks_per_row * elems)[:, :cols]
    d = None
    if code_bytes < block_bytes:
        d = f16_scales(blocks[:, code_bytes : code_bytes + 2]).reshape(rows, blocks_per_row)
    return w, d


def _tq1_0(buf: np.ndarray, rows: int, cols: int):
    """TQ1_0 (54-byte blocks: qs[48], qh[4], f16 d): digit n of byte b is ((b * 3^n) mod 256) *
    3 >> 8; qs[0..32] hold elements 32n + m, qs[32..48] 160 + 16n + m, qh[m] 240 + 4n + m."""
    n_blocks = rows * cols // 256
    blocks = buf[: n_blocks * 54].reshape(n_blocks, 54).astype(np.uint16)
    out = np.zeros((n_blocks, 256), dtype=np.int8)
    pow3 = [1, 3, 9, 27, 81]

    def digit(b, n):
        return (((b * pow3[n]) & 0xFF) * 3) >> 8

    for n in range(5):
        for m in range(32):
            out[:, 32 * n + m] = digit(blocks[:, m], n)
        for m in range(16):
            out[:, 160 + 16 * n + m] = digit(blocks[:, 32 + m], n)
    for n in range(4):
        for m in range(4):
            out[:, 240 + 4 * n + m] = digit(blocks[:, 48 + m], n)
    w = (out.astype(np.int8) - 1).reshape(rows, cols)
    d = f16_scales(blocks[:, 52:54].astype(np.uint8)).reshape(rows, cols // 256)
    return w, d
