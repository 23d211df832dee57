// Recognises JSON text that is already exactly what nlohmann::json::dump() (no indent, UTF-8
// kept as is) writes for the value it parses to, so head office can store a till event's
// payload as the frame carried it instead of parsing it and writing it out again.
//
// The form dump() writes: no whitespace; object keys in ascending byte order, each once;
// integers in shortest decimal form within int64 or uint64 ("-0" parses to 0, written "0");
// strings with only the escapes dump() writes (\" \\ \b \f \n \r \t, and \u00xx in lower case
// for the other control characters) and every other character as its own UTF-8 bytes.
// Whatever the walk cannot prove is refused even where dump() might agree - numbers with a
// fraction or an exponent (dump() has its own float format), keys holding an escape, nesting
// deeper than max_depth - so an answer errs only towards writing the text again.
//
// The text must already have parsed as JSON: the walk checks the form, not validity (it does
// not check that UTF-8 sequences are well formed, for instance). Not thread-safe per walk;
// walks on different threads share nothing.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace loyalty::protocol {

// Walks canonical JSON text from its start. Each step checks one value, moves past it and says
// whether it was canonical; after a false the walk is over. object() and array() hand each
// member or element to the caller, who must walk its value (value() checks it whole), so a
// caller can note where a value it is looking for starts and ends.
class CanonicalWalk {
  public:
    static constexpr int max_depth = 64;

    explicit CanonicalWalk(std::string_view text) : text_(text) {}

    bool value();

    // on_member(std::string_view key) -> bool walks the member's value.
    template <class OnMember>
    bool object(OnMember&& on_member) {
        if (!enter('{')) return false;
        if (consume('}')) return leave();
        std::optional<std::string_view> previous;
        do {
            const std::optional<std::string_view> key = this->key();
            // Strictly ascending is std::map's order (unsigned bytes), and says each key is once.
            if (!key || (previous && *key <= *previous) || !consume(':') || !on_member(*key)) return false;
            previous = key;
        } while (consume(','));
        return consume('}') && leave();
    }

    // on_element() -> bool walks the element's value.
    template <class OnElement>
    bool array(OnElement&& on_element) {
        if (!enter('[')) return false;
        if (consume(']')) return leave();
        do {
            if (!on_element()) return false;
        } while (consume(','));
        return consume(']') && leave();
    }

    std::size_t position() const { return at_; }
    bool at_end() const { return at_ == text_.size(); }

  private:
    bool enter(char opening);
    bool leave();
    bool consume(char expected);
    void skip_plain();
    std::optional<std::string_view> key();
    bool string();
    bool escape();
    bool number();
    bool literal(std::string_view word);

    std::string_view text_;
    std::size_t at_ = 0;
    int depth_ = 0;
};

// Whether `text`, which parses as JSON, is exactly what dump() writes for the value it parses to.
bool is_canonical_json(std::string_view text);

}  // namespace loyalty::protocol
