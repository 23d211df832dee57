#include "loyalty/identifiers.hpp"

#include <cctype>

namespace loyalty {

namespace {

// Sum of the Luhn-weighted digits, counting the rightmost digit as position `first_position`.
int luhn_sum(std::string_view digits, int first_position) {
    int sum = 0;
    int position = first_position;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it, ++position) {
        int digit = *it - '0';
        if (position % 2 == 1) {
            digit *= 2;
            if (digit > 9) digit -= 9;
        }
        sum += digit;
    }
    return sum;
}

// Keeps digits (and a leading '+'), dropping the separators people type.
std::string strip_separators(std::string_view raw, std::string_view separators) {
    std::string kept;
    for (const char c : raw) {
        if (separators.find(c) == std::string_view::npos) kept.push_back(c);
    }
    return kept;
}

bool all_digits(std::string_view text) {
    for (const char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return !text.empty();
}

}  // namespace

bool luhn_valid(std::string_view digits) {
    return all_digits(digits) && luhn_sum(digits, 0) % 10 == 0;
}

char luhn_check_digit(std::string_view payload) {
    return static_cast<char>('0' + (10 - luhn_sum(payload, 1) % 10) % 10);
}

Result<std::string> normalise_card(std::string_view raw, const std::string& field) {
    const std::string digits = strip_separators(raw, " -");
    if (!all_digits(digits) || digits.size() < 8 || digits.size() > 19)
        return invalid(field, "a card number has 8 to 19 digits");
    if (!luhn_valid(digits))
        return Error{ErrorKind::invalid, "invalid_card", "card number " + digits +
                     " fails its check digit: re-enter or re-scan the card", field};
    return digits;
}

Result<std::string> normalise_phone(std::string_view raw, const std::string& field) {
    std::string phone = strip_separators(raw, " -.()");
    if (phone.rfind("00", 0) == 0) phone = "+" + phone.substr(2);
    const bool international = !phone.empty() && phone.front() == '+';
    const std::string_view digits = std::string_view(phone).substr(international ? 1 : 0);
    if (!all_digits(digits) || digits.size() < 7 || digits.size() > 15)
        return invalid(field, "a phone number has 7 to 15 digits, optionally after + or 00");
    return phone;
}

}  // namespace loyalty
