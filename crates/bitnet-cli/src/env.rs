//! The environment variables of docs/cli.md, read in one place.
//!
//! - `BITNET_STRICT_MODE`: `1`, `true`, `yes`, `on` (any case) turn strict mode on; `0`,
//!   `false`, `no`, `off` or an empty value leave it off; anything else is a usage error rather
//!   than a silent guess.
//! - `BITNET_KERNEL`: forces a dequantization kernel (`bitnet_models::Kernel::selected`); an
//!   unknown name or one this CPU lacks is a usage error.

use std::ffi::OsStr;

use anyhow::{bail, Context};
use bitnet_models::Kernel;

/// The environment variable that turns strict mode on.
pub(crate) const STRICT_ENV: &str = "BITNET_STRICT_MODE";

/// What the environment asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env {
    /// `BITNET_STRICT_MODE`: warnings and failed gates make the exit status 1.
    pub(crate) strict: bool,
    /// The kernel `BITNET_KERNEL` forces, or the best this CPU has.
    #[cfg_attr(not(feature = "full-cli"), allow(dead_code))]
    pub(crate) kernel: Kernel,
}

impl Env {
    /// Reads both variables of this process.
    pub(crate) fn from_process() -> anyhow::Result<Self> {
        let strict = parse_strict(std::env::var_os(STRICT_ENV).as_deref())?;
        let kernel = Kernel::selected().context(bitnet_models::kernels::KERNEL_ENV)?;
        Ok(Self { strict, kernel })
    }
}

/// Parses a `BITNET_STRICT_MODE` value (`None` when unset).
pub(crate) fn parse_strict(value: Option<&OsStr>) -> anyhow::Result<bool> {
    let Some(value) = value else {
        return Ok(false);
    };
    let text = value.to_string_lossy();
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!(
            "{STRICT_ENV}={text:?} is not understood; use 1, true, yes, on (strict) or 0, false, no, off"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_values() {
        let parse = |s: &str| parse_strict(Some(OsStr::new(s)));
        assert!(!parse_strict(None).unwrap());
        for on in ["1", "true", "TRUE", "Yes", "on", "ON", " on "] {
            assert!(parse(on).unwrap(), "{on:?}");
        }
        for off in ["", "0", "false", "No", "OFF"] {
            assert!(!parse(off).unwrap(), "{off:?}");
        }
        for bad in ["2", "enable", "y"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
