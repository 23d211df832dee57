// Mutual TLS between tills and head office, and a framed connection on top of it.
//
// Contexts: head office trusts only the chain's CA and requires a client certificate; a till
// trusts only the chain's CA, checks head office's host name and can pin its public key.
// Building a context reads files and throws std::runtime_error naming the file and the reason
// (a start-up error). Everything after start-up returns a ConnectionError value instead.
//
// A till's identity is its certificate's SAN URI urn:loyalty:till:STORE-TILL, where STORE and
// TILL are 1-32 letters, digits or '_' (so the id splits one way only).
//
// FramedConnection is not thread-safe: use it from one coroutine (one strand) at a time, with
// at most one read and one write outstanding. After any error it is unusable; drop it.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loyalty/protocol.hpp"

namespace loyalty::tls {

namespace asio = boost::asio;
using Stream = asio::ssl::stream<asio::ip::tcp::socket>;
using Timeout = std::chrono::steady_clock::duration;

enum class TlsVersion { tls1_2, tls1_3 };

// "1.2" or "1.3", as written in configuration files.
std::optional<TlsVersion> parse_tls_version(std::string_view text);

struct ServerSettings {
    std::filesystem::path ca_file;           // the chain's CA: the only trust anchor
    std::filesystem::path certificate_file;  // head office's certificate (PEM)
    std::filesystem::path private_key_file;  // its key (PEM)
    TlsVersion min_version = TlsVersion::tls1_2;
};

struct ClientSettings {
    std::filesystem::path ca_file;           // the chain's CA: the only trust anchor
    std::filesystem::path certificate_file;  // this till's certificate (PEM)
    std::filesystem::path private_key_file;  // its key (PEM)
    // SHA-256s of head office's SubjectPublicKeyInfo, base64 or hex; empty for no pinning.
    // The key must match one of them: list the next key too before rotating head office's.
    std::vector<std::string> pinned_public_keys;
    TlsVersion min_version = TlsVersion::tls1_2;
};

asio::ssl::context make_server_context(const ServerSettings& settings);
asio::ssl::context make_client_context(const ClientSettings& settings);

using PublicKeyDigest = std::array<std::uint8_t, 32>;

// A pin as written in configuration: 64 hex digits (':' separators allowed) or 44 base64
// characters. nullopt if it is neither.
std::optional<PublicKeyDigest> parse_public_key_pin(std::string_view text);

// "STORE-TILL" from "urn:loyalty:till:STORE-TILL"; nullopt for any other URI.
std::optional<std::string> till_id_from_uri(std::string_view uri);

struct ConnectionError {
    enum class Kind {
        timeout,   // the deadline passed first
        closed,    // the peer closed the connection between frames
        refused,   // TLS handshake or identity refused (certificate, version, host name, pin)
        network,   // resolve, connect, read or write failed
        protocol,  // the peer sent bytes that are not valid frames (see protocol::DecodeErrc)
    };
    Kind kind;
    std::string message;  // what went wrong, naming the certificate problem where there is one
};

std::string_view name_of(ConnectionError::Kind kind);

class FramedConnection {
  public:
    explicit FramedConnection(Stream stream,
                              std::uint32_t max_frame_size = protocol::default_max_frame_size);

    // One whole message within the timeout, however slowly its bytes arrive.
    asio::awaitable<std::variant<protocol::Message, ConnectionError>> read(Timeout timeout);
    // The same, with the body left unparsed until the caller decodes it (when it has room).
    asio::awaitable<std::variant<protocol::Frame, ConnectionError>> read_frame(Timeout timeout);
    // A frame from read_frame() as its message; a body that does not decode is a protocol
    // error, final like any other.
    static std::variant<protocol::Message, ConnectionError> decode(const protocol::Frame& frame);
    asio::awaitable<std::optional<ConnectionError>> write(const protocol::Message& message,
                                                          Timeout timeout);
    // A frame protocol::encode() made of a message of type `type`, for a caller that needed
    // the frame before sending it (its size).
    asio::awaitable<std::optional<ConnectionError>> write_frame(const protocol::Bytes& frame,
                                                                protocol::MessageType type, Timeout timeout);
    // TLS close_notify, then the socket is closed; never fails (the connection is done anyway).
    asio::awaitable<void> close(Timeout timeout);

    Stream& stream() { return stream_; }

  private:
    static ConnectionError protocol_failure(const protocol::DecodeError& error);
    ConnectionError read_failure(const boost::system::error_code& error);

    Stream stream_;
    protocol::Decoder decoder_;
    std::array<std::uint8_t, 16 * 1024> read_buffer_{};
};

// Till side: resolve host, connect, and complete the TLS handshake, verifying that head
// office's certificate names `server_name` (DNS name or IP address; empty: `host`) and matches
// the pin, if any. A separate name lets a till connect by address to a certificate that names
// head office by its DNS name.
asio::awaitable<std::variant<FramedConnection, ConnectionError>> connect_to_server(
    asio::ssl::context& context, std::string host, std::uint16_t port, Timeout timeout,
    std::string server_name = {});

struct AcceptedTill {
    FramedConnection connection;
    std::string till_id;  // from the verified client certificate
    std::int64_t certificate_not_after = 0;  // its expiry, Unix seconds (head office shows it)
};

// Head-office side: TLS handshake on an accepted socket, then the till id from the client
// certificate. Whether that till is enrolled and not revoked is the caller's registry check.
asio::awaitable<std::variant<AcceptedTill, ConnectionError>> accept_till(
    asio::ip::tcp::socket socket, asio::ssl::context& context, Timeout timeout);

}  // namespace loyalty::tls
