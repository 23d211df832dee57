// Card numbers and phone numbers as a till receives them: typed or scanned, with spaces and
// dashes. Normalising them once here keeps lookups and the uniqueness checks consistent.
#pragma once

#include <string>
#include <string_view>

#include "loyalty/result.hpp"

namespace loyalty {

// True if the digit string passes the Luhn (mod 10) check.
bool luhn_valid(std::string_view digits);
// The check digit that makes `payload` + digit Luhn-valid (for issuing new cards).
char luhn_check_digit(std::string_view payload);

// Strips spaces and dashes; refuses anything but 8..19 digits with a valid check digit, so a
// mistyped card is refused at the till instead of creating a stranger.
Result<std::string> normalise_card(std::string_view raw, const std::string& field = "card");

// Strips spaces, dashes, dots and parentheses; "00" becomes "+"; 7..15 digits remain.
// Numbers without a country prefix stay in national form: the chain's tills share a country.
Result<std::string> normalise_phone(std::string_view raw, const std::string& field = "phone");

}  // namespace loyalty
