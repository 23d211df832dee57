// Purchase histories for segmentation: the input of every analytics computation.
//
// A PurchaseHistory is columnar-friendly and compact: member ids, categories, SKUs and stores
// are interned once into dense indices, and each purchase line is a fixed-size record, so a
// chain's whole history (20M lines) fits in memory without per-line heap allocation.
// Money is int64 cents; dates are day numbers (days since 1970-01-01, UTC).
//
// parse_transactions_csv reads the analysts' CSV export. Bad rows are never skipped silently:
// each one comes back as an InputError naming its line number and column, and the caller
// decides what to do (the segment command refuses to run). Not thread-safe; no shared state.
#pragma once

#include <cstdint>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace loyalty::analytics {

using DayNumber = std::int32_t;  // days since 1970-01-01
using Index = std::uint32_t;     // dense index into one of the history's dictionaries
constexpr Index no_index = std::numeric_limits<Index>::max();  // an optional column left empty

// Interns strings into dense indices 0..size()-1 in order of first appearance.
class Dictionary {
public:
    Index intern(std::string_view name);
    Index find(std::string_view name) const;  // no_index when absent
    const std::string& name(Index index) const { return names_[index]; }
    std::size_t size() const { return names_.size(); }

private:
    // Open addressing with linear probing, at most half full: a slot keeps its name's hash, so
    // a lookup compares names only when hashes match (std::unordered_map without cached hashes
    // compared and rehashed its neighbours' names, a third of reading a CSV). Eight bytes a
    // slot: a million members' table stays small enough to be rebuilt quickly as it grows.
    struct Slot {
        std::uint32_t hash = 0;
        Index index = no_index;  // no_index: empty
    };
    Index look_up_or_add(std::string_view name);
    // The slot holding name, or the empty slot where it would go.
    std::size_t slot_of(std::string_view name, std::uint32_t hash) const;
    void grow();

    std::vector<std::string> names_;
    std::vector<Slot> slots_;  // a power of two of them
    Index last_ = no_index;    // the name interned last, compared before hashing
};

struct PurchaseLine {
    Index member = 0;
    DayNumber day = 0;
    std::int64_t amount_cents = 0;    // net amount paid for the line; negative for a return
    std::int64_t discount_cents = 0;  // discount or offer value on the line; 0 if none
    Index category = no_index;
    Index sku = no_index;
    Index store = no_index;
    std::uint32_t quantity = 1;
};

// Members may appear without any line (enrolled, never purchased).
struct PurchaseHistory {
    Dictionary members;
    Dictionary categories;
    Dictionary skus;
    Dictionary stores;
    std::vector<PurchaseLine> lines;
};

// A refusal naming where the input is wrong. line is 1-based (the header is line 1); 0 when
// the error is not about a line (e.g. a missing column or a database failure).
struct InputError {
    std::size_t line = 0;
    std::string column;
    std::string message;
};

struct LoadResult {
    PurchaseHistory history;
    std::vector<InputError> errors;  // empty when every row was read
};

// Reads "member_id,date,amount[,category][,sku][,store][,quantity][,discount]" in any column
// order, with a header. date is ISO "YYYY-MM-DD"; amount and discount are decimal currency
// units with at most two decimals ("12.5", "-3.99"); quantity is a positive integer. Fields
// may be double-quoted. Keeps at most max_errors errors (and counts the rest in the last one).
LoadResult parse_transactions_csv(std::istream& input, std::size_t max_errors = 100);

// Writes the history in the format parse_transactions_csv reads (all columns).
void write_transactions_csv(const PurchaseHistory& history, std::ostream& output);

// ISO "YYYY-MM-DD" <-> day number, on top of loyalty/clock.hpp's calendar.
std::optional<DayNumber> parse_day(std::string_view iso_date);
std::string format_day(DayNumber day);

// "12.34" from 1234; "-0.05" from -5. Exact: no floating point.
std::string format_cents(std::int64_t cents);

// Parses a decimal currency amount into cents; false if not a number with <= 2 decimals.
bool parse_cents(std::string_view text, std::int64_t& cents) noexcept;

}  // namespace loyalty::analytics
