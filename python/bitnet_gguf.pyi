"""Read, check, decode and convert GGUF files with BitNet b1.58 ternary weights (I2_S in its
QK256, BitNet32F16 and bitnet.cpp flavors, TQ1_0, TQ2_0) into numpy, exactly.

The rules, values and messages are those of the project's Rust crates and of `bitnet-cli`
(docs/python.md)."""

import os
from typing import Literal, final

import numpy as np
import numpy.typing as npt

__version__: str

_Path = str | os.PathLike[str]
_Format = Literal["qk256", "bitnet32f16", "bitnetcpp", "tq2_0", "tq1_0"]
_Value = int | float | bool | str | list[int] | list[float] | list[bool] | list[str]

def open(path: _Path) -> Model:
    """Opens a GGUF file: maps it read-only and parses its header, metadata and tensor infos.

    Raises IoError when it cannot be read and ParseError when it is not GGUF. Nothing is
    validated yet: Model.check() does that, and a tensor's numpy() refuses what it cannot decode
    exactly."""

def convert(
    src: _Path,
    dst: _Path,
    to: _Format,
    arch: str | None = None,
    force: bool = False,
) -> ConvertSummary:
    """Converts every ternary tensor of src to `to`, exactly or not at all, and writes dst
    atomically; everything else is copied (docs/convert.md). `arch` renames
    general.architecture and the prefix of its keys. An existing dst needs force=True; dst
    that is src is refused.

    Raises NotExactError when a tensor cannot be converted exactly, ValidationError when one
    cannot be read (nothing is written in either case), ParseError, UsageError and IoError."""

def diff(a: _Path, b: _Path) -> Diff:
    """Compares two files as `bitnet-cli diff` does: metadata, tensors, and the decoded values
    of every shared tensor, scales applied, bit for bit. Diff.equal is the CLI's exit status 0.
    Raises IoError or ParseError for a file that cannot be read."""

@final
class Model:
    """A GGUF file read as a model. The file stays mapped while the model or one of its tensors
    is alive; it must not be rewritten meanwhile."""

    @property
    def path(self) -> str:
        """The path as given to open()."""
    @property
    def version(self) -> int:
        """The GGUF version (3, or 2 which has the same layout)."""
    @property
    def alignment(self) -> int:
        """general.alignment, or 32."""
    @property
    def data_offset(self) -> int:
        """The absolute offset of the data section."""
    @property
    def metadata(self) -> dict[str, _Value]:
        """A new dict of the metadata in file order: integers as int (UINT64 exact), floats as
        float, BOOL as bool, STRING as str, ARRAY as list. A duplicate key keeps its first
        value."""
    @property
    def tensors(self) -> list[Tensor]:
        """Every tensor, in file order."""
    def tensor(self, name: str) -> Tensor:
        """The tensor named `name`; UsageError when the file has none."""
    def check(self, strict: bool = False) -> list[Finding]:
        """Every finding of the file, in file order, as `bitnet-cli compat-check` reports them
        (docs/validation.md). strict=True reports warnings as errors."""

@final
class Tensor:
    """One tensor of a model."""

    @property
    def name(self) -> str: ...
    @property
    def type_name(self) -> str:
        """ggml's name of the type: "I2_S", "TQ2_0", "F32", ..., "unknown"."""
    @property
    def ggml_type(self) -> int:
        """The ggml type id (I2_S is 36, as bitnet.cpp numbers it)."""
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape in numpy order: (rows, cols) for a matrix."""
    @property
    def ne(self) -> tuple[int, ...]:
        """The shape in ggml order, ne[0] (the row length) first."""
    @property
    def flavor(self) -> Literal["qk256", "bitnet32f16", "bitnetcpp"] | None:
        """The I2_S flavor its size (or the file) decides; None for other types and for an I2_S
        tensor no flavor fits."""
    @property
    def offset(self) -> int | None:
        """The absolute offset of its data in the file."""
    @property
    def bytes(self) -> int | None:
        """Its size in bytes (for I2_S, its flavor's); None where that cannot be known."""
    def numpy(self) -> npt.NDArray[np.float32]:
        """The decoded values, scales applied, as a new float32 array of `shape`, bit for bit
        what `bitnet-cli dequant` writes (F32, F16, I2_S, TQ1_0, TQ2_0). Reads only this
        tensor's bytes and decodes without holding the GIL.

        Raises ValidationError when a finding about this tensor (its span, type, flavor or
        scale) makes its values untrustworthy, UsageError for a type that is not decoded; other
        findings are issued as GgufWarning."""
    def codes(self) -> Codes:
        """The ternary values as stored (int8 -1, 0, +1; the reserved code 3 as 0) and the
        scales that make numpy()'s values. I2_S, TQ1_0 and TQ2_0 only."""

@final
class Codes:
    """A ternary tensor's codes and scales: numpy() == (values * d) * scale in float32, with d
    the block scales repeated block_size times along the last axis (cut to the row length), or
    1 without block scales."""

    @property
    def format(self) -> _Format: ...
    @property
    def values(self) -> npt.NDArray[np.int8]:
        """-1, 0 or +1, of the tensor's shape."""
    @property
    def block_scales(self) -> npt.NDArray[np.float32] | None:
        """BitNet32F16, TQ2_0, TQ1_0: each block's f16 scale, of the tensor's shape with the
        last axis counting blocks; None for QK256 and bitnetcpp."""
    @property
    def block_size(self) -> int | None:
        """Elements per block of block_scales (32 or 256)."""
    @property
    def scale(self) -> float:
        """QK256's .scale tensor (1.0 without one), bitnetcpp's tail scale, a TQ tensor's .scale
        tensor (1.0 without one), 1.0 for BitNet32F16."""

@final
class Finding:
    """One finding of Model.check(), as compat-check --json prints it."""

    @property
    def code(self) -> str:
        """The stable kebab-case code (docs/validation.md)."""
    @property
    def severity(self) -> Literal["error", "warning", "info"]: ...
    @property
    def message(self) -> str: ...
    @property
    def offset(self) -> int | None:
        """The absolute byte offset it concerns."""
    @property
    def tensor(self) -> str | None: ...
    @property
    def key(self) -> str | None: ...
    def as_dict(self) -> dict[str, str | int]:
        """code and message, and offset, tensor and key where known."""

@final
class ConvertSummary:
    """What convert() did (`bitnet-cli convert --json`'s members)."""

    to: _Format
    converted: int
    copied: int
    scales_written: int
    scales_dropped: int
    bytes_in: int
    bytes_out: int
    buffer_bytes: int
    workers: int

@final
class TensorDiff:
    """How one tensor both files have compares."""

    name: str
    a_type: str
    b_type: str
    a_ne: list[int]
    b_ne: list[int]
    equal: bool
    compared: Literal["values", "bytes"] | None
    values: int | None
    differing: int | None
    max_abs_diff: float | None
    max_rel_diff: float | None
    reason: str | None

@final
class Diff:
    """What diff() found (`bitnet-cli diff --json`)."""

    equal: bool
    added_keys: list[str]
    removed_keys: list[str]
    only_in_a: list[str]
    only_in_b: list[str]
    @property
    def changed_keys(self) -> list[tuple[str, _Value, _Value]]:
        """(key, value in a, value in b) for keys whose values differ (floats by their bits)."""
    @property
    def shared(self) -> list[TensorDiff]: ...

class GgufError(Exception):
    """The root of every error this package raises."""

    code: str | None
    path: str | None
    offset: int | None
    tensor: str | None
    key: str | None

class ParseError(GgufError):
    """The bytes cannot be read as GGUF: bitnet-cli's exit status 1."""

class ValidationError(GgufError):
    """The file breaks a rule the operation needs: bitnet-cli's exit status 1."""

class NotExactError(ValidationError):
    """A conversion that cannot be exact; nothing was written."""

class UsageError(GgufError, ValueError):
    """A caller's mistake: bitnet-cli's exit status 2."""

class IoError(GgufError, OSError):
    """A file that cannot be opened, mapped or written: bitnet-cli's exit status 2."""

class GgufWarning(UserWarning):
    """A finding that does not stop decoding."""
