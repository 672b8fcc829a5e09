#pragma once
// Names a model supplies (nodes, values, attributes, strings) are printed through printable(), so
// a hostile model cannot send control sequences to the user's terminal through a message.
#include <string>
#include <string_view>

namespace scalec::ir {

/// `s` with control bytes (C0, DEL, and the UTF-8 form of C1 controls) written as \xNN; other
/// bytes, UTF-8 letters included, unchanged.
std::string printable(std::string_view s);

/// `s` with the same escapes, except that line breaks and tabs stay (multi-line messages).
std::string printable_text(std::string_view s);

}  // namespace scalec::ir
