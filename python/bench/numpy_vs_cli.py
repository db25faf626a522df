"""Times `Tensor.numpy()` against `bitnet-cli dequant` on one large tensor (docs/python.md).

    python numpy_vs_cli.py --cli BITNET_CLI --model MODEL.gguf --scratch DIR [--tensor NAME] [--reps N]

`cargo xtask python --bench` runs it on a `gen-model --shape 2b4t --flavor bitnetcpp` model. Each
repetition times, in alternation so that all see the same machine state:

- cli:    `bitnet-cli dequant MODEL TENSOR --format f32le --out DIR/values.f32`, a new process:
          map, parse, check the whole file, decode, write the file;
- alone:  the same on DIR/alone.gguf, a file holding only that tensor (written here, byte for
          byte the model's tensor info and data), so the CLI's check covers the tensor alone;
- open:   `bitnet_gguf.open(MODEL).tensor(TENSOR).numpy()`: parse, check the tensor, decode, in
          this process, the result in memory instead of a file;
- numpy:  `numpy()` again on the open model.

It prints the medians and the ratios to the CLI's median; the values are first checked to be the
CLI's, bit for bit. A benchmark, not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import bitnet_gguf as b
import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", required=True, type=Path)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--scratch", required=True, type=Path)
    p.add_argument("--tensor", default="blk.0.ffn_gate.weight")
    p.add_argument("--reps", type=int, default=9)
    args = p.parse_args()
    out = args.scratch / "values.f32"
    alone = args.scratch / "alone.gguf"
    write_alone(args.model, args.tensor, alone)
    env = {k: v for k, v in os.environ.items() if k != "BITNET_STRICT_MODE"}

    def run_cli(model: Path = args.model) -> float:
        cli = [str(args.cli), "dequant", str(model), args.tensor, "--format", "f32le", "--out", str(out)]
        start = time.perf_counter()
        subprocess.run(cli, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    def run_open() -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        values = b.open(args.model).tensor(args.tensor).numpy()
        return time.perf_counter() - start, values

    # Warm-up, and the check that both give the same bits.
    run_cli()
    _, values = run_open()
    want = np.fromfile(out, dtype="<f4")
    if not np.array_equal(values.reshape(-1).view("<u4"), want.view("<u4")):
        print("the values differ from bitnet-cli dequant's", file=sys.stderr)
        return 1
    t = b.open(args.model).tensor(args.tensor)
    t.numpy()

    run_cli(alone)
    if not np.array_equal(np.fromfile(out, dtype="<f4").view("<u4"), want.view("<u4")):
        print(f"{alone} decodes differently", file=sys.stderr)
        return 1

    times: dict[str, list[float]] = {"cli": [], "alone": [], "open": [], "numpy": []}
    for _ in range(args.reps):
        times["cli"].append(run_cli())
        times["alone"].append(run_cli(alone))
        times["open"].append(run_open()[0])
        start = time.perf_counter()
        t.numpy()
        times["numpy"].append(time.perf_counter() - start)

    size = args.model.stat().st_size
    print(f"model {args.model} ({size / 1e9:.2f} GB), tensor {args.tensor} {t.type_name}({t.flavor}) shape {t.shape}")
    print(f"{values.size} values ({values.nbytes / 2**20:.1f} MiB of float32), {args.reps} repetitions, medians:")
    base = statistics.median(times["cli"])
    for name, what in [
        ("cli", "bitnet-cli dequant --format f32le --out FILE (process)"),
        ("alone", "the same on a file of that tensor alone"),
        ("open", "open(path).tensor(name).numpy() (parse, check, decode)"),
        ("numpy", "numpy() on the open model (decode)"),
    ]:
        m = statistics.median(times[name])
        print(f"  {name:6} {m * 1e3:9.1f} ms  {m / base:5.2f}x cli  {what}")
    for other in ("cli", "alone"):
        ratio = statistics.median(times["open"]) / statistics.median(times[other])
        print(f"open+numpy / {other} = {ratio:.2f} (goal: at most 2)")
    return 0


def write_alone(model: Path, name: str, path: Path) -> None:
    """A GGUF v3 file of one tensor: no metadata (alignment 32), the tensor info of `name` as
    the model has it at offset 0, zero padding to 32, then its bytes."""
    t = b.open(model).tensor(name)
    with open(model, "rb") as f:
        f.seek(t.offset)
        data = f.read(t.bytes)
    info = struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(t.ne))
    info += b"".join(struct.pack("<Q", d) for d in t.ne) + struct.pack("<IQ", t.ggml_type, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + info
    head += bytes(-len(head) % 32)
    path.write_bytes(head + data)


if __name__ == "__main__":
    sys.exit(main())
