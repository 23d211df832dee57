#include "till_agent.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "loyalty/json_log.hpp"
#include "loyalty/store.hpp"

namespace loyalty::sync {

namespace {

namespace asio = boost::asio;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using QueryPromise = std::promise<std::optional<json>>;
constexpr auto with_error_code = asio::as_tuple(asio::use_awaitable);

// Member queries waiting for a reply on one connection; beyond this a lookup answers "unknown"
// at once instead of queueing behind a head office that does not answer.
constexpr std::size_t max_open_queries = 64;
// How long stop() lets the connection close cleanly before the io_context is stopped.
constexpr auto stop_grace = std::chrono::seconds(3);
constexpr auto close_timeout = std::chrono::seconds(1);

std::string describe(const tls::ConnectionError& error) {
    return std::string(tls::name_of(error.kind)) + ": " + error.message;
}

void log(http::LogLevel level, std::string_view event, json fields) {
    http::log_event(level, event, fields);
}

// One live connection: what the reader hands to the writer, and the batches awaiting their Acks.
struct Session {
    Session(tls::FramedConnection connection_, asio::any_io_executor executor)
        : connection(std::move(connection_)), wake(std::move(executor)) {}

    // Ends the session: the first reason wins; the writer wakes up to notice.
    void end(std::string why) {
        if (!failure) failure = std::move(why);
        wake.cancel();
    }

    tls::FramedConnection connection;
    asio::steady_timer wake;  // the writer sleeps on it; cancel() wakes it
    std::deque<protocol::Message> outgoing;
    // An EventBatch awaiting its Ack: its first and last seq (an empty batch: last < first).
    struct Batch {
        std::int64_t first = 0;
        std::int64_t last = 0;
        // Sent behind a batch that head office then acknowledged only in part: it meets a gap
        // there and is acknowledged no further, which is no reason to end the session.
        bool superseded = false;
        bool empty() const { return last < first; }
        std::size_t size() const { return empty() ? 0 : static_cast<std::size_t>(last - first + 1); }
    };
    std::deque<Batch> in_flight;  // oldest first; head office answers one Ack per batch, in order
    std::int64_t sent_up_to = 0;  // the next batch starts after this seq (or the acknowledged one)
    bool probed = false;  // the first batch, even an empty one, asks head office for an Ack
    std::map<std::uint64_t, std::shared_ptr<QueryPromise>> queries;
    SteadyClock::time_point last_write = SteadyClock::now();
    bool heard_from_hq = false;
    bool refused = false;  // head office sent Error
    std::optional<std::string> failure;
};

struct SessionOutcome {
    bool heard_from_hq = false;
    bool refused = false;
};

}  // namespace

struct TillAgent::Impl {
    Impl(std::atomic<bool>& connected_flag, TillAgentSettings settings_,
         ProgramOptions program_options_, const Clock& clock_, RuleSet rules_)
        : connected(connected_flag),
          settings(std::move(settings_)),
          program_options(std::move(program_options_)),
          clock(clock_),
          rules(std::move(rules_)),
          tls_context(tls::make_client_context(settings.tls)),
          batch_limit(settings.batch_size),
          random(std::random_device{}()) {}

    void thread_main();
    asio::awaitable<void> run();
    asio::awaitable<SessionOutcome> connect_and_serve();
    asio::awaitable<void> read_loop(Session& session);
    asio::awaitable<void> write_loop(Session& session);
    asio::awaitable<bool> send(Session& session, const protocol::Message& message);
    asio::awaitable<bool> send_frame(Session& session, const protocol::Bytes& frame, protocol::MessageType type);
    std::optional<protocol::Bytes> next_batch(Session& session);

    void handle(Session& session, const protocol::Message& message);
    void on_ack(Session& session, const protocol::Ack& ack);
    void resend_after(Session& session, std::int64_t acknowledged, const Session::Batch& batch,
                      std::uint64_t acked_seq);
    void on_downstream(Session& session, const protocol::Downstream& downstream);
    void on_reply(Session& session, const protocol::MemberReply& reply);
    void start_query(const std::shared_ptr<QueryPromise>& promise, protocol::MemberKey key,
                     std::string value);
    void finish_session(Session& session);
    void shrink_batches_after(const Session& session);

    void store_downstream_version(std::uint64_t version);
    milliseconds backoff_delay(int failures);
    void set_error(std::string error);
    void refresh_pending();

    std::atomic<bool>& connected;
    const TillAgentSettings settings;
    const ProgramOptions program_options;
    const Clock& clock;
    const RuleSet rules;
    asio::ssl::context tls_context;
    asio::io_context io;
    std::thread thread;

    // Shared with status(): guarded by status_mutex.
    mutable std::mutex status_mutex;
    std::optional<std::string> last_success;
    std::optional<std::string> last_error;
    std::int64_t pending_events = 0;
    std::uint64_t downstream_version = 0;

    // Agent thread only.
    Program* program = nullptr;
    Session* session = nullptr;
    bool stopping = false;
    asio::cancellation_signal stop_signal;
    std::optional<asio::steady_timer> watchdog;
    std::uint64_t next_query_id = 1;
    // Events in the next batch: halved when a session ends with a batch unacknowledged, doubled
    // (up to batch_size) with each acknowledged one. A link too slow to carry a full batch
    // within the write or read deadlines would otherwise resend the same batch for ever.
    std::size_t batch_limit;
    std::mt19937_64 random;
};

// --- the thread and the reconnect loop ---

void TillAgent::Impl::thread_main() {
    try {
        Program own_program(program_options, clock, rules);
        program = &own_program;
        {
            std::lock_guard lock(status_mutex);
            downstream_version = stored_downstream_version(own_program);
        }
        refresh_pending();
        asio::co_spawn(io, run(),
                       asio::bind_cancellation_slot(stop_signal.slot(), [this](std::exception_ptr) {
                           if (watchdog) watchdog->cancel();
                       }));
        io.run();
        program = nullptr;
    } catch (const std::exception& error) {
        program = nullptr;
        log(http::LogLevel::error, "sync_agent_failed", {{"message", error.what()}});
        set_error(std::string("sync agent stopped: ") + error.what());
    }
}

asio::awaitable<void> TillAgent::Impl::run() {
    log(http::LogLevel::info, "sync_agent_started",
        {{"till_id", settings.till_id},
         {"server", settings.host + ":" + std::to_string(settings.port)}});
    try {
        asio::steady_timer backoff(io);
        int failures = 0;
        while (!stopping) {
            const SessionOutcome outcome = co_await connect_and_serve();
            if (stopping) break;
            if (outcome.heard_from_hq && !outcome.refused) failures = 0;
            // A refusal (revoked, unknown till) will not heal in milliseconds: wait the longest.
            const milliseconds delay = outcome.refused ? settings.max_backoff : backoff_delay(failures++);
            log(http::LogLevel::info, "sync_retry", {{"delay_ms", delay.count()}});
            backoff.expires_after(delay);
            co_await backoff.async_wait(with_error_code);
        }
    } catch (const boost::system::system_error&) {
        // stop() cancelled whatever was awaited; the coroutine just ends.
    }
    log(http::LogLevel::info, "sync_agent_stopped", {{"till_id", settings.till_id}});
}

milliseconds TillAgent::Impl::backoff_delay(int failures) {
    const milliseconds ceiling =
        std::min(settings.max_backoff, settings.min_backoff * (std::int64_t{1} << std::min(failures, 20)));
    // Full range below the ceiling's half is not used, so a flapping link still backs off.
    std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
    return milliseconds(pick(random));
}

asio::awaitable<SessionOutcome> TillAgent::Impl::connect_and_serve() {
    auto connected_to = co_await tls::connect_to_server(tls_context, settings.host, settings.port,
                                                        settings.io_timeout, settings.server_name);
    if (auto* error = std::get_if<tls::ConnectionError>(&connected_to)) {
        set_error("connect: " + describe(*error));
        log(http::LogLevel::warn, "sync_connect_failed",
            {{"kind", tls::name_of(error->kind)}, {"message", error->message}});
        co_return SessionOutcome{};
    }
    Session current(std::move(std::get<tls::FramedConnection>(connected_to)), io.get_executor());
    std::uint64_t cursor = 0;
    {
        std::lock_guard lock(status_mutex);
        cursor = downstream_version;
    }
    current.outgoing.push_back(protocol::Hello{settings.till_id, protocol::protocol_version,
                                               settings.software_version, cursor, clock.now()});
    session = &current;
    try {
        using namespace asio::experimental::awaitable_operators;
        co_await (read_loop(current) || write_loop(current));
    } catch (const StorageError& error) {
        current.end(std::string("till database: ") + error.what());
    } catch (const boost::system::system_error& error) {
        current.end(error.what());
    }
    finish_session(current);
    if (!stopping) co_await current.connection.close(close_timeout);
    co_return SessionOutcome{current.heard_from_hq, current.refused};
}

void TillAgent::Impl::finish_session(Session& current) {
    session = nullptr;
    connected = false;
    if (!stopping) shrink_batches_after(current);
    for (auto& [id, promise] : current.queries) promise->set_value(std::nullopt);
    current.queries.clear();
    const std::string why = current.failure.value_or("stopped");
    if (!stopping) set_error(why);
    log(http::LogLevel::warn, "sync_disconnected", {{"reason", why}});
}

void TillAgent::Impl::shrink_batches_after(const Session& current) {
    if (current.in_flight.empty() || current.in_flight.front().empty()) return;
    const std::size_t unacknowledged = current.in_flight.front().size();
    const std::size_t smaller = std::max<std::size_t>(1, unacknowledged / 2);
    if (smaller >= batch_limit) return;
    batch_limit = smaller;
    log(http::LogLevel::warn, "sync_batch_smaller",
        {{"batch_size", batch_limit}, {"unacknowledged", unacknowledged}});
}

// --- writing ---

asio::awaitable<void> TillAgent::Impl::write_loop(Session& current) {
    while (!current.failure && !stopping) {
        if (!current.outgoing.empty()) {
            const protocol::Message message = std::move(current.outgoing.front());
            current.outgoing.pop_front();
            if (!co_await send(current, message)) co_return;
            continue;
        }
        if (current.in_flight.size() < std::max<std::size_t>(1, settings.batches_in_flight)) {
            if (auto batch = next_batch(current)) {
                if (!co_await send_frame(current, *batch, protocol::MessageType::event_batch)) co_return;
                continue;
            }
        }
        const auto idle = SteadyClock::now() - current.last_write;
        if (idle >= settings.heartbeat_interval) {
            const protocol::Heartbeat heartbeat{clock.now()};
            if (!co_await send(current, heartbeat)) co_return;
            continue;
        }
        current.wake.expires_after(std::min<SteadyClock::duration>(
            settings.outbox_poll, settings.heartbeat_interval - idle));
        co_await current.wake.async_wait(with_error_code);
    }
}

asio::awaitable<bool> TillAgent::Impl::send(Session& current, const protocol::Message& message) {
    const protocol::Bytes frame = protocol::encode(message);
    co_return co_await send_frame(current, frame, protocol::type_of(message));
}

asio::awaitable<bool> TillAgent::Impl::send_frame(Session& current, const protocol::Bytes& frame,
                                                  protocol::MessageType type) {
    if (auto error = co_await current.connection.write_frame(frame, type, settings.io_timeout)) {
        current.end("write: " + describe(*error));
        co_return false;
    }
    current.last_write = SteadyClock::now();
    co_return true;
}

// The frame of the next events after those sent (or acknowledged), at most batch_limit, and fewer
// if the frame would exceed the peer's maximum. nullopt when there is nothing to send (after the
// first probe).
std::optional<protocol::Bytes> TillAgent::Impl::next_batch(Session& current) {
    const std::int64_t acknowledged = program->outbox().acknowledged();
    std::vector<OutboxEvent> pending = program->outbox().pending_after(
        std::max(current.sent_up_to, acknowledged), static_cast<std::int64_t>(batch_limit));
    refresh_pending();
    if (pending.empty() && current.probed) return std::nullopt;
    protocol::Message message{protocol::EventBatch{}};  // encoded in place, never copied
    auto& batch = std::get<protocol::EventBatch>(message);
    for (OutboxEvent& event : pending)
        batch.events.push_back({static_cast<std::uint64_t>(event.seq), std::move(event.type),
                                std::move(event.payload), event.created_at});
    protocol::Bytes frame = protocol::encode(message);
    while (batch.events.size() > 1 && frame.size() > protocol::default_max_frame_size) {
        batch.events.resize(batch.events.size() / 2);
        frame = protocol::encode(message);
    }
    if (batch.events.empty()) {
        current.in_flight.push_back({acknowledged + 1, acknowledged});
    } else {
        current.in_flight.push_back({static_cast<std::int64_t>(batch.events.front().seq),
                                     static_cast<std::int64_t>(batch.events.back().seq)});
        current.sent_up_to = current.in_flight.back().last;
    }
    current.probed = true;
    return frame;
}

// --- reading ---

asio::awaitable<void> TillAgent::Impl::read_loop(Session& current) {
    while (!current.failure && !stopping) {
        auto received = co_await current.connection.read(settings.idle_timeout);
        if (auto* error = std::get_if<tls::ConnectionError>(&received)) {
            current.end("read: " + describe(*error));
            co_return;
        }
        handle(current, std::get<protocol::Message>(received));
    }
}

void TillAgent::Impl::handle(Session& current, const protocol::Message& message) {
    if (const auto* error = std::get_if<protocol::Error>(&message)) {
        // code and message are head office's words about this till: no personal data.
        log(http::LogLevel::warn, "sync_refused", {{"code", error->code}, {"message", error->message}});
        current.refused = true;
        current.end("head office refused: " + error->code + ": " + error->message);
        return;
    }
    if (!current.heard_from_hq) {
        current.heard_from_hq = true;
        connected = true;
        log(http::LogLevel::info, "sync_connected", {{"till_id", settings.till_id}});
    }
    {
        std::lock_guard lock(status_mutex);
        last_success = format_timestamp(clock.now());
    }
    if (const auto* ack = std::get_if<protocol::Ack>(&message)) {
        on_ack(current, *ack);
    } else if (const auto* downstream = std::get_if<protocol::Downstream>(&message)) {
        on_downstream(current, *downstream);
    } else if (const auto* reply = std::get_if<protocol::MemberReply>(&message)) {
        on_reply(current, *reply);
    } else if (!std::holds_alternative<protocol::Heartbeat>(message)) {
        current.end("head office sent " +
                    std::string(protocol::name_of(protocol::type_of(message))) +
                    ", which only a till sends");
    }
}

void TillAgent::Impl::on_ack(Session& current, const protocol::Ack& ack) {
    // Never acknowledge beyond what was sent in the batch awaiting this Ack (or, for an Ack
    // that answers nothing, beyond what exists here): a confused head office cannot make the
    // till drop events it never received.
    Outbox& outbox = program->outbox();
    const std::int64_t limit = current.in_flight.empty() ? outbox.last_seq() : current.in_flight.front().last;
    const std::int64_t acknowledged =
        std::min(limit, static_cast<std::int64_t>(
                            std::min<std::uint64_t>(ack.highest_contiguous_seq, INT64_MAX)));
    if (acknowledged > outbox.acknowledged()) outbox.acknowledge(acknowledged);
    if (!current.in_flight.empty()) {
        const Session::Batch batch = current.in_flight.front();
        current.in_flight.pop_front();
        if (!batch.empty() && acknowledged >= batch.last)
            batch_limit = std::min(settings.batch_size, batch_limit * 2);
        if (!batch.empty() && acknowledged < batch.last && !batch.superseded)
            resend_after(current, acknowledged, batch, ack.highest_contiguous_seq);
    }
    refresh_pending();
    current.wake.cancel();
}

// Head office stopped inside `batch` (a gap, or an event its ledger refused): the batches sent
// behind it will meet a gap there, so the next batch starts again after what was acknowledged.
void TillAgent::Impl::resend_after(Session& current, std::int64_t acknowledged, const Session::Batch& batch,
                                   std::uint64_t acked_seq) {
    for (Session::Batch& later : current.in_flight) later.superseded = true;
    current.sent_up_to = acknowledged;
    if (acknowledged < batch.first) {
        // Resending the same batch at once would loop; reconnect with backoff instead.
        current.end("head office acknowledged seq " + std::to_string(acked_seq) + " for a batch of seq " +
                    std::to_string(batch.first) + ".." + std::to_string(batch.last));
    }
}

void TillAgent::Impl::on_downstream(Session& current, const protocol::Downstream& downstream) {
    std::uint64_t cursor = 0;
    {
        std::lock_guard lock(status_mutex);
        cursor = downstream_version;
    }
    for (const protocol::DownstreamItem& item : downstream.items) {
        if (item.version <= cursor) continue;  // applied before (a replay after reconnecting)
        if (auto error = apply_downstream_item(*program, item, settings.till_id)) {
            // Stop here and do not acknowledge: skipping would lose the change for good. The
            // cursor stays put, so the item comes again after reconnecting.
            log(http::LogLevel::error, "sync_downstream_failed",
                {{"version", item.version}, {"message", *error}});
            current.end("downstream version " + std::to_string(item.version) + ": " + *error);
            break;
        }
        // Applying is idempotent, so a crash between apply and store only replays the item.
        store_downstream_version(item.version);
        cursor = item.version;
    }
    current.outgoing.push_back(protocol::DownstreamAck{cursor});
    current.wake.cancel();
}

void TillAgent::Impl::store_downstream_version(std::uint64_t version) {
    sync::store_downstream_version(*program, version);
    std::lock_guard lock(status_mutex);
    downstream_version = version;
}

// --- member queries ---

void TillAgent::Impl::on_reply(Session& current, const protocol::MemberReply& reply) {
    const auto found = current.queries.find(reply.query_id);
    if (found == current.queries.end()) return;  // its caller gave up; the reply is stale
    found->second->set_value(reply.found && reply.member.is_object() ? std::optional(reply.member)
                                                                     : std::nullopt);
    current.queries.erase(found);
}

void TillAgent::Impl::start_query(const std::shared_ptr<QueryPromise>& promise,
                                  protocol::MemberKey key, std::string value) {
    if (session == nullptr || !session->heard_from_hq || session->failure ||
        session->queries.size() >= max_open_queries) {
        promise->set_value(std::nullopt);
        return;
    }
    const std::uint64_t id = next_query_id++;
    session->queries.emplace(id, promise);
    session->outgoing.push_back(protocol::MemberQuery{id, key, std::move(value)});
    session->wake.cancel();
}

// --- status ---

void TillAgent::Impl::set_error(std::string error) {
    std::lock_guard lock(status_mutex);
    last_error = std::move(error);
}

void TillAgent::Impl::refresh_pending() {
    const std::int64_t pending = program->outbox().pending_count();
    std::lock_guard lock(status_mutex);
    pending_events = pending;
}

// --- the public face ---

TillAgent::TillAgent(TillAgentSettings settings, ProgramOptions program_options, const Clock& clock,
                     RuleSet rules)
    : impl_(std::make_unique<Impl>(connected_, std::move(settings), std::move(program_options),
                                   clock, std::move(rules))) {}

TillAgent::~TillAgent() { stop(); }

void TillAgent::start() {
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([impl = impl_.get()] { impl->thread_main(); });
}

void TillAgent::stop() {
    if (!impl_->thread.joinable()) return;
    Impl* impl = impl_.get();
    asio::post(impl->io, [impl] {
        impl->stopping = true;
        impl->stop_signal.emit(asio::cancellation_type::terminal);
        if (impl->session != nullptr) impl->session->wake.cancel();
        // Anything that ignores the cancellation (a TLS shutdown to a silent peer) gets this
        // long; then the io_context stops with it.
        impl->watchdog.emplace(impl->io, stop_grace);
        impl->watchdog->async_wait([impl](boost::system::error_code error) {
            if (!error) impl->io.stop();
        });
    });
    impl->thread.join();
    connected_ = false;
}

nlohmann::json TillAgent::status() const {
    std::lock_guard lock(impl_->status_mutex);
    const auto optional_text = [](const std::optional<std::string>& text) {
        return text ? json(*text) : json(nullptr);
    };
    return {{"connected", connected()},
            {"last_success", optional_text(impl_->last_success)},
            {"last_error", optional_text(impl_->last_error)},
            {"pending_events", impl_->pending_events},
            {"downstream_version", impl_->downstream_version}};
}

std::optional<nlohmann::json> TillAgent::query_member(protocol::MemberKey key, std::string value,
                                                      std::chrono::milliseconds timeout) {
    if (!connected()) return std::nullopt;
    auto promise = std::make_shared<QueryPromise>();
    std::future<std::optional<json>> answer = promise->get_future();
    asio::post(impl_->io, [impl = impl_.get(), promise, key, value = std::move(value)]() mutable {
        impl->start_query(promise, key, std::move(value));
    });
    if (answer.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    try {
        return answer.get();
    } catch (const std::future_error&) {  // the agent stopped before it could ask
        return std::nullopt;
    }
}

}  // namespace loyalty::sync
