#include "canonical_json.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

using loyalty::protocol::CanonicalWalk;
using loyalty::protocol::is_canonical_json;
using nlohmann::json;

namespace {

// What matters: the walk may say "canonical" only for text that dump() writes back unchanged.
// Text that is not JSON is outside its contract (it runs after the parser) and is skipped.
bool canonical_and_checked(const std::string& text) {
    json parsed;
    try {
        parsed = json::parse(text);
    } catch (const json::exception&) {
        return false;
    }
    const bool canonical = is_canonical_json(text);
    if (canonical) REQUIRE(parsed.dump() == text);
    return canonical;
}

// Random JSON values of the kinds till payloads hold, and the awkward corners of each.
class ValueMaker {
  public:
    explicit ValueMaker(std::uint32_t seed) : random_(seed) {}

    json value(int depth) {
        switch (pick(depth < 4 ? 7 : 5)) {
            case 0: return nullptr;
            case 1: return pick(2) == 0;
            case 2: return integer();
            case 3: return text();
            case 4: return pick(2) == 0 ? json(text()) : json(integer());
            case 5: return object(depth);
            default: return array(depth);
        }
    }

    json object(int depth) {
        json object = json::object();
        for (int i = pick(5); i > 0; --i) object[key()] = value(depth + 1);
        return object;
    }

  private:
    int pick(int count) { return std::uniform_int_distribution<int>(0, count - 1)(random_); }

    json integer() {
        static const std::vector<json> corners{0, 1, -1, 9, 10, -10, std::numeric_limits<std::int64_t>::min(),
                                               std::numeric_limits<std::int64_t>::max(),
                                               std::numeric_limits<std::uint64_t>::max()};
        if (pick(3) == 0) return corners[static_cast<std::size_t>(pick(static_cast<int>(corners.size())))];
        return std::uniform_int_distribution<std::int64_t>(-1'000'000, 1'000'000)(random_);
    }

    // Letters, '/', DEL and multi-byte UTF-8; with `escaped`, control characters, quotes and
    // backslashes too (keys never hold those: the walk refuses a key with an escape).
    std::string text(bool escaped = true) {
        static const std::vector<std::string> pieces{"a", "Z", "_", "0", " ", "/", "\x7f", "é", "€",
                                                     "\xf0\x9f\x8e\x81", "member_id", "t-1", "\"", "\\"};
        const int plain_pieces = static_cast<int>(pieces.size()) - 2;
        std::string text;
        for (int i = pick(6); i > 0; --i) {
            if (escaped && pick(4) == 0)
                text += static_cast<char>(pick(0x20));
            else
                text += pieces[static_cast<std::size_t>(pick(escaped ? plain_pieces + 2 : plain_pieces))];
        }
        return text;
    }

    std::string key() { return text(false); }

    json array(int depth) {
        json array = json::array();
        for (int i = pick(4); i > 0; --i) array.push_back(value(depth + 1));
        return array;
    }

    std::mt19937 random_;
};

std::string nested_arrays(int depth) {
    const auto size = static_cast<std::size_t>(depth);
    return std::string(size, '[') + std::string(size, ']');
}

}  // namespace

TEST_CASE("whatever dump() writes is canonical", "[canonical_json]") {
    ValueMaker maker(20261124);
    for (int i = 0; i < 3000; ++i) {
        const std::string text = maker.object(0).dump();
        INFO(text);
        CHECK(canonical_and_checked(text));
    }
    for (const char* text : {"{}", "[]", "\"\"", "0", "-1", "true", "false", "null", R"({"":0,"a":[]})",
                             "18446744073709551615", "-9223372036854775808", R"("\u001f\u0000\u000b\b\t\n\f\r")",
                             "{\"z\":1,\"\xc3\xa9\":2}"}) {
        INFO(text);
        CHECK(canonical_and_checked(text));
    }
}

TEST_CASE("JSON that dump() writes otherwise is not canonical", "[canonical_json]") {
    // Each parses, and dump() writes each differently, so storing it as sent would change the feed.
    const std::vector<std::string> texts{
        R"({"a": 1})",                       // spacing
        " {\"a\":1}",                        // leading whitespace
        "{\"a\":1}\n",                       // trailing whitespace
        R"({"b":1,"a":2})",                  // key order
        R"({"a":1,"a":2})",                  // a duplicate key (the parser keeps one)
        "{\"\xc3\xa9\":2,\"z\":1}",          // key order in unsigned bytes: 'z' < 0xc3
        R"({"\u0061":1})",                   // an escaped key
        R"(["\u0041"])",                     // an escape dump() does not write
        R"(["\u00e9"])",                     // a non-ASCII character escaped
        R"(["\ud83c\udf81"])",               // a surrogate pair
        R"(["\/"])",                         // an escaped solidus
        R"(["\u000a"])",                     // \n written long
        R"(["\u001F"])",                     // upper-case hex
        R"([1e2])", R"([1E2])", R"([1.50])", R"([1.5e300])",  // doubles as dump() does not write them
        R"([-0])",                           // parses to 0
        R"([18446744073709551616])",         // past uint64: a double
        R"([-9223372036854775809])",         // past int64: a double
    };
    for (const std::string& text : texts) {
        INFO(text);
        CHECK(json::parse(text).dump() != text);
        CHECK_FALSE(is_canonical_json(text));
    }
    // dump() has its own float format, which the walk does not check: doubles are refused
    // even where dump() agrees, and are then written again.
    // So are keys holding an escape (their order is the unescaped key's).
    for (const char* text : {"[1.0]", "[0.5]", "[-0.0]", R"({"a\"b":1})", R"({"\n":1})"}) {
        INFO(text);
        CHECK(json::parse(text).dump() == text);
        CHECK_FALSE(is_canonical_json(text));
    }
}

TEST_CASE("text called canonical is what dump() writes, however the text was bent", "[canonical_json]") {
    // Mutations of dumped values: inserted spaces and escapes, dropped, doubled and swapped
    // bytes. Most no longer parse; of those that do, every one called canonical must round-trip.
    ValueMaker maker(7);
    std::mt19937 random(11);
    static const std::vector<std::string> insertions{" ",  "\\u0041", "\\/",     ".0",     "e1",
                                                     "0",  "-",       ",\"a\":1", "\"a\":1,"};
    int canonical = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string text = maker.object(0).dump();
        const auto at = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(random);
        switch (i % 4) {
            case 0: text.insert(at, insertions[static_cast<std::size_t>(i / 4) % insertions.size()]); break;
            case 1: text.erase(at, 1); break;
            case 2: text.insert(at, 1, text[at]); break;
            default: std::swap(text[at], text[(at + 1) % text.size()]); break;
        }
        INFO(text);
        canonical += canonical_and_checked(text) ? 1 : 0;
    }
    CHECK(canonical > 0);  // some mutations keep the form (e.g. swapped characters inside a string)
}

TEST_CASE("nesting deeper than the limit is refused without recursing", "[canonical_json]") {
    CHECK(is_canonical_json(nested_arrays(CanonicalWalk::max_depth)));
    CHECK_FALSE(is_canonical_json(nested_arrays(CanonicalWalk::max_depth + 1)));
    CHECK_FALSE(is_canonical_json(nested_arrays(200'000)));
}

TEST_CASE("a walk reports where each member's value ends", "[canonical_json]") {
    const std::string text = R"({"events":[{"payload":{"a":[1,2]},"seq":1}],"z":null})";
    CanonicalWalk walk(text);
    std::vector<std::string> payloads;
    const bool canonical = walk.object([&](std::string_view key) {
        if (key != "events") return walk.value();
        return walk.array([&] {
            return walk.object([&](std::string_view field) {
                const std::size_t start = walk.position();
                if (!walk.value()) return false;
                if (field == "payload") payloads.push_back(text.substr(start, walk.position() - start));
                return true;
            });
        });
    });
    CHECK(canonical);
    CHECK(walk.at_end());
    CHECK(payloads == std::vector<std::string>{R"({"a":[1,2]})"});
}
