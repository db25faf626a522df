//! GGUF metadata values as JSON.
//!
//! Integers stay exact (`u64` and `i64` are JSON integers, never routed through `f64`).
//! FLOAT32 values print as the shortest decimal that reads back as the same `f32` (`0.1`, not
//! `0.10000000149011612`); FLOAT64 as the shortest that reads back as the same `f64`. JSON has
//! no NaN or infinity: a non-finite float is `null`.

use bitnet_gguf::Value as GgufValue;
use serde_json::{Number, Value};

/// An `f64` as a JSON number, `null` when not finite.
pub(crate) fn f64_json(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// An `f32` as a JSON number with its own shortest decimal form, `null` when not finite.
pub(crate) fn f32_json(v: f32) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    // Rust prints the shortest decimal that round-trips the f32; as an f64 it is the nearest
    // f64 to that decimal, which serde_json prints back as the same short decimal.
    let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(v));
    f64_json(shortest)
}

/// A metadata value as JSON; arrays complete, in order.
pub(crate) fn value_json(value: &GgufValue<'_>) -> Value {
    match *value {
        GgufValue::U8(v) => v.into(),
        GgufValue::I8(v) => v.into(),
        GgufValue::U16(v) => v.into(),
        GgufValue::I16(v) => v.into(),
        GgufValue::U32(v) => v.into(),
        GgufValue::I32(v) => v.into(),
        GgufValue::U64(v) => v.into(),
        GgufValue::I64(v) => v.into(),
        GgufValue::F32(v) => f32_json(v),
        GgufValue::F64(v) => f64_json(v),
        GgufValue::Bool(v) => v.into(),
        GgufValue::String(s) => s.into(),
        GgufValue::Array(a) => Value::Array(a.iter().map(|v| value_json(&v)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_integers_and_short_floats() {
        assert_eq!(
            value_json(&GgufValue::U64((1 << 63) + 5)).to_string(),
            "9223372036854775813"
        );
        assert_eq!(
            value_json(&GgufValue::I64(-(1 << 62))).to_string(),
            "-4611686018427387904"
        );
        assert_eq!(value_json(&GgufValue::F32(0.1)).to_string(), "0.1");
        assert_eq!(value_json(&GgufValue::F32(0.15625)).to_string(), "0.15625");
        assert_eq!(value_json(&GgufValue::F32(1e-40)).to_string(), "1e-40");
        assert_eq!(
            value_json(&GgufValue::F32(f32::MAX)).to_string(),
            "3.4028235e+38"
        );
        assert_eq!(value_json(&GgufValue::F64(-1e300)).to_string(), "-1e+300");
        assert_eq!(value_json(&GgufValue::F32(f32::NAN)), Value::Null);
        assert_eq!(value_json(&GgufValue::F64(f64::NEG_INFINITY)), Value::Null);
        assert_eq!(value_json(&GgufValue::F32(-0.0)).to_string(), "-0.0");
    }

    #[test]
    fn f32_round_trips() {
        for bits in [
            1u32,
            0x3dcc_cccd,
            0x7f7f_ffff,
            0x0080_0000,
            0x4049_0fdb,
            0xbf80_0001,
        ] {
            let v = f32::from_bits(bits);
            let back: f32 = f32_json(v).to_string().parse().unwrap();
            assert_eq!(back.to_bits(), bits);
        }
    }
}
