#pragma once
// FakeQuantize, scalec's own training-time op (quantization-aware training): its domain and its
// registration. Kept out of op_registry.h, which most of the kernels include.

namespace scalec::kernels {

class OpRegistry;

/// Domain of FakeQuantize (kernels/ops/fake_quant_ops.cpp), version 1; never in an exported model.
inline constexpr const char* kFakeQuantDomain = "com.scalec";

/// Registers FakeQuantize: forward, shape rule and backward.
void register_fake_quant_ops(OpRegistry& r);

}  // namespace scalec::kernels
