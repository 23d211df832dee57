#include "hq_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <thread>

#include "async_semaphore.hpp"
#include "loyalty/json_log.hpp"

namespace loyalty::hq {

namespace asio = boost::asio;
using asio::ip::tcp;
using http::log_event;
using http::LogLevel;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto refusal_write_timeout = std::chrono::seconds(2);
constexpr auto close_timeout = std::chrono::seconds(2);

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A till's clock minus ours, saturated: a hostile till_time must not overflow.
std::int64_t skew_of(std::int64_t till_time, std::int64_t now) {
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max();
    std::int64_t skew = 0;
    if (__builtin_sub_overflow(till_time, now, &skew)) return till_time < 0 ? -limit : limit;
    return std::max(skew, -limit);
}

protocol::Error refusal(std::string code, std::string message) {
    return protocol::Error{std::move(code), std::move(message)};
}

}  // namespace

class SyncServer::Impl {
  public:
    Impl(SyncServerConfig config, DatabaseThread& database, HqStore& store,
         std::shared_ptr<http::MetricsRegistry> metrics)
        : config_(std::move(config)), database_(database), store_(store), metrics_(std::move(metrics)),
          acceptor_(io_) {}

    void start() {
        context_.emplace(tls::make_server_context(config_.tls));
        const tcp::endpoint endpoint(asio::ip::make_address(config_.address), config_.port);
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        log_event(LogLevel::info, "sync_listening", {{"address", config_.address}, {"port", port_}});
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }

    std::uint16_t port() const { return port_; }

    void stop() {
        if (!thread_.joinable()) return;
        // Connections are dropped mid-way on purpose: nothing un-acked is lost, tills resend.
        io_.stop();
        thread_.join();
        // Store calls still queued complete into the stopped io_context; wait for them so none
        // completes into a destroyed one.
        database_.call([] { return true; });
    }

  private:
    struct Session {
        Session(tls::FramedConnection connection, std::string till_id, asio::any_io_executor executor)
            : connection(std::move(connection)), till_id(std::move(till_id)), wake(executor),
              writer_done(executor) {}

        tls::FramedConnection connection;
        std::string till_id;
        std::deque<protocol::Message> outgoing;
        asio::steady_timer wake;         // cancelled to wake the writer
        asio::steady_timer writer_done;  // cancelled when the writer has finished
        bool closing = false;
        bool writer_finished = false;
        bool feed_due = true;                  // look at the feed at the writer's next turn
        std::uint64_t sent_up_to = 0;          // feed scanned and sent to here in this session
        std::deque<std::uint64_t> in_flight;   // last version of each un-acked Downstream
        Clock::time_point last_write = Clock::now();
        std::optional<std::int64_t> clock_skew;  // last measured in this session

        void send(protocol::Message message) {
            outgoing.push_back(std::move(message));
            wake.cancel();
        }
        void close() {
            closing = true;
            wake.cancel();
        }
    };

    void count(std::string_view name, std::string_view help, std::size_t times = 1) {
        if (!metrics_) return;
        for (std::size_t i = 0; i < times; ++i) metrics_->increment_counter(name, help);
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (error) {
                if (error == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
                log_event(LogLevel::warn, "sync_accept_failed", {{"message", error.message()}});
                continue;
            }
            asio::co_spawn(io_, connection(std::move(socket)), [](std::exception_ptr failure) {
                if (!failure) return;
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    log_event(LogLevel::error, "sync_connection_failed", {{"message", e.what()}});
                }
            });
        }
    }

    asio::awaitable<void> refuse(tls::FramedConnection& connection, const std::string& till_id,
                                 const protocol::Error& error) {
        count("loyalty_hq_sync_refusals_total", "Sync connections refused after the TLS handshake");
        log_event(LogLevel::warn, "sync_refused",
                  {{"till_id", till_id}, {"code", error.code}, {"message", error.message}});
        const protocol::Message message = error;
        co_await connection.write(message, refusal_write_timeout);
        co_await connection.close(close_timeout);
    }

    // Note for every co_await in this file: its operands are named locals, never temporaries
    // with destructors, because GCC 12 destroys such temporaries twice (GCC PR 99576).
    //
    // Checks the Hello against the certificate and the registry; the error to refuse with.
    asio::awaitable<std::optional<protocol::Error>> check_hello(const protocol::Hello& hello,
                                                                const std::string& certificate_till,
                                                                Timestamp certificate_not_after) {
        if (hello.protocol_version < 1)
            co_return refusal("unsupported_version", "head office speaks protocol version " +
                                                         std::to_string(protocol::protocol_version));
        if (hello.till_id != certificate_till)
            co_return refusal("till_id_mismatch", "Hello names " + hello.till_id +
                                                      " but the certificate names " + certificate_till);
        const auto lookup = [this, certificate_till, certificate_not_after] {
            auto found = store_.find_till(certificate_till);
            if (found) store_.touch_till(certificate_till, certificate_not_after);
            return found;
        };
        const auto till = co_await database_.run(lookup);
        if (!till)
            co_return refusal("unknown_till", "till " + certificate_till +
                                                  " is not registered at head office; run loyalty-hq till add");
        if (till->revoked) co_return refusal("revoked", "till " + certificate_till + " has been revoked");
        co_return std::nullopt;
    }

    asio::awaitable<void> connection(tcp::socket socket) {
        count("loyalty_hq_sync_connections_total", "TCP connections accepted on the sync port");
        auto accepted = co_await tls::accept_till(std::move(socket), *context_, config_.handshake_timeout);
        if (auto* failure = std::get_if<tls::ConnectionError>(&accepted)) {
            count("loyalty_hq_sync_handshake_failures_total", "TLS handshakes refused or failed");
            log_event(LogLevel::warn, "sync_refused",
                      {{"code", "tls"}, {"kind", tls::name_of(failure->kind)}, {"message", failure->message}});
            co_return;
        }
        tls::AcceptedTill& till = std::get<tls::AcceptedTill>(accepted);
        auto first = co_await till.connection.read(config_.hello_timeout);
        if (auto* failure = std::get_if<tls::ConnectionError>(&first)) {
            count("loyalty_hq_sync_refusals_total", "Sync connections refused after the TLS handshake");
            log_event(LogLevel::warn, "sync_refused", {{"till_id", till.till_id},
                                                       {"code", "no_hello"},
                                                       {"kind", tls::name_of(failure->kind)},
                                                       {"message", failure->message}});
            co_return;
        }
        const auto* hello = std::get_if<protocol::Hello>(&std::get<protocol::Message>(first));
        if (!hello) {
            const protocol::Error error = refusal("bad_frame", "the first message must be Hello");
            co_await refuse(till.connection, till.till_id, error);
            co_return;
        }
        if (auto error = co_await check_hello(*hello, till.till_id, till.certificate_not_after)) {
            co_await refuse(till.connection, till.till_id, *error);
            co_return;
        }
        const std::uint64_t start_version = hello->downstream_version;
        auto session = std::make_shared<Session>(std::move(till.connection), till.till_id, io_.get_executor());
        session->sent_up_to = start_version;
        // The till says what it has applied: it is the truth about the till (it may have been
        // restored from a backup), so the cursor follows it, even backwards.
        const auto set_cursor = [this, session, start_version] {
            store_.set_downstream_cursor(session->till_id, start_version);
            return true;
        };
        co_await database_.run(set_cursor);
        if (hello->till_time) co_await measure_clock(*session, *hello->till_time, "hello");
        log_event(LogLevel::info, "till_connected",
                  {{"till_id", session->till_id}, {"downstream_version", start_version},
                   {"software_version", hello->software_version}});
        asio::co_spawn(io_, writer(session), asio::detached);
        try {
            co_await reader(session);
        } catch (const std::exception& error) {  // StorageError from the store
            session_failed(*session, error);
        }
        session->close();
        while (!session->writer_finished)
            co_await session->writer_done.async_wait(asio::as_tuple(asio::use_awaitable));
        co_await session->connection.close(close_timeout);
        log_event(LogLevel::info, "till_disconnected", {{"till_id", session->till_id}});
    }

    asio::awaitable<void> reader(const std::shared_ptr<Session>& session) {
        while (!session->closing) {
            auto received = co_await session->connection.read_frame(config_.idle_timeout);
            if (auto* failure = std::get_if<tls::ConnectionError>(&received)) {
                reading_ended(*session, *failure);
                co_return;
            }
            if (!co_await receive(session, std::get<protocol::Frame>(received))) co_return;
        }
    }

    void reading_ended(const Session& session, const tls::ConnectionError& failure) {
        // closed: the till hung up between frames, the normal end. timeout: idle too long.
        if (failure.kind != tls::ConnectionError::Kind::closed && !session.closing)
            log_event(LogLevel::info, "till_connection_ended",
                      {{"till_id", session.till_id}, {"kind", tls::name_of(failure.kind)},
                       {"message", failure.message}});
    }

    // An event batch waits for its turn before it is parsed, and keeps it until it is stored
    // (docs/BENCHMARKS.md, step 5); other messages are small and handled at once. false: the
    // session must end.
    asio::awaitable<bool> receive(const std::shared_ptr<Session>& session, const protocol::Frame& frame) {
        std::optional<AsyncSemaphore::Permit> turn;
        if (frame.type == protocol::MessageType::event_batch) turn.emplace(co_await batch_turns_.acquire());
        auto decoded = tls::FramedConnection::decode(frame);
        if (auto* failure = std::get_if<tls::ConnectionError>(&decoded)) {
            reading_ended(*session, *failure);
            co_return false;
        }
        protocol::Message& message = std::get<protocol::Message>(decoded);
        // The decoder makes an EventBatch only of a frame of that type, which took a turn above.
        if (auto* batch = std::get_if<protocol::EventBatch>(&message); batch && turn) {
            store_and_ack(session, std::move(batch->events), std::move(*turn));
            co_return true;
        }
        co_return co_await handle(*session, message);
    }

    // Stores the batch on the database thread while the reader goes on: a till may send its
    // next batch before this one's Ack (docs/PROTOCOL.md), and that one is parsed meanwhile.
    // The database thread runs work in the order it was posted and the I/O thread its
    // completions, so a session's batches are stored, and acked, in the order they came, and
    // before anything the reader hands the database thread after them. A batch stored after
    // one that stopped early meets a gap and is acked no further (SqliteHqStore::store_batch).
    void store_and_ack(const std::shared_ptr<Session>& session, std::vector<protocol::Event> received,
                       AsyncSemaphore::Permit turn) {
        auto events = std::make_shared<const std::vector<protocol::Event>>(std::move(received));
        const auto store = [this, till_id = session->till_id, events] { return store_.store_batch(till_id, *events); };
        database_.run(store, asio::bind_executor(io_, [this, session, turn = std::move(turn)](
                                                          std::exception_ptr failure, BatchOutcome outcome) {
            try {
                if (failure) std::rethrow_exception(failure);
                batch_stored(*session, outcome);
            } catch (const std::exception& error) {  // StorageError from the store
                session_failed(*session, error);
            }
        }));
    }

    void batch_stored(Session& session, const BatchOutcome& outcome) {
        count("loyalty_hq_events_ingested_total", "Till events stored at head office", outcome.stored);
        if (outcome.stopped)
            log_event(LogLevel::warn, "batch_stopped", {{"till_id", session.till_id},
                                                        {"code", outcome.stopped->code},
                                                        {"message", outcome.stopped->message},
                                                        {"acked", outcome.highest_contiguous_seq}});
        log_event(LogLevel::debug, "batch_stored",
                  {{"till_id", session.till_id}, {"stored", outcome.stored}, {"replayed", outcome.replayed},
                   {"acked", outcome.highest_contiguous_seq}});
        session.feed_due = true;
        session.send(protocol::Ack{outcome.highest_contiguous_seq});
    }

    // A StorageError from the store ends the session; the till resends whatever was not acked.
    void session_failed(Session& session, const std::exception& error) {
        log_event(LogLevel::error, "sync_session_failed", {{"till_id", session.till_id}, {"message", error.what()}});
        session.close();
    }

    // false: the session must end.
    asio::awaitable<bool> handle(Session& session, protocol::Message& message) {
        const std::string till_id = session.till_id;
        if (auto* query = std::get_if<protocol::MemberQuery>(&message)) {
            const auto answer_query = [this, till_id, query] {
                protocol::MemberReply answer{query->query_id, false, nullptr};
                auto snapshot = store_.query_member(till_id, *query);
                if (snapshot) {
                    answer.found = true;
                    answer.member = std::move(*snapshot);
                }
                return answer;
            };
            protocol::MemberReply reply = co_await database_.run(answer_query);
            count("loyalty_hq_member_queries_total", "Member lookups answered");
            session.send(std::move(reply));
        } else if (auto* ack = std::get_if<protocol::DownstreamAck>(&message)) {
            const std::uint64_t applied = ack->applied_version;
            while (!session.in_flight.empty() && session.in_flight.front() <= applied)
                session.in_flight.pop_front();
            session.feed_due = true;
            const auto set_cursor = [this, till_id, applied] {
                store_.set_downstream_cursor(till_id, applied);
                return true;
            };
            co_await database_.run(set_cursor);
            session.wake.cancel();
        } else if (auto* heartbeat = std::get_if<protocol::Heartbeat>(&message)) {
            session.send(protocol::Heartbeat{unix_now()});
            co_await measure_clock(session, heartbeat->sent_at, "heartbeat");
        } else if (auto* error = std::get_if<protocol::Error>(&message)) {
            log_event(LogLevel::warn, "till_error", {{"till_id", till_id}, {"code", error->code},
                                                     {"message", error->message}});
            co_return false;
        } else {
            log_event(LogLevel::warn, "sync_unexpected_message",
                      {{"till_id", till_id}, {"type", protocol::name_of(protocol::type_of(message))}});
            session.send(refusal("bad_frame", std::string(protocol::name_of(protocol::type_of(message))) +
                                                  " is not a message a till sends after Hello"));
            co_return false;
        }
        co_return true;
    }

    // Ledger order never depends on a till's clock (seq does), but a skewed till stamps its
    // events and expiry wrongly, so operators hear of it. Stored when it changes; logged when it
    // changes beyond the limit (a steady skew once per connection, every jump again).
    asio::awaitable<void> measure_clock(Session& session, std::int64_t till_time, std::string_view source) {
        const std::int64_t skew = skew_of(till_time, unix_now());
        if (session.clock_skew == skew) co_return;
        session.clock_skew = skew;
        if (skew > config_.max_clock_skew.count() || skew < -config_.max_clock_skew.count())
            log_event(LogLevel::warn, "till_clock_skew",
                      {{"till_id", session.till_id}, {"skew_seconds", skew}, {"source", source},
                       {"max_clock_skew_seconds", config_.max_clock_skew.count()}});
        const std::string till_id = session.till_id;
        const auto record = [this, till_id, skew] {
            store_.record_clock_skew(till_id, skew);
            return true;
        };
        co_await database_.run(record);
    }

    asio::awaitable<bool> write(Session& session, const protocol::Message& message) {
        if (auto failure = co_await session.connection.write(message, config_.write_timeout)) {
            log_event(LogLevel::info, "till_connection_ended",
                      {{"till_id", session.till_id}, {"kind", tls::name_of(failure->kind)},
                       {"message", failure->message}});
            co_return false;
        }
        session.last_write = Clock::now();
        co_return true;
    }

    // Sends the next feed page if the window allows; true if it may have more.
    asio::awaitable<bool> push_feed(Session& session) {
        if (session.in_flight.size() >= config_.downstream_window) co_return false;
        const std::string till_id = session.till_id;
        const std::uint64_t after = session.sent_up_to;
        const auto read_feed = [this, till_id, after] {
            return store_.downstream(till_id, after, config_.downstream_max_items, config_.downstream_max_bytes);
        };
        FeedPage page = co_await database_.run(read_feed);
        session.sent_up_to = page.scanned_to;
        if (page.items.empty()) co_return false;
        session.in_flight.push_back(page.items.back().version);
        const std::size_t sent = page.items.size();
        const protocol::Message message = protocol::Downstream{std::move(page.items)};
        if (!co_await write(session, message)) {
            session.closing = true;
            co_return false;
        }
        count("loyalty_hq_downstream_items_total", "Feed items sent to tills", sent);
        co_return true;
    }

    asio::awaitable<void> writer(std::shared_ptr<Session> session) {
        try {
            co_await write_loop(*session);
        } catch (const std::exception& error) {  // StorageError from the store
            session_failed(*session, error);
        }
        // Wake the reader if it is still waiting for a frame: the session is over.
        session->closing = true;
        boost::system::error_code ignored;
        session->connection.stream().lowest_layer().cancel(ignored);
        session->writer_finished = true;
        session->writer_done.cancel();
    }

    // Replies first, then the feed, then heartbeats; once closing, only what is queued (an
    // Error the reader asked for) is still written.
    asio::awaitable<void> write_loop(Session& session) {
        auto next_feed_check = Clock::now();
        for (;;) {
            if (!session.outgoing.empty()) {
                protocol::Message message = std::move(session.outgoing.front());
                session.outgoing.pop_front();
                const bool final = std::holds_alternative<protocol::Error>(message);
                if (!co_await write(session, message) || final) co_return;
                continue;
            }
            if (session.closing) co_return;
            if (session.feed_due || Clock::now() >= next_feed_check) {
                session.feed_due = co_await push_feed(session);
                next_feed_check = Clock::now() + config_.feed_poll_interval;
                continue;
            }
            if (Clock::now() - session.last_write >= config_.heartbeat_interval) {
                const protocol::Message heartbeat = protocol::Heartbeat{unix_now()};
                if (!co_await write(session, heartbeat)) co_return;
                continue;
            }
            session.wake.expires_at(std::min(next_feed_check, session.last_write + config_.heartbeat_interval));
            co_await session.wake.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    SyncServerConfig config_;
    DatabaseThread& database_;
    HqStore& store_;
    std::shared_ptr<http::MetricsRegistry> metrics_;
    std::optional<asio::ssl::context> context_;  // before io_: connections use it until io_ goes
    AsyncSemaphore batch_turns_{config_.parsed_batches};  // before io_, for the same reason
    asio::io_context io_{1};
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

SyncServer::SyncServer(SyncServerConfig config, DatabaseThread& database, HqStore& store,
                       std::shared_ptr<http::MetricsRegistry> metrics)
    : impl_(std::make_unique<Impl>(std::move(config), database, store, std::move(metrics))) {}

SyncServer::~SyncServer() { impl_->stop(); }

void SyncServer::start() { impl_->start(); }
std::uint16_t SyncServer::port() const { return impl_->port(); }
void SyncServer::stop() { impl_->stop(); }

}  // namespace loyalty::hq
