#include "loyalty/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "support/certificates.hpp"
#include "support/temp_dir.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace protocol = loyalty::protocol;
namespace tls = loyalty::tls;
namespace test = loyalty::test;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// The chain's certificates, made once per test program by the project's own tool, so the
// tests also prove that what loyalty-certs produces is what the TLS code accepts.
class Certificates {
  public:
    static const Certificates& get() {
        static const Certificates certificates;
        return certificates;
    }

    fs::path chain() const { return root_.path() / "chain"; }
    fs::path other_chain() const { return root_.path() / "other-chain"; }
    fs::path till(const std::string& till_id) const { return chain() / "tills" / till_id; }
    fs::path self_signed() const { return root_.path() / "self-signed"; }
    const std::string& server_pin() const { return server_pin_; }

    Certificates(const Certificates&) = delete;
    Certificates& operator=(const Certificates&) = delete;

  private:
    Certificates() {
        fs::create_directories(self_signed());
        test::make_chain(chain(), "localhost");
        test::issue_till_certificate(chain(), "0042", "03");
        test::certs_tool("--expired till " + chain().string() + " 0042 09");
        test::make_chain(other_chain(), "localhost");
        test::issue_till_certificate(other_chain(), "0042", "03");
        server_pin_ = test::certs_tool("pin " + (chain() / "hq" / "server.crt").string());
        server_pin_.erase(server_pin_.find_last_not_of('\n') + 1);
        // A till certificate that signs itself: right name, right usage, no chain.
        test::run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
            " -subj /CN=0042-05 -addext subjectAltName=URI:urn:loyalty:till:0042-05"
            " -addext extendedKeyUsage=clientAuth -keyout " +
            (self_signed() / "till.key").string() + " -out " +
            (self_signed() / "till.crt").string());
        // And a head office that signs itself: right name and usage, no chain.
        test::run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30"
            " -subj /CN=localhost -addext subjectAltName=DNS:localhost"
            " -addext extendedKeyUsage=serverAuth -keyout " +
            (self_signed() / "server.key").string() + " -out " +
            (self_signed() / "server.crt").string());
    }

    test::TempDir root_;
    std::string server_pin_;
};

tls::ServerSettings server_settings() {
    const fs::path hq = Certificates::get().chain() / "hq";
    return {hq / "ca.crt", hq / "server.crt", hq / "server.key"};
}

// A till that trusts the real chain CA and presents the certificate in `bundle`.
tls::ClientSettings till_settings(const fs::path& bundle, std::vector<std::string> pins = {}) {
    return {Certificates::get().chain() / "ca.crt", bundle / "till.crt", bundle / "till.key",
            std::move(pins)};
}

// A till context built by hand, for what make_client_context never builds.
asio::ssl::context hand_made_client(bool with_certificate, int max_version) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.load_verify_file((Certificates::get().chain() / "ca.crt").string());
    context.set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context.native_handle(), max_version);
    // Security level 0 lets this client really offer TLS 1.1 instead of refusing locally.
    SSL_CTX_set_cipher_list(context.native_handle(), "DEFAULT:@SECLEVEL=0");
    if (with_certificate) {
        const fs::path bundle = Certificates::get().till("0042-03");
        context.use_certificate_chain_file((bundle / "till.crt").string());
        context.use_private_key_file((bundle / "till.key").string(), asio::ssl::context::pem);
    }
    return context;
}

struct ServerSide {
    bool done = false;
    std::optional<std::string> till_id;
    std::string tls_version;
    std::optional<protocol::Message> received;
    std::optional<tls::ConnectionError> error;
};

struct ClientSide {
    bool done = false;
    std::optional<protocol::Message> reply;
    std::optional<tls::ConnectionError> error;
};

const protocol::Message hello = protocol::Hello{"0042-03", protocol::protocol_version, "test", 0, std::nullopt};
const protocol::Message ack = protocol::Ack{1};

// Head office for one connection: accept, read one message, answer Ack.
asio::awaitable<void> serve_one(tcp::acceptor& acceptor, asio::ssl::context& context,
                                ServerSide& side, tls::Timeout read_timeout) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    auto accepted = co_await tls::accept_till(std::move(socket), context, 5s);
    if (auto* error = std::get_if<tls::ConnectionError>(&accepted)) {
        side.error = *error;
    } else {
        auto& till = std::get<tls::AcceptedTill>(accepted);
        side.till_id = till.till_id;
        side.tls_version = SSL_get_version(till.connection.stream().native_handle());
        auto message = co_await till.connection.read(read_timeout);
        if (auto* read_error = std::get_if<tls::ConnectionError>(&message)) {
            side.error = *read_error;
        } else {
            side.received = std::get<protocol::Message>(message);
            side.error = co_await till.connection.write(ack, 5s);
        }
        co_await till.connection.close(2s);
    }
    side.done = true;
}

// A till for one connection: connect, then `act` on the connection.
template <class Act>
asio::awaitable<void> till_session(asio::ssl::context& context, std::string host,
                                   std::uint16_t port, ClientSide& side, Act act) {
    auto connected = co_await tls::connect_to_server(context, host, port, 5s);
    if (auto* error = std::get_if<tls::ConnectionError>(&connected)) {
        side.error = *error;
    } else {
        co_await act(std::get<tls::FramedConnection>(connected), side);
    }
    side.done = true;
}

// The till's half of a full round trip: Hello out, one message back.
asio::awaitable<void> say_hello(tls::FramedConnection& connection, ClientSide& side) {
    if ((side.error = co_await connection.write(hello, 5s))) co_return;
    auto reply = co_await connection.read(5s);
    if (auto* error = std::get_if<tls::ConnectionError>(&reply)) {
        side.error = *error;
    } else {
        side.reply = std::get<protocol::Message>(reply);
    }
    co_await connection.close(2s);
}

struct Outcome {
    ServerSide server;
    ClientSide client;
};

void rethrow(std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
}

// Runs head office and one till on 127.0.0.1 until both are done, 20 s at most.
template <class Act = decltype(&say_hello)>
Outcome exchange(asio::ssl::context& till_context, std::string host = "localhost",
                 tls::ServerSettings settings = server_settings(), Act act = &say_hello,
                 tls::Timeout server_read_timeout = 5s) {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    asio::ssl::context server_context = tls::make_server_context(settings);
    Outcome outcome;
    asio::co_spawn(io, serve_one(acceptor, server_context, outcome.server, server_read_timeout),
                   rethrow);
    asio::co_spawn(
        io, till_session(till_context, host, acceptor.local_endpoint().port(), outcome.client, act),
        rethrow);
    io.run_for(20s);
    REQUIRE(outcome.server.done);
    REQUIRE(outcome.client.done);
    return outcome;
}

Outcome exchange_as(const tls::ClientSettings& settings, std::string host = "localhost") {
    asio::ssl::context context = tls::make_client_context(settings);
    return exchange(context, std::move(host));
}

void require_success(const Outcome& outcome) {
    INFO("server: " << (outcome.server.error ? outcome.server.error->message : "ok"));
    INFO("client: " << (outcome.client.error ? outcome.client.error->message : "ok"));
    CHECK(outcome.server.till_id == "0042-03");
    CHECK(outcome.server.received == hello);
    CHECK(outcome.client.reply == ack);
    CHECK_FALSE(outcome.server.error);
    CHECK_FALSE(outcome.client.error);
}

// Refused means: head office learnt no till and got no message, the till got no answer.
void require_refused(const Outcome& outcome) {
    CHECK_FALSE(outcome.server.till_id);
    CHECK_FALSE(outcome.server.received);
    CHECK_FALSE(outcome.client.reply);
    REQUIRE(outcome.server.error);
    REQUIRE(outcome.client.error);
    CHECK(outcome.client.error->kind == tls::ConnectionError::Kind::refused);
}

std::string server_message(const Outcome& outcome) {
    return outcome.server.error ? outcome.server.error->message : "";
}

std::string client_message(const Outcome& outcome) {
    return outcome.client.error ? outcome.client.error->message : "";
}

}  // namespace

TEST_CASE("a till with a certificate from the chain connects and head office learns its id") {
    const Outcome outcome = exchange_as(till_settings(Certificates::get().till("0042-03")));
    require_success(outcome);
    CHECK(outcome.server.tls_version == "TLSv1.3");
}

TEST_CASE("a till pinning head office's key connects with the pin in base64 or hex, or in a list") {
    const std::string base64 = Certificates::get().server_pin();
    const auto digest = tls::parse_public_key_pin(base64);
    REQUIRE(digest);
    std::string hex;
    for (std::uint8_t byte : *digest) {
        constexpr char digits[] = "0123456789ABCDEF";
        hex += std::string{digits[byte >> 4], digits[byte & 15], ':'};
    }
    hex.pop_back();
    const std::string other_key(64, 'a');
    for (const std::vector<std::string>& pins :
         std::vector<std::vector<std::string>>{{base64}, {hex}, {other_key, base64}}) {
        INFO(pins.front());
        require_success(exchange_as(till_settings(Certificates::get().till("0042-03"), pins)));
    }
}

TEST_CASE("a till certificate from another CA is refused") {
    const Outcome outcome =
        exchange_as(till_settings(Certificates::get().other_chain() / "tills" / "0042-03"));
    require_refused(outcome);
    CHECK_THAT(server_message(outcome), Catch::Contains("unable to get local issuer certificate"));
}

TEST_CASE("a self-signed till certificate is refused") {
    const Outcome outcome = exchange_as(till_settings(Certificates::get().self_signed()));
    require_refused(outcome);
    CHECK_THAT(server_message(outcome), Catch::Contains("self-signed certificate"));
}

TEST_CASE("a till without a certificate is refused, seen from a full round trip") {
    asio::ssl::context context = hand_made_client(false, TLS1_3_VERSION);
    const Outcome outcome = exchange(context);
    require_refused(outcome);
    CHECK_THAT(server_message(outcome), Catch::Contains("peer did not return a certificate"));
    CHECK_THAT(client_message(outcome), Catch::Contains("certificate required"));
}

TEST_CASE("an expired till certificate is refused") {
    const Outcome outcome = exchange_as(till_settings(Certificates::get().till("0042-09")));
    require_refused(outcome);
    CHECK_THAT(server_message(outcome), Catch::Contains("certificate has expired"));
}

TEST_CASE("a till refuses head office under a host name its certificate does not carry") {
    // The server certificate names localhost only, not the address 127.0.0.1.
    const Outcome outcome =
        exchange_as(till_settings(Certificates::get().till("0042-03")), "127.0.0.1");
    CHECK_FALSE(outcome.server.till_id);
    REQUIRE(outcome.client.error);
    CHECK(outcome.client.error->kind == tls::ConnectionError::Kind::refused);
    CHECK_THAT(client_message(outcome), Catch::Contains("IP address mismatch"));
}

TEST_CASE("a till refuses head office whose key matches none of the pins") {
    const Outcome outcome = exchange_as(till_settings(
        Certificates::get().till("0042-03"), {std::string(64, 'a'), std::string(64, 'b')}));
    CHECK_FALSE(outcome.server.till_id);
    REQUIRE(outcome.client.error);
    CHECK(outcome.client.error->kind == tls::ConnectionError::Kind::refused);
    CHECK_THAT(client_message(outcome), Catch::Contains("none of the pinned SHA-256s"));
}

// Head office with the real chain's CA for tills, but a server certificate from `bundle`.
Outcome exchange_with_server(const fs::path& bundle) {
    tls::ServerSettings settings = server_settings();
    settings.certificate_file = bundle / "server.crt";
    settings.private_key_file = bundle / "server.key";
    asio::ssl::context context = tls::make_client_context(till_settings(Certificates::get().till("0042-03")));
    return exchange(context, "localhost", settings);
}

TEST_CASE("a till refuses head office whose certificate another CA signed, or that signs itself") {
    for (const fs::path& bundle : {Certificates::get().other_chain() / "hq", Certificates::get().self_signed()}) {
        INFO(bundle);
        const Outcome outcome = exchange_with_server(bundle);
        CHECK_FALSE(outcome.server.till_id);
        CHECK_FALSE(outcome.server.received);
        REQUIRE(outcome.client.error);
        CHECK(outcome.client.error->kind == tls::ConnectionError::Kind::refused);
        CHECK_THAT(client_message(outcome), Catch::Contains("certificate verify failed"));
    }
}

TEST_CASE("loyalty-certs leaves every private key readable by its owner only") {
    const Certificates& certificates = Certificates::get();
    for (const fs::path& key : {certificates.chain() / "ca.key", certificates.chain() / "hq" / "server.key",
                                certificates.till("0042-03") / "till.key"}) {
        INFO(key);
        REQUIRE(fs::exists(key));
        const fs::perms others = fs::perms::group_all | fs::perms::others_all;
        CHECK((fs::status(key).permissions() & others) == fs::perms::none);
    }
}

TEST_CASE("a till offering only TLS 1.1 is refused by head office") {
    asio::ssl::context context = hand_made_client(true, TLS1_1_VERSION);
    const Outcome outcome = exchange(context);
    CHECK_FALSE(outcome.server.till_id);
    CHECK_FALSE(outcome.client.reply);
    CHECK_THAT(server_message(outcome), Catch::Contains("unsupported protocol"));
}

TEST_CASE("head office set to TLS 1.3 minimum refuses a TLS 1.2 till") {
    asio::ssl::context context = hand_made_client(true, TLS1_2_VERSION);
    tls::ServerSettings settings = server_settings();
    settings.min_version = tls::TlsVersion::tls1_3;
    const Outcome outcome = exchange(context, "localhost", settings);
    CHECK_FALSE(outcome.server.till_id);
    CHECK_THAT(server_message(outcome), Catch::Contains("unsupported protocol"));
}

TEST_CASE("plaintext sent to the TLS port is refused") {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    asio::ssl::context server_context = tls::make_server_context(server_settings());
    ServerSide server;
    std::size_t bytes_back = 0;
    asio::co_spawn(io, serve_one(acceptor, server_context, server, 5s), rethrow);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            tcp::socket socket(io);
            co_await socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
            co_await asio::async_write(socket, asio::buffer(protocol::encode(hello)),
                                       asio::use_awaitable);
            // Head office answers at most an alert, then closes: read until end of stream.
            std::string answer;
            auto [error, size] = co_await asio::async_read(socket, asio::dynamic_buffer(answer),
                                                           asio::as_tuple(asio::use_awaitable));
            bytes_back = size;
        },
        rethrow);
    io.run_for(20s);
    REQUIRE(server.done);
    CHECK_FALSE(server.till_id);
    CHECK_THAT(server.error ? server.error->message : "", Catch::Contains("TLS handshake failed"));
    CHECK(bytes_back < 64);
}

namespace {

// A till that sends `bytes` and then either closes or keeps quiet for a second.
auto send_raw(protocol::Bytes bytes, bool then_close) {
    return [bytes = std::move(bytes), then_close](tls::FramedConnection& connection,
                                                  ClientSide&) -> asio::awaitable<void> {
        co_await asio::async_write(connection.stream(), asio::buffer(bytes),
                                   asio::as_tuple(asio::use_awaitable));
        if (!then_close) {
            asio::steady_timer quiet(co_await asio::this_coro::executor, 1s);
            co_await quiet.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_await connection.close(2s);
    };
}

tls::ConnectionError server_read_error(protocol::Bytes bytes, bool then_close) {
    asio::ssl::context context =
        tls::make_client_context(till_settings(Certificates::get().till("0042-03")));
    const Outcome outcome = exchange(context, "localhost", server_settings(),
                                     send_raw(std::move(bytes), then_close), 300ms);
    CHECK(outcome.server.till_id == "0042-03");
    REQUIRE(outcome.server.error);
    return *outcome.server.error;
}

protocol::Bytes first_bytes_of_hello(std::size_t count) {
    protocol::Bytes frame = protocol::encode(hello);
    frame.resize(count);
    return frame;
}

}  // namespace

TEST_CASE("a read gives up at its deadline when a frame stops half way") {
    const tls::ConnectionError error = server_read_error(first_bytes_of_hello(10), false);
    CHECK(error.kind == tls::ConnectionError::Kind::timeout);
    CHECK_THAT(error.message, Catch::Contains("300 ms"));
}

TEST_CASE("a connection closed inside a frame is a truncated frame") {
    const tls::ConnectionError error = server_read_error(first_bytes_of_hello(10), true);
    CHECK(error.kind == tls::ConnectionError::Kind::protocol);
    CHECK_THAT(error.message, Catch::Contains("truncated"));
}

TEST_CASE("a connection closed between frames is a clean close") {
    CHECK(server_read_error({}, true).kind == tls::ConnectionError::Kind::closed);
}

TEST_CASE("an invalid frame over TLS is a protocol error") {
    const tls::ConnectionError error = server_read_error({0, 0, 0, 2, 9, 1}, false);
    CHECK(error.kind == tls::ConnectionError::Kind::protocol);
    CHECK_THAT(error.message, Catch::Contains("bad_version"));
}

TEST_CASE("till ids come only from well-formed till URIs") {
    CHECK(tls::till_id_from_uri("urn:loyalty:till:0042-03") == "0042-03");
    CHECK(tls::till_id_from_uri("urn:loyalty:till:STORE_9-T_1") == "STORE_9-T_1");
    for (const char* uri :
         {"urn:loyalty:till:", "urn:loyalty:till:0042", "urn:loyalty:till:0042-",
          "urn:loyalty:till:-03", "urn:loyalty:till:00-42-03", "urn:loyalty:till:00 42-03",
          "urn:loyalty:hq:0042-03", "https://example.com/urn:loyalty:till:0042-03"}) {
        INFO(uri);
        CHECK_FALSE(tls::till_id_from_uri(uri));
    }
    CHECK_FALSE(tls::till_id_from_uri("urn:loyalty:till:" + std::string(33, 'a') + "-1"));
}

TEST_CASE("pins parse from hex or base64 and nothing else") {
    const std::string hex(64, 'f');
    const auto from_hex = tls::parse_public_key_pin(hex);
    REQUIRE(from_hex);
    CHECK((*from_hex)[0] == 0xff);
    const auto from_base64 =
        tls::parse_public_key_pin("//////////////////////////////////////////8=");
    CHECK(from_base64 == from_hex);
    CHECK_FALSE(tls::parse_public_key_pin(std::string(63, 'f')));
    CHECK_FALSE(tls::parse_public_key_pin(std::string(64, 'g')));
    CHECK_FALSE(tls::parse_public_key_pin("//////////////////////////////////////////=="));
    CHECK_FALSE(tls::parse_public_key_pin("*/////////////////////////////////////////8="));
    CHECK_FALSE(tls::parse_public_key_pin(""));
}

TEST_CASE("TLS versions parse from configuration text") {
    CHECK(tls::parse_tls_version("1.2") == tls::TlsVersion::tls1_2);
    CHECK(tls::parse_tls_version("1.3") == tls::TlsVersion::tls1_3);
    CHECK_FALSE(tls::parse_tls_version("1.1"));
}

TEST_CASE("context set-up errors name the file and the problem") {
    tls::ServerSettings missing = server_settings();
    missing.certificate_file = "/nonexistent/server.crt";
    CHECK_THROWS_WITH(tls::make_server_context(missing),
                      Catch::Contains("/nonexistent/server.crt") && Catch::Contains("no file"));

    tls::ServerSettings mismatched = server_settings();
    mismatched.private_key_file = Certificates::get().till("0042-03") / "till.key";
    CHECK_THROWS_WITH(tls::make_server_context(mismatched),
                      Catch::Contains("till.key") && Catch::Contains("key values mismatch"));

    tls::ServerSettings not_a_certificate = server_settings();
    not_a_certificate.ca_file = not_a_certificate.private_key_file;
    CHECK_THROWS_WITH(tls::make_server_context(not_a_certificate),
                      Catch::Contains("cannot load the chain CA"));

    CHECK_THROWS_WITH(
        tls::make_client_context(till_settings(Certificates::get().till("0042-03"), {"not-a-pin"})),
        Catch::Contains("not-a-pin"));
}

TEST_CASE("handshakes give up at their deadline when the peer says nothing") {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    tcp::socket silent_peer(io);
    std::optional<tls::ConnectionError> error;
    auto record = [&](const auto& outcome) {
        if (auto* refusal = std::get_if<tls::ConnectionError>(&outcome)) error = *refusal;
    };
    auto require_timeout = [&] {
        io.run_for(5s);
        REQUIRE(error);
        CHECK(error->kind == tls::ConnectionError::Kind::timeout);
        CHECK_THAT(error->message, Catch::Contains("handshake"));
    };

    SECTION("head office waiting for a till's ClientHello") {
        asio::ssl::context context = tls::make_server_context(server_settings());
        silent_peer.connect(acceptor.local_endpoint());
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
                const auto accepted = co_await tls::accept_till(std::move(socket), context, 300ms);
                record(accepted);
            },
            rethrow);
        require_timeout();
    }
    SECTION("a till waiting for head office's ServerHello") {
        asio::ssl::context context =
            tls::make_client_context(till_settings(Certificates::get().till("0042-03")));
        acceptor.async_accept(silent_peer, [](boost::system::error_code) {});
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                const auto connected = co_await tls::connect_to_server(
                    context, "localhost", acceptor.local_endpoint().port(), 300ms);
                record(connected);
            },
            rethrow);
        require_timeout();
    }
}
