// Facts about ggml's headers that Rust cannot read without a bindings generator: an enum's last
// value and a struct's layout. Compiled against the same ggml.h as the library, so src/ggml.rs can
// check its hand-written #[repr(C)] mirror against the real thing before it trusts it.
#include <stddef.h>

#include "ggml.h"

int ggml_dump_type_count(void) { return GGML_TYPE_COUNT; }

// size, then the offset of every field in declaration order.
const size_t ggml_dump_type_traits_layout[8] = {
    sizeof(struct ggml_type_traits),
    offsetof(struct ggml_type_traits, type_name),
    offsetof(struct ggml_type_traits, blck_size),
    offsetof(struct ggml_type_traits, blck_size_interleave),
    offsetof(struct ggml_type_traits, type_size),
    offsetof(struct ggml_type_traits, is_quantized),
    offsetof(struct ggml_type_traits, to_float),
    offsetof(struct ggml_type_traits, from_float_ref),
};
