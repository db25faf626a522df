#!/usr/bin/env python3
"""Writes gguf-py-tq1_0.gguf and gguf-py-tq1_0.f32le with gguf-py (PyPI `gguf` 0.19.0).

Run with the venv that has it:  python make_tq1_0.py  (writes next to this script).

Three TQ1_0 tensors, in this order:

- `t.tq1_0`     ne=[512, 6]     12 blocks quantized by gguf-py's `quants.quantize` from exact
                                values w * d (the weights of `weights()`, the scales of SCALES_2D).
- `t.tq1_0.3d`  ne=[256, 2, 2]  4 blocks, the same way with SCALES_3D.
- `t.tq1_0.bytes` ne=[1024, 16] 64 blocks of raw bytes (not quantized): block k holds
                                (32k + p) % 256 at qs[p] for p < 32, (16k + p) % 256 at qs[32 + p]
                                for p < 16 and (4k + p) % 256 at qh[p], so every byte value is in
                                every digit position of each of the three parts, with d =
                                BYTES_SCALES[k % 8].

gguf-py's quantizer sets d = max |x| >= 0. For a negative d the block is quantized from w * |d|
and the sign bit of its d (byte 53) is then set, so that it decodes to w * d; a block whose d is
+-0.0 has all weights 0. The .f32le file is gguf-py's `quants.dequantize` of the three tensors'
bytes as written, concatenated in tensor order, little-endian f32.

crates/bitnet-models/tests/tq1_0.rs mirrors `weights()` and the scales to check that
`pack_tq1_0` reproduces the quantized bytes.
"""

import os

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, quants

TQ1_0 = GGMLQuantizationType.TQ1_0
HERE = os.path.dirname(os.path.abspath(__file__))

# f16 bits of each block's d, row-major block order.
SCALES_2D = [
    0x3C00,  # 1.0
    0xB800,  # -0.5
    0x34CD,  # 0.30004883 (0.3 rounded to f16)
    0xC180,  # -2.75
    0x0400,  # 2^-14, the smallest normal
    0x0001,  # 2^-24, the smallest subnormal
    0x8003,  # -3 * 2^-24, a negative subnormal
    0x7BFF,  # 65504, the largest finite
    0xFBFF,  # -65504
    0x0000,  # +0.0 (weights 0)
    0x8000,  # -0.0 (weights 0)
    0x2E66,  # 0.099975586
]
SCALES_3D = [0x4248, 0xC500, 0x3555, 0x83FF]  # 3.140625, -5.0, 0.33325195, -(2^-14 - 2^-24)
BYTES_SCALES = [0x3C00, 0xBC00, 0x3555, 0xB800, 0x0001, 0x8000, 0x7BFF, 0x4900]


def weights(rows: int, cols: int, seed: int) -> np.ndarray:
    """Ternary weights: w[r][c] = (c*c + 3r + c//7 + seed) % 3 - 1."""
    r = np.arange(rows, dtype=np.int64)[:, None]
    c = np.arange(cols, dtype=np.int64)[None, :]
    return ((c * c + 3 * r + c // 7 + seed) % 3 - 1).astype(np.int8)


def quantized(rows: int, cols: int, seed: int, scales: list[int]) -> np.ndarray:
    """The bytes of a rows x cols TQ1_0 tensor of weights(rows, cols, seed) * scales."""
    w = weights(rows, cols, seed).astype(np.float32).reshape(-1, 256)
    d = np.array(scales, dtype=np.uint16).view(np.float16).astype(np.float32)
    w[d == 0] = 0
    x = (w * np.abs(d)[:, None]).reshape(rows, cols)
    q = quants.quantize(x, TQ1_0).reshape(-1, 54).copy()
    negative = (np.array(scales) & 0x8000) != 0
    q[negative, 53] |= 0x80
    return q.reshape(rows, cols // 256 * 54)


def all_bytes() -> np.ndarray:
    blocks = np.zeros((64, 54), dtype=np.uint8)
    for k in range(64):
        blocks[k, 0:32] = [(32 * k + p) % 256 for p in range(32)]
        blocks[k, 32:48] = [(16 * k + p) % 256 for p in range(16)]
        blocks[k, 48:52] = [(4 * k + p) % 256 for p in range(4)]
        blocks[k, 52:54] = np.array([BYTES_SCALES[k % 8]], dtype="<u2").view(np.uint8)
    return blocks.reshape(16, 4 * 54)


def main() -> None:
    tensors = [
        ("t.tq1_0", quantized(6, 512, 0, SCALES_2D), (6, 512)),
        ("t.tq1_0.3d", quantized(4, 256, 1, SCALES_3D).reshape(2, 2, 54), (2, 2, 256)),
        ("t.tq1_0.bytes", all_bytes(), (16, 1024)),
    ]
    writer = GGUFWriter(os.path.join(HERE, "gguf-py-tq1_0.gguf"), "tq1_0-test")
    for name, data, _ in tensors:
        writer.add_tensor(name, data, raw_dtype=TQ1_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    values = []
    for _, data, shape in tensors:
        v = quants.dequantize(data, TQ1_0)
        assert v.shape == shape, (v.shape, shape)
        values.append(v.astype("<f4").ravel())
    np.concatenate(values).tofile(os.path.join(HERE, "gguf-py-tq1_0.f32le"))


if __name__ == "__main__":
    main()
