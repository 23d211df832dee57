// Keyed hashes of personal identifiers (issue 11, minimisation on tills). A till must find a
// member by phone number but never needs the number itself: it keeps HMAC-SHA-256 of the
// number under a secret key held in a file of its own, outside the database, so a copied
// database does not give the numbers back by trying every possible number. The cashier sees a
// masked form to confirm with the member. Head office keeps the full numbers (export, erasure).
#pragma once

#include <string>
#include <string_view>

namespace loyalty {

// The secret in `path` (64 hex digits), made from the system's random source and written with
// mode 0600 if the file does not exist. Throws std::runtime_error naming the file when it cannot
// be read or written, or does not hold a key.
std::string load_or_create_identifier_key(const std::string& path);

// "hmac-sha256:" and 64 hex digits: `value` keyed with `key` (the bytes of the secret).
std::string keyed_identifier(std::string_view key, std::string_view value);
bool is_keyed_identifier(std::string_view stored);

// A normalised phone number with every digit but the last four hidden: "+********0123".
std::string masked_phone(std::string_view phone);

}  // namespace loyalty
