#include "ir/type_info.h"

namespace scalec::ir {

std::string type_to_string(const TypeInfo& t) {
  if (t.kind == TypeInfo::Kind::kOpaque) return "opaque";
  std::string s(dtype_name(t.dtype()));
  if (!t.shape) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < t.shape->size(); ++i) {
    const Dim& d = (*t.shape)[i];
    if (i) s += ", ";
    s += d.value ? std::to_string(*d.value) : (d.param.empty() ? "?" : d.param);
  }
  return s + "]";
}

}  // namespace scalec::ir
