//! Resolving a ternary tensor: its format, its exact data, its shape and its scale, so that
//! callers decode, scan or convert it without looking anything up themselves.

use bitnet_gguf::{ggml_type, GgufError, TensorInfo};
use half::f16;

use super::{Model, ModelError};
use crate::format::{bitnetcpp_split, check_data, code_position, FormatError, TernaryFormat};
use crate::kernels::{code_weight, Kernel};
use crate::scan::{scan, ScanReport};

/// A ternary tensor, resolved: everything [`Kernel::dequantize`] needs, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TernaryTensor<'a> {
    /// The tensor's name.
    pub name: &'a str,
    /// Its format (an I2_S flavor, TQ2_0 or TQ1_0).
    pub format: TernaryFormat,
    /// Its blocks, what the kernels take: exactly `format.data_bytes(rows, cols)` bytes.
    pub data: &'a [u8],
    /// Its bytes as stored: the blocks and, for bitnetcpp, the 32-byte tail.
    pub stored: &'a [u8],
    /// Rows: the product of `ne[1..]`.
    pub rows: usize,
    /// Columns: `ne[0]`.
    pub cols: usize,
    /// The tensor scale the kernels take: QK256's `.scale` sibling (1.0 without one), the f32
    /// in bitnetcpp's tail, exactly 1.0 for formats whose blocks carry their own scale.
    pub scale: f32,
    /// For TQ2_0 with a `.scale` sibling (as mainline llama.cpp's BitNet models have): the
    /// sibling's value, which multiplies every decoded value, `(w × d) × s` — a second
    /// multiplication, after the kernel's.
    pub post_scale: Option<f32>,
    /// Absolute offset of the data in the file.
    pub offset: u64,
}

impl TernaryTensor<'_> {
    /// The number of values: `rows × cols` (which fits: the data holds at least a quarter byte
    /// per value).
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All values, row-major, into `out` (exactly [`TernaryTensor::len`] long), the
    /// [`TernaryTensor::post_scale`] applied.
    pub fn dequantize(&self, kernel: Kernel, out: &mut [f32]) -> Result<(), FormatError> {
        kernel.dequantize(
            self.format,
            self.data,
            self.rows,
            self.cols,
            self.scale,
            out,
        )?;
        self.apply_post_scale(out);
        Ok(())
    }

    /// Multiplies `values` (decoded by a kernel) by [`TernaryTensor::post_scale`], if any.
    pub fn apply_post_scale(&self, values: &mut [f32]) {
        if let Some(s) = self.post_scale {
            for v in values {
                *v *= s;
            }
        }
    }

    /// The weight (−1, 0 or +1) of every element into `out` (exactly [`TernaryTensor::len`]
    /// long), row-major, without row padding: what the kernels multiply by the scales. The
    /// reserved code 3 reads as 0, as the kernels decode it; the `(row, column)` of the first
    /// element holding one is returned ([`TernaryTensor::scan`] counts them).
    pub fn weights_into(&self, out: &mut [i8]) -> Result<Option<(usize, usize)>, FormatError> {
        let (format, rows, cols) = (self.format, self.rows, self.cols);
        check_data(format, self.data, rows, cols)?;
        if out.len() != self.len() {
            return Err(FormatError::WrongOutputLength {
                expected: self.len() as u64,
                actual: out.len() as u64,
            });
        }
        if self.is_empty() {
            return Ok(None);
        }
        let (elems, block_bytes) = (format.block_elems(), format.block_bytes());
        let mut first_reserved = None;
        let row_data = self.data.chunks_exact(self.data.len() / rows);
        for (row, (row_data, row_out)) in row_data.zip(out.chunks_exact_mut(cols)).enumerate() {
            let blocks = row_data.chunks_exact(block_bytes);
            for (b, (block, block_out)) in blocks.zip(row_out.chunks_mut(elems)).enumerate() {
                for (e, w) in block_out.iter_mut().enumerate() {
                    let code = code_position(format, e).read(block);
                    if code == 3 && first_reserved.is_none() {
                        first_reserved = Some((row, b * elems + e));
                    }
                    *w = code_weight(code) as i8;
                }
            }
        }
        Ok(first_reserved)
    }

    /// The f16 scale `d` of every block, in order (`rows × blocks_per_row` of them: rows are
    /// padded to whole blocks), for the formats whose blocks carry one (BitNet32F16, TQ2_0,
    /// TQ1_0); empty for QK256 and bitnetcpp, whose one scale is [`TernaryTensor::scale`].
    pub fn block_scales(&self) -> Vec<f16> {
        if !self.format.has_block_scale() {
            return Vec::new();
        }
        let at = self.format.code_bytes();
        self.data
            .chunks_exact(self.format.block_bytes())
            .map(|block| f16::from_le_bytes([block[at], block[at + 1]]))
            .collect()
    }

    /// Reserved codes, non-finite block scales and bad padding (offsets relative to the data).
    pub fn scan(&self) -> Result<ScanReport, FormatError> {
        scan(self.format, self.data, self.rows, self.cols)
    }

    /// The scan's facts as findings, with absolute offsets.
    pub fn scan_findings(&self) -> Result<Vec<ModelError>, ModelError> {
        let report = self.scan().map_err(|source| ModelError::Format {
            tensor: self.name.to_owned(),
            source,
        })?;
        let tensor = || self.name.to_owned();
        let mut findings = Vec::new();
        if let Some(first) = report.first_reserved_byte {
            findings.push(ModelError::ReservedCodes {
                tensor: tensor(),
                count: report.reserved_codes,
                offset: self.offset + first,
            });
        }
        if let Some(block) = report.first_non_finite_block {
            let format = self.format;
            findings.push(ModelError::NonFiniteBlockScales {
                tensor: tensor(),
                count: report.non_finite_scales,
                offset: self.offset
                    + block * format.block_bytes() as u64
                    + format.code_bytes() as u64,
            });
        }
        if let Some(first) = report.first_bad_padding_byte {
            findings.push(ModelError::BadPadding {
                tensor: tensor(),
                count: report.bad_padding_codes,
                offset: self.offset + first,
            });
        }
        Ok(findings)
    }
}

/// The name of the `.scale` sibling of `name` (`blk.0.attn_q.weight` → `blk.0.attn_q.scale`).
pub fn scale_sibling_name(name: &str) -> Option<String> {
    name.strip_suffix(".weight")
        .map(|base| format!("{base}.scale"))
}

impl<'a> Model<'a> {
    /// Tensor `index` resolved as a ternary tensor, `None` when it is of another type. Fails
    /// when its flavor cannot be decided, its scale sibling is bad, or its data is not all in
    /// the file.
    pub fn ternary(&self, index: usize) -> Result<Option<TernaryTensor<'a>>, ModelError> {
        let Some(format) = self.ternary_format(index)? else {
            return Ok(None);
        };
        let gguf = self.gguf();
        let t = &gguf.tensors()[index];
        let overflow = || GgufError::ByteSizeOverflow {
            tensor: t.name.to_owned(),
            ne: t.ne().to_vec(),
        };
        let rows = t.rows().ok_or_else(|| GgufError::ElementCountOverflow {
            tensor: t.name.to_owned(),
            ne: t.ne().to_vec(),
        })?;
        if !format.fits_cols(t.cols()) {
            // TQ1_0 (ggml requires whole blocks per row; an I2_S flavor never gets here, detection
            // only offers those that fit): the container's rule, as `Gguf::validate` reports it.
            return Err(GgufError::NotBlockMultiple {
                tensor: t.name.to_owned(),
                ne0: t.cols(),
                block: format.block_elems() as u64,
                type_name: t.type_info().name(),
            }
            .into());
        }
        let size = format.tensor_bytes(rows, t.cols()).ok_or_else(overflow)?;
        let offset = gguf.tensor_start(index).unwrap_or(u64::MAX);
        let (data, stored, scale) = match format {
            TernaryFormat::Qk256 => {
                let scale = self.qk256_scale(index)?;
                let stored = gguf.tensor_bytes(t, size)?;
                (stored, stored, scale)
            }
            TernaryFormat::BitnetCpp => {
                let stored = gguf.tensor_bytes(t, size)?;
                let (codes, scale) = bitnetcpp_split(stored).ok_or_else(overflow)?;
                if !scale.is_finite() {
                    return Err(ModelError::TailScaleNotFinite {
                        tensor: t.name.to_owned(),
                        offset: offset.saturating_add(codes.len() as u64),
                        value: scale,
                    });
                }
                (codes, stored, scale)
            }
            TernaryFormat::BitNet32F16 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => {
                let stored = gguf.tensor_bytes(t, size)?;
                (stored, stored, 1.0)
            }
        };
        let post_scale = match format {
            TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0 => self.sibling_scale(index)?,
            _ => None,
        };
        let usize_of = |v: u64| usize::try_from(v).map_err(|_| overflow());
        Ok(Some(TernaryTensor {
            name: t.name,
            format,
            data,
            stored,
            rows: usize_of(rows)?,
            cols: usize_of(t.cols())?,
            scale,
            post_scale,
            offset,
        }))
    }

    /// The `.scale` sibling of tensor `index`, if the file has one: its index and info.
    pub fn scale_sibling(&self, index: usize) -> Option<(usize, &TensorInfo<'a>)> {
        let name = scale_sibling_name(self.gguf().tensors().get(index)?.name)?;
        self.gguf().tensor(&name)
    }

    /// The index of the `.scale` sibling whose value is part of tensor `index`'s values: that of
    /// a QK256 (the scale), TQ2_0 or TQ1_0 (a second factor) weight. `None` for other tensors,
    /// and for the sibling of a BitNet32F16 or bitnetcpp weight, which carries its own scales
    /// and ignores it (`scale-ignored`): that sibling is a tensor like any other.
    pub fn used_scale_sibling(&self, index: usize) -> Option<usize> {
        match self.ternary_format(index) {
            Ok(Some(TernaryFormat::Qk256 | TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0)) => {
                self.scale_sibling(index).map(|(i, _)| i)
            }
            _ => None,
        }
    }

    /// The QK256 scale of tensor `index`: its `<base>.scale` sibling (F32, shape `[1]`, finite),
    /// or 1.0 when there is none.
    pub fn qk256_scale(&self, index: usize) -> Result<f32, ModelError> {
        Ok(self.sibling_scale(index)?.unwrap_or(1.0))
    }

    /// The value of tensor `index`'s `<base>.scale` sibling (F32, shape `[1]`, finite), `None`
    /// when there is none.
    pub fn sibling_scale(&self, index: usize) -> Result<Option<f32>, ModelError> {
        let Some((si, s)) = self.scale_sibling(index) else {
            return Ok(None);
        };
        if s.ggml_type != ggml_type::F32 || s.ne() != [1] {
            return Err(ModelError::ScaleShape {
                tensor: s.name.to_owned(),
                type_name: s.type_info().name(),
                ne: s.ne().to_vec(),
            });
        }
        let bytes = self.gguf().tensor_bytes(s, 4)?;
        let value = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !value.is_finite() {
            return Err(ModelError::ScaleNotFinite {
                tensor: s.name.to_owned(),
                offset: self.gguf().tensor_start(si).unwrap_or(u64::MAX),
                value,
            });
        }
        Ok(Some(value))
    }
}
