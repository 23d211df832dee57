// Keyed hashes of personal identifiers (identifier_key.hpp).
#include "loyalty/identifier_key.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "loyalty/durable_file.hpp"

namespace loyalty {

namespace {

constexpr std::string_view keyed_prefix = "hmac-sha256:";
constexpr std::size_t key_bytes = 32;

std::string hex(const unsigned char* bytes, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 0x0f]);
    }
    return out;
}

std::string unhex(std::string_view text) {
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string bytes;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
        const int high = nibble(text[i]);
        const int low = nibble(text[i + 1]);
        if (high < 0 || low < 0) return {};
        bytes.push_back(static_cast<char>(high << 4 | low));
    }
    return bytes;
}

// The key is written under a temporary name, flushed, renamed into place and the directory
// flushed: the hashes the database commits durably from the first enrolment on are useless
// without it, and a crash must never leave a half-written key (the till would not start).
// Created with mode 0600 by open(), so it is never readable by others, not even briefly, and no
// process-wide umask is touched while other threads may create files.
std::string create_key_file(const std::string& path) {
    std::array<unsigned char, key_bytes> key{};
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
        throw std::runtime_error("identifier key " + path + ": no random bytes from the system");
    const std::string text = hex(key.data(), key.size()) + "\n";
    const std::string temporary = path + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd < 0 || ::close(fd) != 0 || !written)
        throw std::runtime_error("identifier key " + path + ": cannot be written");
    flush_file(temporary);
    rename_durably(temporary, path);
    return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

}  // namespace

std::string load_or_create_identifier_key(const std::string& path) {
    if (!std::filesystem::exists(path)) return create_key_file(path);
    std::ifstream file(path);
    if (!file) throw std::runtime_error("identifier key " + path + ": cannot be read");
    std::string text;
    file >> text;
    const std::string key = unhex(text);
    if (text.size() != key_bytes * 2 || key.size() != key_bytes)
        throw std::runtime_error("identifier key " + path + ": expected 64 hex digits (a 32-byte key)");
    return key;
}

std::string keyed_identifier(std::string_view key, std::string_view value) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(value.data()), value.size(), digest.data(), &size);
    return std::string(keyed_prefix) + hex(digest.data(), size);
}

bool is_keyed_identifier(std::string_view stored) { return stored.rfind(keyed_prefix, 0) == 0; }

std::string masked_phone(std::string_view phone) {
    std::string masked(phone);
    std::size_t shown = 0;
    for (auto it = masked.rbegin(); it != masked.rend(); ++it) {
        if (*it < '0' || *it > '9') continue;
        if (shown < 4) ++shown;
        else *it = '*';
    }
    return masked;
}

}  // namespace loyalty
