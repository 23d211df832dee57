#include "loyalty/transactions.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

using namespace loyalty::analytics;

namespace {

LoadResult parse(const std::string& text) {
    std::istringstream input(text);
    return parse_transactions_csv(input);
}

}  // namespace

TEST_CASE("Cents parse exactly from decimal currency amounts") {
    std::int64_t cents = 0;
    CHECK((parse_cents("12.34", cents) && cents == 1234));
    CHECK((parse_cents("12.5", cents) && cents == 1250));
    CHECK((parse_cents("7", cents) && cents == 700));
    CHECK((parse_cents("-3.99", cents) && cents == -399));
    CHECK((parse_cents("0.100", cents) && cents == 10));  // zero padding is exact
    CHECK_FALSE(parse_cents("0.123", cents));
    CHECK_FALSE(parse_cents("1,5", cents));
    CHECK_FALSE(parse_cents("--5", cents));
    CHECK_FALSE(parse_cents("12.", cents));
    CHECK_FALSE(parse_cents("", cents));
    CHECK_FALSE(parse_cents("1e3", cents));
    CHECK((parse_cents("1.1200", cents) && cents == 112));
    CHECK((parse_cents("999999999999999.99", cents) && cents == 99'999'999'999'999'999));
    CHECK_FALSE(parse_cents("1000000000000000", cents));  // 16 whole digits
    CHECK_FALSE(parse_cents("99999999999999999999999", cents));
    CHECK_FALSE(parse_cents("1.5a", cents));
    CHECK_FALSE(parse_cents("1.05.0", cents));
    CHECK_FALSE(parse_cents("-", cents));
    CHECK_FALSE(parse_cents(".5", cents));
    CHECK(format_cents(1234) == "12.34");
    CHECK(format_cents(-5) == "-0.05");
    CHECK(format_cents(0) == "0.00");
}

TEST_CASE("Dates are ISO days since 1970") {
    CHECK(parse_day("1970-01-01") == 0);
    CHECK(parse_day("2024-02-29") == 19782);
    CHECK_FALSE(parse_day("2023-02-29").has_value());
    CHECK_FALSE(parse_day("2024-02-29T10:00:00Z").has_value());
    CHECK(format_day(19782) == "2024-02-29");
}

TEST_CASE("A CSV with optional columns in any order is read into interned records") {
    const auto loaded = parse(
        "date,amount,member_id,category,store,discount,quantity\r\n"
        "2024-01-05,10.50,A,Dairy,North,1.00,2\r\n"
        "2024-01-05,\"3.00\",B,\"Fruit, fresh\",,,\r\n"
        "2024-01-06,-2.25,A,Dairy,North,,\r\n");
    REQUIRE(loaded.errors.empty());
    const PurchaseHistory& history = loaded.history;
    REQUIRE(history.lines.size() == 3);
    CHECK(history.members.size() == 2);
    CHECK(history.categories.name(history.lines[1].category) == "Fruit, fresh");
    CHECK(history.lines[0].amount_cents == 1050);
    CHECK(history.lines[0].discount_cents == 100);
    CHECK(history.lines[0].quantity == 2);
    CHECK(history.lines[1].store == no_index);
    CHECK(history.lines[1].quantity == 1);
    CHECK(history.lines[2].amount_cents == -225);
    CHECK(history.lines[2].member == history.lines[0].member);
    CHECK(history.lines[2].day == history.lines[0].day + 1);
    CHECK(history.lines[0].sku == no_index);
}

TEST_CASE("Bad rows are reported with line number and column, never skipped silently") {
    const auto loaded = parse(
        "member_id,date,amount,quantity\n"
        "A,2024-01-05,1.00,1\n"
        "B,2024-13-01,1.00,1\n"
        ",2024-01-05,1.00,1\n"
        "C,2024-01-05,ten,1\n"
        "D,2024-01-05,1.00,0\n"
        "E,2024-01-05\n"
        "\n"
        "F,\"2024-01-05,1.00,1\n");
    REQUIRE(loaded.errors.size() == 6);
    CHECK((loaded.errors[0].line == 3 && loaded.errors[0].column == "date"));
    CHECK((loaded.errors[1].line == 4 && loaded.errors[1].column == "member_id"));
    CHECK((loaded.errors[2].line == 5 && loaded.errors[2].column == "amount"));
    CHECK(loaded.errors[2].message.find("'ten'") != std::string::npos);
    CHECK((loaded.errors[3].line == 6 && loaded.errors[3].column == "quantity"));
    CHECK(loaded.errors[4].line == 7);
    CHECK(loaded.errors[5].line == 9);
    CHECK(loaded.history.lines.size() == 1);
}

TEST_CASE("A header without a required column is refused") {
    const auto loaded = parse("member_id,day,amount\nA,2024-01-05,1.00\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK(loaded.errors[0].line == 1);
    CHECK(loaded.errors[0].column == "date");
    CHECK(parse("").errors.size() == 1);
}

TEST_CASE("Too many bad rows are counted, not listed") {
    std::string text = "member_id,date,amount\n";
    for (int i = 0; i < 10; ++i) text += "A,bad,1\n";
    std::istringstream input(text);
    const auto loaded = parse_transactions_csv(input, 3);
    REQUIRE(loaded.errors.size() == 4);
    CHECK(loaded.errors[3].message == "7 more bad rows not listed");
}

TEST_CASE("Written transactions read back identically") {
    auto original = parse("member_id,date,amount,category,sku,store,quantity,discount\n"
                          "\"M \"\"1\"\"\",2024-03-01,4.20,Dairy,milk-1,North,3,0.40\n"
                          "M2,2024-03-02,-1.00,,,,1,0.00\n");
    REQUIRE(original.errors.empty());
    std::ostringstream written;
    write_transactions_csv(original.history, written);
    const auto again = parse(written.str());
    REQUIRE(again.errors.empty());
    std::ostringstream rewritten;
    write_transactions_csv(again.history, rewritten);
    CHECK(rewritten.str() == written.str());
    CHECK(again.history.members.name(0) == "M \"1\"");
}

TEST_CASE("Interning a name returns its first index, whether or not it was the last one interned") {
    Dictionary dictionary;
    CHECK(dictionary.intern("A") == 0);
    CHECK(dictionary.intern("A") == 0);
    CHECK(dictionary.intern("B") == 1);
    CHECK(dictionary.intern("A") == 0);
    CHECK(dictionary.intern("B") == 1);
    CHECK(dictionary.find("B") == 1);
    CHECK(dictionary.size() == 2);
}

TEST_CASE("Names of every length are told apart, however much of them they share") {
    Dictionary dictionary;
    std::vector<std::string> names;
    for (std::size_t length = 0; length <= 40; ++length) {
        for (const char last : {'a', 'b'}) {
            names.push_back(std::string(length, 'x') + last);  // differ in the last byte
            names.push_back(last + std::string(length, 'x'));  // differ in the first
        }
    }
    names.push_back("");
    for (const std::string& name : names) dictionary.intern(name);
    REQUIRE(dictionary.size() == names.size() - 2);  // at length 0, "a" and "b" come twice
    for (const std::string& name : names) {
        REQUIRE(dictionary.name(dictionary.find(name)) == name);
        REQUIRE(dictionary.intern(name) == dictionary.find(name));
    }
}

TEST_CASE("A dictionary keeps every name's index as it grows") {
    Dictionary dictionary;
    CHECK(dictionary.find("N0") == no_index);
    constexpr Index names = 200'000;  // tables past 2 MiB: in huge pages where the kernel allows
    for (Index i = 0; i < names; ++i) REQUIRE(dictionary.intern("N" + std::to_string(i)) == i);
    for (Index i = 0; i < names; ++i) {
        REQUIRE(dictionary.find("N" + std::to_string(i)) == i);
        REQUIRE(dictionary.intern("N" + std::to_string(i)) == i);
        REQUIRE(dictionary.name(i) == "N" + std::to_string(i));
    }
    CHECK(dictionary.find("N" + std::to_string(names)) == no_index);
    CHECK(dictionary.size() == names);
}

TEST_CASE("CRLF line ends, a byte-order mark and a last line without newline are read") {
    const auto loaded = parse(
        "\xEF\xBB\xBFmember_id,date,amount,category\r\n"
        "A,2024-01-05,1.00,\"Dairy\"\r\n"
        "\r\n"
        "B,2024-01-06,2.00,\"Fruit, \"\"fresh\"\"\"");
    REQUIRE(loaded.errors.empty());
    REQUIRE(loaded.history.lines.size() == 2);
    CHECK(loaded.history.categories.name(loaded.history.lines[0].category) == "Dairy");
    CHECK(loaded.history.categories.name(loaded.history.lines[1].category) == "Fruit, \"fresh\"");
    CHECK(loaded.history.lines[1].amount_cents == 200);
}

TEST_CASE("Lines are read whole wherever the read buffer's boundary falls in them") {
    // The reader's block size is its own business: the header's padding moves the rows over
    // every offset, so the first boundary falls at each character of a row (in the escaped
    // quotes, between \r and \n) in one of the files.
    const std::string row = "\"M \"\"7\"\"\",2024-01-05,1.25,\"Fruit, fresh\"\r\n";
    constexpr std::size_t rows = 12'000;  // about 500 KiB, past the first block
    for (std::size_t padding = 0; padding < row.size(); ++padding) {
        std::string text = "member_id,date,amount,category" + std::string(padding, ' ') + "\r\n";
        for (std::size_t i = 0; i < rows; ++i) text += row;
        const auto loaded = parse(text);
        REQUIRE(loaded.errors.empty());
        REQUIRE(loaded.history.lines.size() == rows);
        CHECK(loaded.history.members.size() == 1);
        CHECK(loaded.history.members.name(0) == "M \"7\"");
        CHECK(loaded.history.categories.size() == 1);
        CHECK(loaded.history.lines.back().amount_cents == 125);
    }
}

TEST_CASE("A line longer than the read buffer is read whole, later rows keep their numbers") {
    const std::string long_member(3 << 20, 'M');
    const auto loaded =
        parse("member_id,date,amount\n" + long_member + ",2024-01-05,1.00\nB,2024-01-05,x\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK((loaded.errors[0].line == 3 && loaded.errors[0].column == "amount"));
    REQUIRE(loaded.history.lines.size() == 1);
    CHECK(loaded.history.members.name(0) == long_member);
}

namespace {

// What a pipe gives: characters, and no way to seek to the end to learn the size.
class UnseekableBuffer : public std::streambuf {
public:
    explicit UnseekableBuffer(std::string text) : text_(std::move(text)) {
        setg(text_.data(), text_.data(), text_.data() + text_.size());
    }

private:
    std::string text_;
};

}  // namespace

TEST_CASE("A stream that cannot seek is read to its end") {
    std::string text = "member_id,date,amount\n";
    for (int i = 0; i < 3000; ++i) text += "M" + std::to_string(i % 7) + ",2024-01-05,1.00\n";
    UnseekableBuffer buffer(text + "Z,2024-01-06,bad");
    std::istream input(&buffer);
    const auto loaded = parse_transactions_csv(input);
    REQUIRE(loaded.errors.size() == 1);
    CHECK(loaded.errors[0].line == 3002);
    CHECK(loaded.history.lines.size() == 3000);
    CHECK(loaded.history.members.size() == 7);
}
