#include "loyalty/transactions.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <deque>
#include <utility>

#include "huge_pages.hpp"
#include "loyalty/clock.hpp"

namespace loyalty::analytics {

namespace {

// Eight bytes of text as one word, the first byte lowest, so that bit positions follow the text.
std::uint64_t load_word(const char* bytes) {
    std::uint64_t word;
    std::memcpy(&word, bytes, sizeof word);
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    return word;
}

std::uint32_t load_half_word(const char* bytes) {
    std::uint32_t word;
    std::memcpy(&word, bytes, sizeof word);
    return word;
}

// Names are ids, SKUs and dates of a few to a few dozen bytes: a multiply per eight bytes and a
// final mix cost a fraction of std::hash's byte-wise Murmur, and spread as well.
std::uint32_t hash_name(std::string_view name) {
    const char* bytes = name.data();
    const std::size_t size = name.size();
    std::uint64_t hash = size;
    const auto mix = [&hash](std::uint64_t word) {
        hash = (hash ^ word) * 0x9E3779B97F4A7C15;
        hash ^= hash >> 32;
    };
    if (size >= 8) {
        for (std::size_t i = 0; i + 8 < size; i += 8) mix(load_word(bytes + i));
        mix(load_word(bytes + size - 8));  // the last eight, overlapping the word before
    } else if (size >= 4) {
        mix(std::uint64_t{load_half_word(bytes)} << 32 | load_half_word(bytes + size - 4));
    } else if (size > 0) {
        const auto byte = [&](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(bytes[i])}; };
        mix(byte(0) << 16 | byte(size / 2) << 8 | byte(size - 1));
    }
    hash *= 0xFF51AFD7ED558CCD;  // Murmur3's finaliser: every input bit reaches the low bits
    return static_cast<std::uint32_t>(hash ^ hash >> 33);
}

// The same test as ==, without a call to memcmp: the call, and the registers saved around
// it, cost more than comparing names this short.
bool same_name(std::string_view left, std::string_view right) {
    const std::size_t size = left.size();
    if (size != right.size()) return false;
    const char* a = left.data();
    const char* b = right.data();
    if (size >= 8) {
        for (std::size_t i = 0; i + 8 < size; i += 8) {
            if (load_word(a + i) != load_word(b + i)) return false;
        }
        return load_word(a + size - 8) == load_word(b + size - 8);  // overlapping the one before
    }
    if (size >= 4) {
        return load_half_word(a) == load_half_word(b) &&
               load_half_word(a + size - 4) == load_half_word(b + size - 4);
    }
    for (std::size_t i = 0; i < size; ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

}  // namespace

// Inlined: as a call, saving and restoring registers cost as much as the probe.
[[gnu::always_inline]] inline std::size_t Dictionary::slot_of(std::string_view name,
                                                              std::uint32_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const Slot& slot = slots_[i];
        if (slot.index == no_index || (slot.hash == hash && same_name(names_[slot.index], name))) {
            return i;
        }
    }
}

Index Dictionary::intern(std::string_view name) {
    // Exports and ledgers are grouped by member, visit or date, so a name mostly repeats the
    // one before it, and comparing with that one is much cheaper than hashing.
    if (last_ != no_index && same_name(names_[last_], name)) return last_;
    return look_up_or_add(name);
}

// Out of line, and called last, so that intern's common case saves no registers: that cost
// more than its compare.
[[gnu::noinline]] Index Dictionary::look_up_or_add(std::string_view name) {
    if (2 * (names_.size() + 1) > slots_.size()) grow();
    const std::uint32_t hash = hash_name(name);
    Slot& slot = slots_[slot_of(name, hash)];
    if (slot.index == no_index) {
        slot = {hash, static_cast<Index>(names_.size())};
        names_.emplace_back(name);
    }
    return last_ = slot.index;
}

Index Dictionary::find(std::string_view name) const {
    if (slots_.empty()) return no_index;
    return slots_[slot_of(name, hash_name(name))].index;
}

// A million members' table is 16 MiB, and each member's first line probes it at random: in
// huge pages it needs few TLB entries. The names are reserved up to the next growth (they
// are moved then anyway), in huge pages too, for callers that look names up in any order.
void Dictionary::grow() {
    constexpr std::size_t first_slots = 16;
    const std::size_t count = std::max(first_slots, 2 * slots_.size());
    std::vector<Slot> slots;
    reserve_in_huge_pages(slots, count);
    slots.resize(count);
    const std::vector<Slot> old = std::exchange(slots_, std::move(slots));
    reserve_in_huge_pages(names_, count / 2);
    for (const Slot& slot : old) {
        if (slot.index != no_index) slots_[slot_of(names_[slot.index], slot.hash)] = slot;
    }
}

std::optional<DayNumber> parse_day(std::string_view iso_date) {
    // Only the date form: a timestamp in a date column is more likely a wrong column.
    if (iso_date.size() != 10) return std::nullopt;
    const auto timestamp = parse_timestamp(iso_date);
    if (!timestamp) return std::nullopt;
    return static_cast<DayNumber>(day_number(*timestamp));
}

std::string format_day(DayNumber day) { return format_date(Timestamp{day} * seconds_per_day); }

std::string format_cents(std::int64_t cents) {
    const bool negative = cents < 0;
    // Unsigned so that INT64_MIN negates without overflow.
    const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(cents)
                                             : static_cast<std::uint64_t>(cents);
    std::string text = negative ? "-" : "";
    text += std::to_string(magnitude / 100);
    text += '.';
    text += static_cast<char>('0' + magnitude % 100 / 10);
    text += static_cast<char>('0' + magnitude % 10);
    return text;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

// One pass over the text: finding the point and checking each part on its own walked it four
// times and was a tenth of reading a CSV.
bool parse_cents(std::string_view text, std::int64_t& cents) noexcept {
    const bool negative = !text.empty() && text.front() == '-';
    std::size_t i = negative ? 1 : 0;
    constexpr std::size_t max_whole_digits = 15;  // keeps units * 100 far inside int64
    const std::size_t whole_start = i;
    std::int64_t units = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
        if (i - whole_start == max_whole_digits) return false;
        units = units * 10 + (text[i] - '0');
    }
    if (i == whole_start) return false;
    std::int64_t hundredths = 0;
    if (i < text.size()) {
        if (text[i++] != '.' || i == text.size() || !is_digit(text[i])) return false;
        hundredths = (text[i++] - '0') * 10;
        if (i < text.size() && is_digit(text[i])) hundredths += text[i++] - '0';
        // Exports often pad to three or four decimals; only zero padding is exact.
        while (i < text.size() && text[i] == '0') ++i;
        if (i < text.size()) return false;
    }
    cents = units * 100 + hundredths;
    if (negative) cents = -cents;
    return true;
}

namespace {

enum Column : std::size_t { member_id, date, amount, category, sku, store, quantity, discount };
constexpr std::array<std::string_view, 8> column_names = {
    "member_id", "date", "amount", "category", "sku", "store", "quantity", "discount"};
constexpr std::size_t required_columns = 3;
constexpr std::size_t absent = std::numeric_limits<std::size_t>::max();

// The high bit of each byte of word that equals byte, and no other bit. Exact, unlike the
// usual zero-byte test, whose borrow can mark the byte after a match.
std::uint64_t bytes_equal_to(std::uint64_t word, unsigned char byte) {
    constexpr std::uint64_t low_bits = 0x7F7F7F7F7F7F7F7F;
    const std::uint64_t difference = word ^ (0x0101010101010101 * byte);
    return ~(((difference & low_bits) + low_bits) | difference | low_bits);
}

// Splits one CSV record into fields that view `line` (or `unquoted` for fields holding an
// escaped quote). The vectors are reused across lines, so parsing allocates only while they
// grow to the widest line.
class CsvSplitter {
public:
    // False when a quoted field is not closed.
    bool split(std::string_view line) {
        fields_.clear();
        unquoted_used_ = 0;
        if (split_unquoted(line)) return true;
        fields_.clear();
        // A loop rather than find(','): fields are a few characters long, shorter than what a
        // call to memchr pays off for.
        std::size_t position = 0;
        while (true) {
            if (position < line.size() && line[position] == '"') {
                if (!split_quoted(line, position)) return false;
            } else {
                const std::size_t start = position;
                while (position < line.size() && line[position] != ',') ++position;
                fields_.push_back(line.substr(start, position - start));
                ++position;
            }
            if (position > line.size()) return true;
        }
    }
    const std::vector<std::string_view>& fields() const { return fields_; }

private:
    // The common line, without quotes, eight bytes at a time: comparing byte by byte was a fifth
    // of reading a CSV. False at the first quote, for split to start over.
    bool split_unquoted(std::string_view line) {
        std::size_t start = 0;  // of the field being read
        std::size_t position = 0;
        const auto end_field = [&](std::size_t comma) {
            fields_.emplace_back(line.data() + start, comma - start);
            start = comma + 1;
        };
        for (; position + 8 <= line.size(); position += 8) {
            const std::uint64_t word = load_word(line.data() + position);
            if (bytes_equal_to(word, '"') != 0) return false;
            for (std::uint64_t commas = bytes_equal_to(word, ','); commas != 0; commas &= commas - 1) {
                end_field(position + static_cast<std::size_t>(std::countr_zero(commas)) / 8);
            }
        }
        for (; position < line.size(); ++position) {
            if (line[position] == '"') return false;
            if (line[position] == ',') end_field(position);
        }
        end_field(line.size());
        return true;
    }

    bool split_quoted(std::string_view line, std::size_t& position) {
        if (unquoted_used_ == unquoted_.size()) unquoted_.emplace_back();
        std::string& text = unquoted_[unquoted_used_++];
        text.clear();
        for (std::size_t i = position + 1; i < line.size(); ++i) {
            if (line[i] != '"') {
                text += line[i];
            } else if (i + 1 < line.size() && line[i + 1] == '"') {
                text += '"';
                ++i;
            } else {
                fields_.push_back(text);
                position = i + 1 < line.size() && line[i + 1] == ',' ? i + 2 : line.size() + 1;
                return i + 1 == line.size() || line[i + 1] == ',';
            }
        }
        return false;
    }

    std::vector<std::string_view> fields_;
    // A deque, not a vector: fields_ views these strings, and a vector that grows moves them
    // (a short string's characters live inside it), leaving the views dangling.
    std::deque<std::string> unquoted_;
    std::size_t unquoted_used_ = 0;
};

std::string_view trim(std::string_view text) {
    // Most fields are not padded: neither end is a space, a carriage return or below.
    const auto unpadded = [](char c) { return static_cast<unsigned char>(c) > ' '; };
    if (!text.empty() && unpadded(text.front()) && unpadded(text.back())) return text;
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    return text;
}

// Hands out the stream's lines, without "\n" or "\r\n", from blocks read whole: std::getline
// copied every line into a string and cost a third of the parse. A line longer than a block
// grows the buffer.
class LineReader {
public:
    explicit LineReader(std::istream& input) : input_(input), buffer_(block_bytes) {}

    // False at the end of the stream; a last line without a newline is still returned.
    bool next(std::string_view& line) {
        std::size_t searched = begin_;  // no newline in [begin_, searched)
        while (true) {
            const char* data = buffer_.data();
            if (const void* newline = std::memchr(data + searched, '\n', end_ - searched)) {
                const auto line_end =
                    static_cast<std::size_t>(static_cast<const char*>(newline) - data);
                line = without_carriage_return({data + begin_, line_end - begin_});
                begin_ = line_end + 1;
                return true;
            }
            searched = end_ - begin_;  // where the searched part ends once refill moves it
            if (!refill()) {
                line = without_carriage_return({buffer_.data(), end_});
                begin_ = end_;
                return end_ > 0;
            }
        }
    }

    // Bytes of the lines handed out so far, with their newlines.
    std::size_t consumed() const { return dropped_ + begin_; }

private:
    static constexpr std::size_t block_bytes = 256 * 1024;

    // A spreadsheet's "\r\n" would otherwise end the last field with "\r", which a closing
    // quote must not be followed by.
    static std::string_view without_carriage_return(std::string_view line) {
        if (line.ends_with('\r')) line.remove_suffix(1);
        return line;
    }

    // Moves the unfinished line to the front and reads after it; false at the end of the stream.
    bool refill() {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        dropped_ += begin_;
        end_ -= begin_;
        begin_ = 0;
        if (end_ == buffer_.size()) buffer_.resize(2 * buffer_.size());
        input_.read(buffer_.data() + end_, static_cast<std::streamsize>(buffer_.size() - end_));
        end_ += static_cast<std::size_t>(input_.gcount());
        return input_.gcount() > 0;
    }

    std::istream& input_;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;    // the next line starts here
    std::size_t end_ = 0;      // bytes read into the buffer
    std::size_t dropped_ = 0;  // bytes consumed before the buffer's start
};

// The bytes from the stream's position to its end; 0 when it cannot seek (a pipe).
std::size_t bytes_left(std::istream& input) {
    const auto here = input.tellg();
    if (here < 0 || !input.seekg(0, std::ios::end)) {
        input.clear();
        return 0;
    }
    const auto end = input.tellg();
    input.seekg(here);
    return static_cast<std::size_t>(end - here);
}

// Growing the lines vector by doubling copies it at every step and touches twice its final
// size in fresh pages, which was half of the parse; a little more than expected is reserved in
// case later lines are shorter (untouched capacity costs no memory).
void reserve_lines(std::vector<PurchaseLine>& lines, double expected) {
    reserve_in_huge_pages(lines, static_cast<std::size_t>(1.1 * expected));
}

class TransactionsReader {
public:
    TransactionsReader(PurchaseHistory& history, std::vector<InputError>& errors,
                       std::size_t max_errors)
        : history_(history), errors_(errors), max_errors_(max_errors) {}

    bool read_header(std::string_view line) {
        positions_.fill(absent);
        if (!splitter_.split(line)) return fail(1, "", "the header has an unclosed quote");
        const auto& fields = splitter_.fields();
        for (std::size_t i = 0; i < fields.size(); ++i) {
            for (std::size_t column = 0; column < column_names.size(); ++column) {
                if (trim(fields[i]) == column_names[column]) positions_[column] = i;
            }
        }
        bool complete = true;
        for (std::size_t column = 0; column < required_columns; ++column) {
            if (positions_[column] == absent) {
                complete = fail(1, column_names[column],
                                "required column is missing from the header; the header needs "
                                "member_id,date,amount");
            }
        }
        for (const auto position : positions_) {
            if (position != absent && position > last_position_) last_position_ = position;
        }
        return complete;
    }

    void read_row(std::size_t line_number, std::string_view line) {
        if (trim(line).empty()) return;
        if (!splitter_.split(line)) {
            fail(line_number, "", "a quoted field is not closed");
            return;
        }
        const auto& fields = splitter_.fields();
        if (fields.size() <= last_position_) {
            fail(line_number, "", "the row has fewer fields than the header");
            return;
        }
        for (std::size_t column = 0; column < column_names.size(); ++column) {
            values_[column] = positions_[column] == absent ? std::string_view{}
                                                           : trim(fields[positions_[column]]);
        }
        PurchaseLine purchase;
        if (read_fields(line_number, purchase)) history_.lines.push_back(purchase);
    }

    void finish() {
        if (suppressed_ > 0) {
            errors_.push_back({0, "", std::to_string(suppressed_) + " more bad rows not listed"});
        }
    }

private:
    std::string_view field(Column column) const { return values_[column]; }

    bool read_fields(std::size_t line_number, PurchaseLine& purchase) {
        if (field(member_id).empty()) return fail(line_number, "member_id", "is empty");
        if (!read_date(line_number, purchase.day)) return false;
        if (!parse_cents(field(amount), purchase.amount_cents)) {
            return fail(line_number, "amount", "is not a decimal amount with at most 2 decimals: '" +
                                                   std::string(field(amount)) + "'");
        }
        if (!read_optional(line_number, purchase)) return false;
        purchase.member = history_.members.intern(field(member_id));
        return true;
    }

    bool read_date(std::size_t line_number, DayNumber& day) {
        const std::string_view text = field(date);
        // An export has a few hundred dates on millions of lines: each is parsed once (parse_day
        // runs sscanf), and interning finds it again, cheapest when it repeats the line before.
        const Index index = dates_.intern(text);
        if (index == days_.size()) days_.push_back(parse_day(text));
        if (!days_[index]) {
            return fail(line_number, "date",
                        "is not an ISO date YYYY-MM-DD: '" + std::string(text) + "'");
        }
        day = *days_[index];
        return true;
    }

    bool read_optional(std::size_t line_number, PurchaseLine& purchase) {
        const std::string_view discount_text = field(discount);
        if (!discount_text.empty() && !parse_cents(discount_text, purchase.discount_cents)) {
            return fail(line_number, "discount", "is not a decimal amount with at most 2 decimals");
        }
        const std::string_view quantity_text = field(quantity);
        if (!quantity_text.empty()) {
            const auto [end, error] = std::from_chars(
                quantity_text.data(), quantity_text.data() + quantity_text.size(), purchase.quantity);
            if (error != std::errc{} || end != quantity_text.data() + quantity_text.size() ||
                purchase.quantity == 0) {
                return fail(line_number, "quantity", "is not a positive whole number");
            }
        }
        purchase.category = intern_optional(history_.categories, field(category));
        purchase.sku = intern_optional(history_.skus, field(sku));
        purchase.store = intern_optional(history_.stores, field(store));
        return true;
    }

    static Index intern_optional(Dictionary& dictionary, std::string_view name) {
        return name.empty() ? no_index : dictionary.intern(name);
    }

    bool fail(std::size_t line_number, std::string_view column, std::string message) {
        if (errors_.size() < max_errors_) {
            errors_.push_back({line_number, std::string(column), std::move(message)});
        } else {
            ++suppressed_;
        }
        return false;
    }

    PurchaseHistory& history_;
    std::vector<InputError>& errors_;
    std::size_t max_errors_;
    std::size_t suppressed_ = 0;
    std::array<std::size_t, column_names.size()> positions_{};
    std::size_t last_position_ = 0;  // of the columns read: a row needs at least this many fields
    std::array<std::string_view, column_names.size()> values_;  // the row's fields by column
    CsvSplitter splitter_;
    Dictionary dates_;                            // every date text read so far
    std::vector<std::optional<DayNumber>> days_;  // by dates_ index; empty if not a date
};

}  // namespace

LoadResult parse_transactions_csv(std::istream& input, std::size_t max_errors) {
    LoadResult result;
    TransactionsReader reader(result.history, result.errors, max_errors);
    const std::size_t stream_bytes = bytes_left(input);
    LineReader lines(input);
    std::string_view line;
    if (!lines.next(line)) {
        result.errors.push_back({0, "", "the file is empty; expected a header line"});
        return result;
    }
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // spreadsheet byte-order mark
    if (!reader.read_header(line)) return result;
    // The stream's size over the bytes of its first lines foretells how many lines are coming.
    constexpr std::size_t sample_lines = 1000;
    for (std::size_t line_number = 2; lines.next(line); ++line_number) {
        reader.read_row(line_number, line);
        if (line_number == sample_lines) {
            reserve_lines(result.history.lines, static_cast<double>(stream_bytes) * sample_lines /
                                                    static_cast<double>(lines.consumed()));
        }
    }
    reader.finish();
    return result;
}

namespace {

// Quotes a name only when CSV needs it.
void write_csv_text(std::ostream& output, std::string_view text) {
    if (text.find_first_of(",\"\n") == std::string_view::npos) {
        output << text;
        return;
    }
    output << '"';
    for (const char c : text) output << (c == '"' ? "\"\"" : std::string_view(&c, 1));
    output << '"';
}

void write_optional_name(std::ostream& output, const Dictionary& dictionary, Index index) {
    output << ',';
    if (index != no_index) write_csv_text(output, dictionary.name(index));
}

}  // namespace

void write_transactions_csv(const PurchaseHistory& history, std::ostream& output) {
    output << "member_id,date,amount,category,sku,store,quantity,discount\n";
    std::string date_text;
    DayNumber date_day = std::numeric_limits<DayNumber>::min();
    for (const PurchaseLine& line : history.lines) {
        if (line.day != date_day) {
            date_day = line.day;
            date_text = format_day(line.day);
        }
        write_csv_text(output, history.members.name(line.member));
        output << ',' << date_text << ',' << format_cents(line.amount_cents);
        write_optional_name(output, history.categories, line.category);
        write_optional_name(output, history.skus, line.sku);
        write_optional_name(output, history.stores, line.store);
        output << ',' << line.quantity << ',' << format_cents(line.discount_cents) << '\n';
    }
}

}  // namespace loyalty::analytics
