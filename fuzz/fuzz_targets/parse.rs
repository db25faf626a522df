//! `Gguf::parse` on arbitrary bytes; when it succeeds, `validate` and every accessor of every
//! metadata value, array element and tensor info. Nothing may panic, and the views must agree
//! with each other (an array yields exactly its count, `load` fails exactly when `validate`
//! reports an error).

#![no_main]

use bitnet_gguf::{Finding, Gguf, GgufError, Value, ValueType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let gguf = match Gguf::parse(data) {
        Ok(gguf) => gguf,
        Err(e) => {
            touch_error(&e);
            assert!(Gguf::load(data).is_err());
            return;
        }
    };
    let report = gguf.validate();
    for finding in &report.findings {
        let _ = (finding.code(), finding.severity(), finding.location());
        let _ = finding.to_string();
        if let Finding::Error(e) = finding {
            touch_error(e);
        }
    }
    assert_eq!(Gguf::load(data).is_ok(), report.is_valid());

    let _ = (gguf.version(), gguf.alignment(), gguf.bytes().len());
    assert!(gguf.tensor_info_end() <= data.len() as u64);
    assert!(gguf.data_offset() >= gguf.tensor_info_end());
    assert!(gguf.alignment().is_power_of_two());

    for entry in gguf.metadata() {
        assert!(entry.offset < data.len() as u64);
        assert!(gguf.get(entry.key).is_some());
        touch_value(entry.value);
    }

    for (i, t) in gguf.tensors().iter().enumerate() {
        assert!(t.ne().len() <= 4);
        let _ = (t.type_info().name(), t.type_info().block_elems());
        let _ = (t.n_elements(), t.cols(), t.rows(), t.byte_size());
        let (found, _) = gguf
            .tensor(t.name)
            .expect("a listed tensor is found by name");
        assert!(found <= i);
        let _ = gguf.tensor_start(i);
        let span = gguf.tensor_span(i);
        assert!(span.len() <= data.len());
        if let Ok(bytes) = gguf.tensor_data(i) {
            assert_eq!(Some(bytes.len() as u64), t.byte_size());
        }
        for size in [0, 1, span.len() as u64, u64::MAX] {
            if let Ok(bytes) = gguf.tensor_bytes(t, size) {
                assert_eq!(bytes.len() as u64, size);
            }
        }
    }
    let past = gguf.tensors().len();
    assert!(gguf.tensor_data(past).is_err());
    assert!(gguf.tensor_span(past).is_empty());
    assert!(gguf.tensor_start(past).is_none());
});

fn touch_error(e: &GgufError) {
    let _ = (e.code(), e.location());
    let _ = e.to_string();
}

fn touch_value(value: Value<'_>) {
    let _ = (value.value_type().name(), value.as_u64(), value.as_str());
    let _ = format!("{value:?}");
    let Value::Array(array) = value else {
        let _ = value.to_owned_value();
        return;
    };
    assert_ne!(array.elem_type(), ValueType::Array);
    assert_eq!(array.is_empty(), array.len() == 0);
    // The reader checked every element, so iteration yields exactly `len` of them, each of the
    // element type.
    let mut n = 0u64;
    for element in array.iter() {
        assert_eq!(element.value_type(), array.elem_type());
        touch_value(element);
        n += 1;
    }
    assert_eq!(n, array.len());
    if let Some(strings) = array.strings() {
        assert_eq!(strings.count() as u64, array.len());
    }
    let _ = array.raw_bytes().len();
    let _ = value.to_owned_value();
}
