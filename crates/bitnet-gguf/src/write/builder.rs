//! [`GgufBuilder`]: a whole file built in memory (fixtures, tests, small files).

use super::{header, pad_to, BuildError, TensorSpec};
use crate::value::MetadataValue;

/// Builds a GGUF v3 file in memory (see the module docs for the layout).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufBuilder {
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<(TensorSpec, Vec<u8>)>,
}

impl GgufBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata pair (checked when the file is built).
    pub fn kv(&mut self, key: impl Into<String>, value: impl Into<MetadataValue>) -> &mut Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Adds a tensor: `ne` in ggml order (`ne[0]` = columns), the ggml type id and the raw data.
    /// For types the table sizes, the data length must match; for I2_S it is the caller's.
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        ne: &[u64],
        ggml_type: u32,
        data: Vec<u8>,
    ) -> &mut Self {
        let spec = TensorSpec {
            name: name.into(),
            ne: ne.to_vec(),
            ggml_type,
            size: data.len() as u64,
        };
        self.tensors.push((spec, data));
        self
    }

    /// The alignment the file will use.
    pub fn alignment(&self) -> Result<u64, BuildError> {
        super::alignment(&self.metadata)
    }

    /// Writes the file, or names the key or tensor that would make it invalid.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let specs: Vec<TensorSpec> = self.tensors.iter().map(|(s, _)| s.clone()).collect();
        let (mut out, align, _) = header(&self.metadata, &specs)?;
        for (_, data) in &self.tensors {
            out.extend_from_slice(data);
            pad_to(&mut out, align);
        }
        Ok(out)
    }
}
