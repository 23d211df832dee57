#include "loyalty/tls.hpp"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <memory>
#include <stdexcept>
#include <vector>

namespace loyalty::tls {
namespace {

using Kind = ConnectionError::Kind;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto with_error_code = asio::as_tuple(asio::use_awaitable);

std::string milliseconds(Timeout timeout) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
           " ms";
}

// Runs `operation` until it finishes or `deadline` passes, whichever is first; on the deadline
// the operation is cancelled and nullopt returned. Cancelling a TLS operation half way leaves
// the stream unusable, which is why a timed-out FramedConnection must be dropped.
template <class T>
asio::awaitable<std::optional<T>> within(Clock::time_point deadline, asio::awaitable<T> operation) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    auto first = co_await (std::move(operation) || timer.async_wait(with_error_code));
    if (first.index() == 1) co_return std::nullopt;
    co_return std::get<0>(std::move(first));
}

// --- contexts ---

template <class Load>
void load(std::string_view what, const std::filesystem::path& path, Load load_file) {
    if (!std::filesystem::is_regular_file(path)) {
        throw std::runtime_error("cannot load " + std::string(what) + ": no file at " +
                                 path.string());
    }
    try {
        load_file();
    } catch (const boost::system::system_error& error) {
        throw std::runtime_error("cannot load " + std::string(what) + " from " + path.string() +
                                 ": " + error.code().message());
    }
}

void configure_common(asio::ssl::context& context, const std::filesystem::path& ca_file,
                      const std::filesystem::path& certificate_file,
                      const std::filesystem::path& private_key_file, TlsVersion min_version) {
    SSL_CTX* native = context.native_handle();
    context.set_options(asio::ssl::context::default_workarounds |
                        asio::ssl::context::no_compression);
    // The maximum stays at the library's newest (TLS 1.3), which OpenSSL then prefers.
    SSL_CTX_set_min_proto_version(
        native, min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    // The chain's CA is loaded and set_default_verify_paths() is never called: a certificate
    // from any public CA must not open the sync port.
    load("the chain CA", ca_file, [&] { context.load_verify_file(ca_file.string()); });
    load("the certificate", certificate_file,
         [&] { context.use_certificate_chain_file(certificate_file.string()); });
    load("the private key", private_key_file,
         [&] { context.use_private_key_file(private_key_file.string(), asio::ssl::context::pem); });
}

PublicKeyDigest public_key_digest(X509* certificate) {
    PublicKeyDigest digest{};
    unsigned char* der = nullptr;
    const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &der);
    if (length > 0) EVP_Digest(der, length, digest.data(), nullptr, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    return digest;
}

// Chain and host name are checked by OpenSSL first; the pin is one more condition on head
// office's own certificate (depth 0), so a pinned key with a bad chain is still refused.
bool check_pins(const std::vector<PublicKeyDigest>& pins, bool preverified,
                asio::ssl::verify_context& context) {
    X509_STORE_CTX* store = context.native_handle();
    if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0) return preverified;
    const PublicKeyDigest presented = public_key_digest(X509_STORE_CTX_get_current_cert(store));
    if (std::find(pins.begin(), pins.end(), presented) != pins.end()) return true;
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return false;
}

std::vector<PublicKeyDigest> parse_pins(const std::vector<std::string>& texts) {
    std::vector<PublicKeyDigest> pins;
    for (const std::string& text : texts) {
        const std::optional<PublicKeyDigest> pin = parse_public_key_pin(text);
        if (!pin) {
            throw std::runtime_error("pinned public key \"" + text +
                                     "\" is neither 64 hex digits nor 44 base64 characters of "
                                     "a SHA-256");
        }
        pins.push_back(*pin);
    }
    return pins;
}

bool valid_till_part(std::string_view part) {
    return !part.empty() && part.size() <= 32 && std::all_of(part.begin(), part.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

// --- connection errors ---

// The certificate check that failed, if any, says far more than the SSL error alone.
ConnectionError handshake_failure(Stream& stream, const error_code& error) {
    std::string message = "TLS handshake failed: " + error.message();
    const long verify_result = SSL_get_verify_result(stream.native_handle());
    if (verify_result == X509_V_ERR_APPLICATION_VERIFICATION) {
        message += ": the server's public key matches none of the pinned SHA-256s";
    } else if (verify_result != X509_V_OK) {
        message +=
            std::string(": peer certificate: ") + X509_verify_cert_error_string(verify_result);
    }
    return {Kind::refused, std::move(message)};
}

// The peer certificate's notAfter as Unix seconds; 0 if it cannot be read.
std::int64_t certificate_not_after(Stream& stream) {
    const X509* certificate = SSL_get0_peer_certificate(stream.native_handle());
    std::tm expiry{};
    if (certificate == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &expiry) != 1) return 0;
    return static_cast<std::int64_t>(timegm(&expiry));
}

std::variant<std::string, ConnectionError> till_id_of(Stream& stream) {
    X509* certificate = SSL_get0_peer_certificate(stream.native_handle());
    if (certificate == nullptr) return ConnectionError{Kind::refused, "no client certificate"};
    const std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)> names(
        static_cast<GENERAL_NAMES*>(
            X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)),
        &GENERAL_NAMES_free);
    std::vector<std::string> till_ids;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type != GEN_URI) continue;
        const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
        const std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                    static_cast<std::size_t>(ASN1_STRING_length(uri)));
        if (auto till_id = till_id_from_uri(text)) till_ids.push_back(std::move(*till_id));
    }
    if (till_ids.size() == 1) return std::move(till_ids.front());
    return ConnectionError{Kind::refused,
                           till_ids.empty()
                               ? "client certificate has no SAN URI urn:loyalty:till:STORE-TILL"
                               : "client certificate names more than one till"};
}

// Tells the handshake which name head office's certificate must carry.
bool expect_server_name(Stream& stream, const std::string& host) {
    SSL* ssl = stream.native_handle();
    error_code not_an_address;
    asio::ip::make_address(host, not_an_address);
    if (!not_an_address) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, host.c_str()) == 1 &&
           SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

}  // namespace

std::optional<TlsVersion> parse_tls_version(std::string_view text) {
    if (text == "1.2") return TlsVersion::tls1_2;
    if (text == "1.3") return TlsVersion::tls1_3;
    return std::nullopt;
}

asio::ssl::context make_server_context(const ServerSettings& settings) {
    asio::ssl::context context(asio::ssl::context::tls_server);
    configure_common(context, settings.ca_file, settings.certificate_file,
                     settings.private_key_file, settings.min_version);
    context.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    // Connections are long-lived, and resuming a session would skip the client certificate
    // checks (expiry included) that a full handshake repeats.
    SSL_CTX_set_session_cache_mode(context.native_handle(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(context.native_handle(), 0);
    // Names the chain CA in the certificate request, so a till picks the right certificate.
    SSL_CTX_set_client_CA_list(context.native_handle(),
                               SSL_load_client_CA_file(settings.ca_file.c_str()));
    return context;
}

asio::ssl::context make_client_context(const ClientSettings& settings) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    configure_common(context, settings.ca_file, settings.certificate_file,
                     settings.private_key_file, settings.min_version);
    context.set_verify_mode(asio::ssl::verify_peer);
    if (!settings.pinned_public_keys.empty()) {
        context.set_verify_callback([pins = parse_pins(settings.pinned_public_keys)](
                                        bool preverified, asio::ssl::verify_context& ctx) {
            return check_pins(pins, preverified, ctx);
        });
    }
    return context;
}

std::optional<PublicKeyDigest> parse_public_key_pin(std::string_view text) {
    std::string hex;
    std::copy_if(text.begin(), text.end(), std::back_inserter(hex),
                 [](char c) { return c != ':'; });
    PublicKeyDigest digest{};
    const bool is_hex =
        hex.size() == 2 * digest.size() && std::all_of(hex.begin(), hex.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c));
        });
    if (is_hex) {
        for (std::size_t i = 0; i < digest.size(); ++i) {
            digest[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
        }
        return digest;
    }
    // 32 bytes are 44 base64 characters ending in exactly one '='; EVP_DecodeBlock counts the
    // padding as a decoded zero byte.
    if (text.size() != 44 || text[43] != '=' || text[42] == '=') return std::nullopt;
    std::array<unsigned char, 33> decoded{};
    if (EVP_DecodeBlock(decoded.data(), reinterpret_cast<const unsigned char*>(text.data()), 44) !=
        33) {
        return std::nullopt;
    }
    std::copy_n(decoded.begin(), digest.size(), digest.begin());
    return digest;
}

std::optional<std::string> till_id_from_uri(std::string_view uri) {
    constexpr std::string_view prefix = "urn:loyalty:till:";
    if (!uri.starts_with(prefix)) return std::nullopt;
    const std::string_view till_id = uri.substr(prefix.size());
    const std::size_t dash = till_id.find('-');
    if (dash == std::string_view::npos || !valid_till_part(till_id.substr(0, dash)) ||
        !valid_till_part(till_id.substr(dash + 1))) {
        return std::nullopt;
    }
    return std::string(till_id);
}

std::string_view name_of(ConnectionError::Kind kind) {
    switch (kind) {
        case Kind::timeout:
            return "timeout";
        case Kind::closed:
            return "closed";
        case Kind::refused:
            return "refused";
        case Kind::network:
            return "network";
        case Kind::protocol:
            return "protocol";
    }
    return "unknown";
}

// --- FramedConnection ---

FramedConnection::FramedConnection(Stream stream, std::uint32_t max_frame_size)
    : stream_(std::move(stream)), decoder_(max_frame_size) {}

asio::awaitable<std::variant<protocol::Message, ConnectionError>> FramedConnection::read(
    Timeout timeout) {
    auto received = co_await read_frame(timeout);
    if (auto* failure = std::get_if<ConnectionError>(&received)) co_return std::move(*failure);
    co_return decode(std::get<protocol::Frame>(received));
}

std::variant<protocol::Message, ConnectionError> FramedConnection::decode(const protocol::Frame& frame) {
    auto decoded = protocol::decode(frame);
    if (auto* error = std::get_if<protocol::DecodeError>(&decoded)) return protocol_failure(*error);
    return std::get<protocol::Message>(std::move(decoded));
}

asio::awaitable<std::variant<protocol::Frame, ConnectionError>> FramedConnection::read_frame(
    Timeout timeout) {
    // One deadline for the whole message, so a peer trickling bytes cannot hold it open.
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto frame = decoder_.next_frame()) co_return std::move(*frame);
        if (const auto& error = decoder_.error()) co_return protocol_failure(*error);
        auto received = co_await within(
            deadline, stream_.async_read_some(asio::buffer(read_buffer_), with_error_code));
        if (!received) {
            co_return ConnectionError{Kind::timeout,
                                      "no complete message within " + milliseconds(timeout)};
        }
        const auto [error, size] = *received;
        if (error) co_return read_failure(error);
        decoder_.feed({read_buffer_.data(), size});
    }
}

ConnectionError FramedConnection::protocol_failure(const protocol::DecodeError& error) {
    return {Kind::protocol, "peer sent an invalid frame (" +
                                std::string(protocol::name_of(error.code)) + "): " + error.message};
}

ConnectionError FramedConnection::read_failure(const error_code& error) {
    // stream_truncated means the peer closed TCP without TLS close_notify. Frames carry their
    // own length, so a cut inside a frame is still caught below; between frames it is a close.
    if (error == asio::error::eof || error == asio::ssl::error::stream_truncated) {
        decoder_.finish();
        if (const auto& decode_error = decoder_.error()) return protocol_failure(*decode_error);
        return {Kind::closed, "peer closed the connection"};
    }
    // After the handshake a TLS error is the peer's alert: with TLS 1.3 this is where a
    // server's refusal of our certificate arrives.
    if (error.category() == asio::error::get_ssl_category()) {
        return {Kind::refused, "TLS: " + error.message()};
    }
    return {Kind::network, "read failed: " + error.message()};
}

asio::awaitable<std::optional<ConnectionError>> FramedConnection::write(
    const protocol::Message& message, Timeout timeout) {
    const protocol::Bytes frame = protocol::encode(message);
    co_return co_await write_frame(frame, protocol::type_of(message), timeout);
}

asio::awaitable<std::optional<ConnectionError>> FramedConnection::write_frame(
    const protocol::Bytes& frame, protocol::MessageType type, Timeout timeout) {
    auto written = co_await within(
        Clock::now() + timeout, asio::async_write(stream_, asio::buffer(frame), with_error_code));
    const std::string what(protocol::name_of(type));
    if (!written) {
        co_return ConnectionError{Kind::timeout,
                                  "writing " + what + " took over " + milliseconds(timeout)};
    }
    if (const error_code error = std::get<0>(*written)) {
        co_return ConnectionError{Kind::network, "writing " + what + " failed: " + error.message()};
    }
    co_return std::nullopt;
}

asio::awaitable<void> FramedConnection::close(Timeout timeout) {
    // The peer may be gone or never answer close_notify: the outcome changes nothing, the
    // socket is closed either way.
    co_await within(Clock::now() + timeout, stream_.async_shutdown(with_error_code));
    error_code ignored;
    stream_.lowest_layer().close(ignored);
}

// --- establishing connections ---

asio::awaitable<std::variant<FramedConnection, ConnectionError>> connect_to_server(
    asio::ssl::context& context, std::string host, std::uint16_t port, Timeout timeout,
    std::string server_name) {
    if (server_name.empty()) server_name = host;
    const auto executor = co_await asio::this_coro::executor;
    const auto deadline = Clock::now() + timeout;
    const std::string where = host + ":" + std::to_string(port);
    asio::ip::tcp::resolver resolver(executor);
    auto resolved = co_await within(
        deadline, resolver.async_resolve(host, std::to_string(port), with_error_code));
    if (!resolved) co_return ConnectionError{Kind::timeout, "resolving " + host + " timed out"};
    const auto& [resolve_error, endpoints] = *resolved;
    if (resolve_error) {
        co_return ConnectionError{Kind::network,
                                  "cannot resolve " + host + ": " + resolve_error.message()};
    }
    Stream stream(executor, context);
    auto connected = co_await within(
        deadline, asio::async_connect(stream.lowest_layer(), endpoints, with_error_code));
    if (!connected)
        co_return ConnectionError{Kind::timeout, "connecting to " + where + " timed out"};
    if (const error_code error = std::get<0>(*connected)) {
        co_return ConnectionError{Kind::network,
                                  "cannot connect to " + where + ": " + error.message()};
    }
    if (!expect_server_name(stream, server_name)) {
        co_return ConnectionError{Kind::refused, "cannot check server certificate against " + server_name};
    }
    auto shaken = co_await within(
        deadline, stream.async_handshake(asio::ssl::stream_base::client, with_error_code));
    if (!shaken) {
        co_return ConnectionError{Kind::timeout, "TLS handshake with " + where + " timed out"};
    }
    if (const error_code error = std::get<0>(*shaken)) {
        co_return handshake_failure(stream, error);
    }
    co_return FramedConnection(std::move(stream));
}

asio::awaitable<std::variant<AcceptedTill, ConnectionError>> accept_till(
    asio::ip::tcp::socket socket, asio::ssl::context& context, Timeout timeout) {
    Stream stream(std::move(socket), context);
    auto shaken =
        co_await within(Clock::now() + timeout,
                        stream.async_handshake(asio::ssl::stream_base::server, with_error_code));
    if (!shaken) {
        co_return ConnectionError{Kind::timeout,
                                  "TLS handshake did not finish within " + milliseconds(timeout)};
    }
    if (const error_code error = std::get<0>(*shaken)) {
        co_return handshake_failure(stream, error);
    }
    auto till_id = till_id_of(stream);
    if (auto* refusal = std::get_if<ConnectionError>(&till_id)) co_return std::move(*refusal);
    const std::int64_t not_after = certificate_not_after(stream);
    co_return AcceptedTill{FramedConnection(std::move(stream)), std::get<std::string>(till_id), not_after};
}

}  // namespace loyalty::tls
