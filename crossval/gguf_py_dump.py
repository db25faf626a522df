#!/usr/bin/env python3
"""gguf-py's view of GGUF files, as one JSON object per file per line.

The reference Python reader (PyPI `gguf`, pinned in requirements.txt) counterpart of ggml-dump:
same schema (README.md), so the two outputs can be compared line by line.

    python gguf_py_dump.py FILE...    one JSON line per file
    python gguf_py_dump.py --types    gguf-py's type table and versions, as one JSON object

A file gguf-py cannot read is a result, not an error: its line says "accepted": false with the
exception text, and the exit code stays 0. Needs only `gguf` and `numpy`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType
from gguf.quants import dequantize

USAGE = "usage: gguf_py_dump.py FILE... | gguf_py_dump.py --types"

# How many leading values a "decoded" object shows as bit patterns.
FIRST_VALUES = 8

# Header pseudo-fields GGUFReader puts in front of the file's own key-value pairs.
HEADER_FIELDS = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")


def scalar_json(value: np.ndarray, vtype: GGUFValueType):
    """Encodes a one-element array of a scalar GGUF type; floats as their bit patterns."""
    if vtype == GGUFValueType.FLOAT32:
        return {"f32": "0x%08x" % int(value.astype("<f4").view("<u4")[0])}
    if vtype == GGUFValueType.FLOAT64:
        return {"f64": "0x%016x" % int(value.astype("<f8").view("<u8")[0])}
    if vtype == GGUFValueType.BOOL:
        return bool(value[0])
    return int(value[0])


def string_json(raw: np.ndarray) -> str:
    # Like ggml-dump: invalid UTF-8 shows as U+FFFD rather than failing the whole file.
    return bytes(raw).decode("utf-8", errors="replace")


def field_json(field) -> dict:
    """A key-value pair. `field.parts` is [key_len, key, type, value parts...]; `field.data`
    indexes the parts that hold the value (one per array element)."""
    vtype = GGUFValueType(int(field.parts[2][0]))
    if vtype == GGUFValueType.STRING:
        value = string_json(field.parts[field.data[0]])
    elif vtype == GGUFValueType.ARRAY:
        # The element type is read from the file: `field.types` lacks it for an empty array.
        elem = GGUFValueType(int(field.parts[3][0]))
        if elem == GGUFValueType.STRING:
            items = [string_json(field.parts[i]) for i in field.data]
        elif elem == GGUFValueType.ARRAY:
            raise ValueError(f"nested array in {field.name!r} is not supported")
        else:
            items = [scalar_json(field.parts[i], elem) for i in field.data]
        value = {"elem_type": elem.name, "items": items}
    else:
        value = scalar_json(field.parts[field.data[0]], vtype)
    return {"key": field.name, "type": vtype.name, "value": value}


def decoded_json(tensor) -> dict | None:
    """Dequantizes with gguf.quants; None for a type it has no dequantizer for."""
    try:
        values = dequantize(tensor.data, tensor.tensor_type)
    except NotImplementedError:
        return None
    le = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
    return {
        "count": int(le.size),
        "sha256": hashlib.sha256(le.tobytes()).hexdigest(),
        "first": ["0x%08x" % int(b) for b in le[:FIRST_VALUES].view("<u4")],
    }


def tensor_json(reader: GGUFReader, tensor) -> dict:
    return {
        "name": tensor.name,
        "type": int(tensor.tensor_type),
        "type_name": tensor.tensor_type.name,
        "ne": [int(d) for d in tensor.shape],
        # ReaderTensor.data_offset is absolute; the schema wants it relative to the data section.
        "offset": int(tensor.data_offset) - int(reader.data_offset),
        "nbytes": int(tensor.n_bytes),
        "decoded": decoded_json(tensor),
    }


def dump(path: str) -> dict:
    head = {"file": path, "reference": "gguf-py"}
    try:
        reader = GGUFReader(path)  # parses everything; tensor data are views of a memmap
    except Exception as e:  # gguf-py rejecting the file is the result for this file
        return {**head, "accepted": False, "error": f"{type(e).__name__}: {e}"}
    fields = list(reader.fields.values())
    if tuple(f.name for f in fields[:3]) != HEADER_FIELDS:
        raise RuntimeError("GGUFReader no longer starts its fields with " + ", ".join(HEADER_FIELDS))
    return {
        **head,
        "accepted": True,
        "error": None,
        "version": int(fields[0].parts[0][0]),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "metadata": [field_json(f) for f in fields[3:]],
        "tensors": [tensor_json(reader, t) for t in reader.tensors],
    }


def types() -> dict:
    """--types: the versions, and every GGMLQuantizationType with its GGML_QUANT_SIZES entry
    (block size and bytes per block; null for a type without one)."""
    rows = []
    for t in GGMLQuantizationType:
        blck_size, type_size = GGML_QUANT_SIZES.get(t, (None, None))
        rows.append({"id": int(t), "name": t.name, "blck_size": blck_size, "type_size": type_size})
    return {
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "types": rows,
    }


def emit(out, obj) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer  # UTF-8 whatever the locale, like ggml-dump
    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if argv == ["--types"]:
        emit(out, types())
        out.flush()
        return 0
    if not argv or argv[0].startswith("--"):
        print(USAGE, file=sys.stderr)
        return 2
    for path in argv:
        emit(out, dump(path))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
