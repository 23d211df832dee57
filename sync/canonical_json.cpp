#include "canonical_json.hpp"

#include <array>

namespace loyalty::protocol {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// dump() writes these control characters as \b \t \n \f \r, never as \u00xx.
bool has_short_escape(int code) {
    return code == 0x08 || code == 0x09 || code == 0x0a || code == 0x0c || code == 0x0d;
}

// Characters a string's text cannot hold as themselves: the quote, the backslash (both start
// something else) and the control characters (dump() escapes them).
constexpr std::array<bool, 256> special_in_string = [] {
    std::array<bool, 256> special{};
    for (int c = 0; c < 0x20; ++c) special[c] = true;
    special['"'] = special['\\'] = true;
    return special;
}();

// The lower-case hex digit's value; -1 for anything else (dump() writes lower case).
int lower_hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

bool CanonicalWalk::value() {
    if (at_ == text_.size()) return false;
    switch (text_[at_]) {
        case '{':
            return object([this](std::string_view) { return value(); });
        case '[':
            return array([this] { return value(); });
        case '"':
            return string();
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default:
            return number();
    }
}

bool CanonicalWalk::enter(char opening) {
    if (depth_ == max_depth || !consume(opening)) return false;
    ++depth_;
    return true;
}

bool CanonicalWalk::leave() {
    --depth_;
    return true;
}

bool CanonicalWalk::consume(char expected) {
    if (at_ == text_.size() || text_[at_] != expected) return false;
    ++at_;
    return true;
}

// Moves past the characters a string holds as themselves; the scan most of the text goes through.
void CanonicalWalk::skip_plain() {
    const char* const data = text_.data();
    std::size_t at = at_;
    while (at < text_.size() && !special_in_string[static_cast<unsigned char>(data[at])]) ++at;
    at_ = at;
}

// A key without escapes: its bytes are then the key itself, which orders it.
std::optional<std::string_view> CanonicalWalk::key() {
    if (!consume('"')) return std::nullopt;
    const std::size_t start = at_;
    skip_plain();
    if (!consume('"')) return std::nullopt;
    return text_.substr(start, at_ - 1 - start);
}

bool CanonicalWalk::string() {
    if (!consume('"')) return false;
    for (;;) {
        skip_plain();
        if (consume('"')) return true;
        if (!consume('\\') || !escape()) return false;  // the end, or a control character
    }
}

// After a backslash: one of the escapes dump() writes ('/' it never escapes).
bool CanonicalWalk::escape() {
    if (at_ == text_.size()) return false;
    switch (text_[at_++]) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            return true;
        case 'u':
            break;
        default:
            return false;
    }
    // \u00xx only for a control character that has no short escape.
    if (text_.size() - at_ < 4 || text_[at_] != '0' || text_[at_ + 1] != '0') return false;
    const int high = lower_hex_value(text_[at_ + 2]);
    const int low = lower_hex_value(text_[at_ + 3]);
    at_ += 4;
    return (high == 0 || high == 1) && low >= 0 && !has_short_escape(high * 16 + low);
}

// An integer nlohmann parses as an integer (not a double) and writes back digit for digit.
bool CanonicalWalk::number() {
    const bool negative = consume('-');
    const std::size_t start = at_;
    while (at_ < text_.size() && is_digit(text_[at_])) ++at_;
    const std::string_view digits = text_.substr(start, at_ - start);
    if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || negative))) return false;
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E')) return false;
    // Past int64's least or uint64's greatest nlohmann parses a double.
    const std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
    return digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit);
}

bool CanonicalWalk::literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
}

bool is_canonical_json(std::string_view text) {
    CanonicalWalk walk(text);
    return walk.value() && walk.at_end();
}

}  // namespace loyalty::protocol
