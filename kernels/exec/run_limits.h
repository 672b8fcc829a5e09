#pragma once
// Resource limits of a run: the largest tensor one op output may take (--max-tensor-bytes), checked
// from the op's shape rule on the actual inputs before its kernel allocates anything, so a model
// whose constants ask for terabytes (Pad with pads 2^40, ConstantOfShape [2^31, 2^31]) is refused
// with exit code 2 instead of running until the kernel's memory runs out.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ir/type_info.h"

namespace scalec::kernels {

class OpContext;
struct OpDef;

/// Half of the machine's physical memory: the default of --max-tensor-bytes.
size_t default_max_tensor_bytes();
/// The limit Executors use unless their options say otherwise (the command line sets it).
size_t max_tensor_bytes();
/// Sets the process-wide limit; 0 restores the default.
void set_max_tensor_bytes(size_t bytes);

/// The most iterations one Loop node may run (a loop whose condition never turns false would run
/// forever): Error(kBadInput) past it. Default 10,000,000; set_max_loop_iterations(0) restores it.
int64_t max_loop_iterations();
void set_max_loop_iterations(int64_t iterations);

/// --lenient: a graph output whose declared type or shape contradicts what the model computes is
/// kept as computed instead of refused.
bool lenient_outputs();
void set_lenient_outputs(bool lenient);

/// Bytes a tensor of type `t` takes; nullopt when its element type or a dim is unknown. Throws
/// Error(kBadInput) naming `what` for a negative dim or a size past int64 (a shape product overflow).
std::optional<size_t> tensor_type_bytes(const ir::TypeInfo& t, const std::string& what);

/// Applies `op`'s shape rule to the node's actual inputs and throws Error(kBadInput) naming node,
/// op, output and size when an output would take more than `limit` bytes.
void check_output_bytes(const OpDef& op, const OpContext& ctx, size_t limit);

}  // namespace scalec::kernels
