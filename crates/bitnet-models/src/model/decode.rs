//! The values of a tensor, for every type this crate decodes (F32, F16, and the ternary formats
//! with their scales): whole, or a bounded chunk at a time for outputs of any size.

use bitnet_gguf::ggml_type;
use half::f16;

use super::{DecodeError, Model, ModelError, TernaryTensor};
use crate::kernels::Kernel;

/// Where a tensor's values come from: checked data, ready to decode.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Values<'a> {
    /// A ternary tensor, decoded by a kernel.
    Ternary(TernaryTensor<'a>),
    /// Little-endian `f32` values.
    F32(&'a [u8]),
    /// Little-endian IEEE `f16` values, converted exactly.
    F16(&'a [u8]),
}

impl<'a> Values<'a> {
    /// How many values there are.
    pub fn len(&self) -> usize {
        match self {
            Values::Ternary(t) => t.len(),
            Values::F32(d) => d.len() / 4,
            Values::F16(d) => d.len() / 2,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All the values, row-major, without row padding.
    pub fn to_vec(&self, kernel: Kernel) -> Result<Vec<f32>, ModelError> {
        // The data is there, so the output is bounded by 16 values per byte of it.
        if let Values::Ternary(t) = self {
            let mut out = vec![0.0f32; t.len()];
            t.dequantize(kernel, &mut out)
                .map_err(|source| ModelError::Format {
                    tensor: t.name.to_owned(),
                    source,
                })?;
            return Ok(out);
        }
        let mut out = Vec::with_capacity(self.len());
        self.for_each_chunk(kernel, usize::MAX, |chunk| {
            out.extend_from_slice(chunk);
            Ok::<(), ModelError>(())
        })?;
        Ok(out)
    }

    /// Calls `emit` with consecutive slices of the values, in order, each at most `max_values`
    /// long where the format allows (a padded ternary row is decoded whole, so a single row of
    /// N values makes a chunk of N). Memory stays bounded by the chunk, whatever the tensor.
    pub fn for_each_chunk<E: From<ModelError>>(
        &self,
        kernel: Kernel,
        max_values: usize,
        mut emit: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut chunks = self.chunks(kernel, max_values);
        // The progress guard: every chunk holds a value and together they hold `len` values,
        // so an empty chunk, or one past the values left (neither is ever produced), ends the
        // loop rather than repeating.
        let mut left = self.len();
        while let Some(chunk) = chunks
            .next_chunk()?
            .filter(|c| !c.is_empty() && c.len() <= left)
        {
            left -= chunk.len();
            emit(chunk)?;
        }
        Ok(())
    }

    /// A cursor over the values a chunk at a time, as [`Values::for_each_chunk`] cuts them.
    pub fn chunks(&self, kernel: Kernel, max_values: usize) -> Chunks<'a> {
        Chunks {
            values: *self,
            kernel,
            max_values: max_values.max(1),
            next: 0,
            buf: Vec::new(),
        }
    }
}

/// The values of a tensor a chunk at a time ([`Values::chunks`]).
#[derive(Debug)]
pub struct Chunks<'a> {
    values: Values<'a>,
    kernel: Kernel,
    max_values: usize,
    /// Where the next chunk starts: a (one-block) row of a ternary tensor, else a value.
    next: usize,
    buf: Vec<f32>,
}

impl Chunks<'_> {
    /// Moves the start of the next chunk to `end`, or refuses (ending the iteration) when that
    /// is not forward: every call either advances or ends, so no loop over the chunks can spin.
    fn advance(&mut self, end: usize) -> bool {
        if end <= self.next {
            return false;
        }
        self.next = end;
        true
    }

    /// The next chunk of values, `None` after the last. A chunk is never empty, and each call
    /// moves forward (or ends): a loop over the chunks cannot spin.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, ModelError> {
        match self.values {
            Values::Ternary(t) => {
                if t.is_empty() {
                    return Ok(None);
                }
                // Without row padding the blocks are one contiguous stream, so the tensor can
                // be decoded as one-block rows: chunks stay small even when a row is huge.
                let block = t.format.block_elems();
                let (rows, cols) = if t.cols % block == 0 {
                    (t.rows * (t.cols / block), block)
                } else {
                    (t.rows, t.cols)
                };
                if self.next >= rows {
                    return Ok(None);
                }
                let row_bytes = t.data.len() / rows;
                let n = (self.max_values / cols).clamp(1, rows - self.next);
                let (start, end) = (self.next, self.next + n);
                if !self.advance(end) {
                    return Ok(None);
                }
                let data = &t.data[start * row_bytes..end * row_bytes];
                self.buf.resize(n * cols, 0.0);
                self.kernel
                    .dequantize(t.format, data, n, cols, t.scale, &mut self.buf)
                    .map_err(|source| ModelError::Format {
                        tensor: t.name.to_owned(),
                        source,
                    })?;
                t.apply_post_scale(&mut self.buf);
            }
            Values::F32(data) => {
                let (values, _) = data.as_chunks::<4>();
                let Some(rest) = values.get(self.next..).filter(|r| !r.is_empty()) else {
                    return Ok(None);
                };
                let chunk = &rest[..rest.len().min(self.max_values)];
                if !self.advance(self.next + chunk.len()) {
                    return Ok(None);
                }
                self.buf.clear();
                self.buf
                    .extend(chunk.iter().map(|v| f32::from_le_bytes(*v)));
            }
            Values::F16(data) => {
                let (values, _) = data.as_chunks::<2>();
                let Some(rest) = values.get(self.next..).filter(|r| !r.is_empty()) else {
                    return Ok(None);
                };
                let chunk = &rest[..rest.len().min(self.max_values)];
                if !self.advance(self.next + chunk.len()) {
                    return Ok(None);
                }
                self.buf.clear();
                self.buf
                    .extend(chunk.iter().map(|v| f16::from_le_bytes(*v).to_f32()));
            }
        }
        Ok(Some(&self.buf))
    }
}

impl<'a> Model<'a> {
    /// The values of tensor `index`, checked and ready to decode: F32, F16, or a ternary tensor
    /// with its scale.
    pub fn values(&self, index: usize) -> Result<Values<'a>, DecodeError> {
        if let Some(t) = self.ternary(index)? {
            return Ok(Values::Ternary(t));
        }
        let gguf = self.gguf();
        let Some(t) = gguf.tensors().get(index) else {
            return Err(DecodeError::NoSuchTensor {
                name: format!("#{index}"),
                count: gguf.tensors().len(),
                names: Vec::new(),
            });
        };
        let data = |size: Option<u64>| -> Result<&'a [u8], DecodeError> {
            let size = size.ok_or_else(|| bitnet_gguf::GgufError::ByteSizeOverflow {
                tensor: t.name.to_owned(),
                ne: t.ne().to_vec(),
            })?;
            Ok(gguf.tensor_bytes(t, size)?)
        };
        match t.ggml_type {
            ggml_type::F32 => Ok(Values::F32(data(t.byte_size())?)),
            ggml_type::F16 => Ok(Values::F16(data(t.byte_size())?)),
            _ => Err(DecodeError::Unsupported {
                tensor: t.name.to_owned(),
                type_name: t.type_info().name(),
            }),
        }
    }

    /// All values of tensor `index`, row-major, without row padding.
    pub fn decode(&self, index: usize, kernel: Kernel) -> Result<Vec<f32>, DecodeError> {
        Ok(self.values(index)?.to_vec(kernel)?)
    }
}
