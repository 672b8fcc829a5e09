#pragma once
// Output sizes of sliding windows along one spatial axis, as the ONNX spec defines them: Conv,
// ConvInteger, QLinearConv and the pooling ops (window_axis), ConvTranspose (transposed_axis) and
// MaxUnpool (unpooled_size). One place for the CPU kernels and the shape rules (kernels/ops/*_shapes),
// so the two cannot disagree. Plain functions of numbers: the callers check and report errors.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace scalec::kernels {

/// The auto_pad attribute of Conv, ConvTranspose and the pooling ops.
enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

/// auto_pad from its attribute text ("" counts as NOTSET); nullopt for any other text.
inline std::optional<AutoPad> auto_pad_of(std::string_view s) {
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return std::nullopt;
}

/// One spatial axis of a window op: the output size and the pads applied to reach it.
struct WindowAxis {
  int64_t out = 0;
  int64_t pad_begin = 0, pad_end = 0;
  bool fits = true;  ///< false: the window is larger than the padded input (out is meaningless)
};

/// Rounds a / b up (b > 0).
inline int64_t window_ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// A window of `kernel` taps `dilation` apart, moved by `stride` over `in` elements. SAME_* pads to
/// ceil(in / stride) outputs (the odd pad element at the end for SAME_UPPER, at the start for
/// SAME_LOWER); VALID drops the pads; NOTSET uses pad_begin/pad_end. ceil_mode (pooling) rounds the
/// count up but drops a last window that would start in the end pad (as PyTorch and ONNX 22 do);
/// SAME and VALID ignore it (VALID's ceil((in - window + 1) / stride) is the floor formula).
inline WindowAxis window_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                              int64_t pad_end, AutoPad mode, bool ceil_mode = false) {
  WindowAxis w;
  const int64_t window = (kernel - 1) * dilation + 1;
  if (mode == AutoPad::kSameUpper || mode == AutoPad::kSameLower) {
    w.out = window_ceil_div(in, stride);
    const int64_t total = std::max<int64_t>(0, (w.out - 1) * stride + window - in);
    w.pad_begin = mode == AutoPad::kSameUpper ? total / 2 : total - total / 2;
    w.pad_end = total - w.pad_begin;
    return w;
  }
  if (mode == AutoPad::kValid) pad_begin = pad_end = 0;
  w.pad_begin = pad_begin;
  w.pad_end = pad_end;
  const int64_t span = in + pad_begin + pad_end - window;
  if (span < 0) {
    w.fits = false;
    return w;
  }
  if (ceil_mode && mode != AutoPad::kValid) {
    w.out = window_ceil_div(span, stride) + 1;
    if ((w.out - 1) * stride >= in + pad_begin) --w.out;  // the last window would start in the end pad
  } else {
    w.out = span / stride + 1;
  }
  return w;
}

/// Floor division (b > 0): ONNX writes the ConvTranspose pad formulas with Python's //.
inline int64_t window_floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// ConvTranspose along one axis. The full result has stride * (in - 1) + output_padding + window
/// elements. A requested size (output_shape's entry; -1 for none) or SAME_* (in * stride) crops it with total pads
/// full - out, split as the spec does: SAME_UPPER puts the odd element at the end, every other mode
/// at the start; a negative total (a size beyond the full result) is kept, as the spec and its
/// reference do. Otherwise out = full - pads (VALID: no pads); `fits` is false when that is negative.
inline WindowAxis transposed_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                                  int64_t pad_end, int64_t output_padding, int64_t requested, AutoPad mode) {
  WindowAxis w;
  const int64_t window = (kernel - 1) * dilation + 1;
  const int64_t full = stride * (in - 1) + output_padding + window;
  if (requested >= 0 || mode == AutoPad::kSameUpper || mode == AutoPad::kSameLower) {
    w.out = requested >= 0 ? requested : in * stride;
    const int64_t total = full - w.out;
    w.pad_begin = mode == AutoPad::kSameUpper ? window_floor_div(total, 2) : total - window_floor_div(total, 2);
    w.pad_end = total - w.pad_begin;
    return w;
  }
  if (mode == AutoPad::kValid) pad_begin = pad_end = 0;
  w.pad_begin = pad_begin;
  w.pad_end = pad_end;
  w.out = full - pad_begin - pad_end;
  w.fits = w.out >= 0;
  return w;
}

/// MaxUnpool's default output size along one axis: (in - 1) * stride + kernel - pads (may be
/// negative: the caller refuses it).
inline int64_t unpooled_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end) {
  return (in - 1) * stride + kernel - pad_begin - pad_end;
}

}  // namespace scalec::kernels
