#include "support/till_daemon.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace loyalty::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TillDaemon::TillDaemon(fs::path loyaltyd, fs::path directory, nlohmann::json config,
                       std::map<std::string, std::string> env)
    : loyaltyd_(std::move(loyaltyd)), directory_(std::move(directory)), env_(std::move(env)) {
    std::ofstream(directory_ / "till.json") << config.dump();
    start();
}

void TillDaemon::start() {
    process_.reset();
    ++starts_;
    process_.emplace(loyaltyd_,
                     std::vector<std::string>{"--config", (directory_ / "till.json").string(), "--db",
                                              database().string(), "--listen", "127.0.0.1:0"},
                     env_, directory_ / ("loyaltyd-" + std::to_string(starts_) + ".stderr"));
    port_ = process_->wait_for_listening_port(60s);
}

ExitStatus TillDaemon::kill() {
    process_->kill();
    const auto status = process_->wait_for_exit(30s);
    if (!status) throw std::runtime_error("loyaltyd survived SIGKILL for 30 s");
    return *status;
}

ExitStatus TillDaemon::stop() {
    process_->terminate();
    const auto status = process_->wait_for_exit(60s);
    if (!status) throw std::runtime_error("loyaltyd did not stop within 60 s of SIGTERM");
    return *status;
}

http::HttpClient TillDaemon::client(std::chrono::milliseconds timeout) const {
    return http::HttpClient("127.0.0.1", port_, http::ClientOptions{std::nullopt, timeout});
}

namespace {

std::string rendered(sqlite3_stmt* statement, int column) {
    switch (sqlite3_column_type(statement, column)) {
        case SQLITE_NULL: return "NULL";
        case SQLITE_INTEGER: return std::to_string(sqlite3_column_int64(statement, column));
        case SQLITE_FLOAT: {
            char text[32];
            std::snprintf(text, sizeof text, "%.17g", sqlite3_column_double(statement, column));
            return text;
        }
        default: {
            const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement, column));
            const int size = sqlite3_column_bytes(statement, column);
            return "'" + std::string(bytes ? bytes : "", static_cast<std::size_t>(size)) + "'";
        }
    }
}

}  // namespace

ReadOnlyDatabase::ReadOnlyDatabase(const fs::path& path) {
    const std::string uri = "file:" + path.string() + "?mode=ro";
    if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
        sqlite3_close(db_);
        throw std::runtime_error("cannot open " + path.string() + " read-only");
    }
    sqlite3_busy_timeout(db_, 10'000);
}

ReadOnlyDatabase::~ReadOnlyDatabase() { sqlite3_close(db_); }

std::vector<std::string> ReadOnlyDatabase::rows(const std::string& sql, const std::optional<std::string>& text) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot prepare " + sql + ": " + sqlite3_errmsg(db_));
    for (int i = 1; text && i <= sqlite3_bind_parameter_count(statement); ++i)
        sqlite3_bind_text(statement, i, text->c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::string> result;
    int code = SQLITE_ROW;
    while ((code = sqlite3_step(statement)) == SQLITE_ROW) {
        std::string row;
        for (int column = 0; column < sqlite3_column_count(statement); ++column) {
            if (column > 0) row += '|';
            row += rendered(statement, column);
        }
        result.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    if (code != SQLITE_DONE) throw std::runtime_error("query failed: " + sql);
    return result;
}

std::int64_t ReadOnlyDatabase::integer(const std::string& sql, const std::optional<std::string>& text) {
    const auto found = rows(sql, text);
    if (found.empty()) throw std::runtime_error("no row from " + sql);
    return std::stoll(found.front());
}

DatabaseDump dump_database(const fs::path& path) {
    ReadOnlyDatabase database(path);
    DatabaseDump dump;
    for (const std::string& table :
         database.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
        const std::string name = table.substr(1, table.size() - 2);  // rendered with quotes
        std::vector<std::string> rows = database.rows("SELECT * FROM \"" + name + "\"");
        std::sort(rows.begin(), rows.end());
        dump[name] = std::move(rows);
    }
    return dump;
}

std::vector<std::string> differing_tables(const DatabaseDump& before, const DatabaseDump& after) {
    std::vector<std::string> names;
    for (const auto& [table, rows] : before)
        if (!after.contains(table) || after.at(table) != rows) names.push_back(table);
    for (const auto& [table, rows] : after)
        if (!before.contains(table)) names.push_back(table);
    return names;
}

std::string integrity_check(const fs::path& path) {
    ReadOnlyDatabase database(path);
    std::string answer;
    for (const std::string& row : database.rows("PRAGMA integrity_check")) answer += row;
    return answer.size() >= 2 ? answer.substr(1, answer.size() - 2) : answer;
}

namespace {

class Socket {
  public:
    explicit Socket(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    ~Socket() { ::close(fd_); }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    // Waits for `events` until `deadline`; false when the deadline came first.
    bool wait(short events, std::chrono::steady_clock::time_point deadline) const {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd entry{fd_, events, 0};
        return ::poll(&entry, 1, static_cast<int>(left.count())) > 0;
    }
    int fd() const { return fd_; }

  private:
    int fd_;
};

}  // namespace

RawExchange raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds limit,
                         std::size_t piece_size, std::chrono::milliseconds pause) {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + limit;
    Socket socket(port);
    RawExchange exchange;
    char buffer[16 * 1024];
    const auto drain = [&] {  // reads what is there; true once the peer closed
        while (socket.wait(POLLIN, std::chrono::steady_clock::now() + 1ms)) {
            const ssize_t got = ::recv(socket.fd(), buffer, sizeof buffer, 0);
            if (got <= 0) return true;
            exchange.received.append(buffer, static_cast<std::size_t>(got));
        }
        return false;
    };
    for (std::size_t offset = 0; offset < bytes.size() && !exchange.closed_by_peer;) {
        if (!socket.wait(POLLOUT, deadline)) break;
        const std::size_t size = std::min(piece_size, bytes.size() - offset);
        const ssize_t sent = ::send(socket.fd(), bytes.data() + offset, size, MSG_NOSIGNAL);
        if (sent <= 0) {
            exchange.closed_by_peer = true;
            break;
        }
        offset += static_cast<std::size_t>(sent);
        if (pause.count() > 0) std::this_thread::sleep_for(pause);
        exchange.closed_by_peer = drain();
        if (std::chrono::steady_clock::now() >= deadline) break;
    }
    while (!exchange.closed_by_peer && socket.wait(POLLIN, deadline)) {
        const ssize_t got = ::recv(socket.fd(), buffer, sizeof buffer, 0);
        if (got <= 0) exchange.closed_by_peer = true;
        else exchange.received.append(buffer, static_cast<std::size_t>(got));
    }
    exchange.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return exchange;
}

int http_status_of(std::string_view received) {
    if (received.size() < 12 || received.substr(0, 5) != "HTTP/") return 0;
    const std::size_t space = received.find(' ');
    if (space == std::string_view::npos || space + 4 > received.size()) return 0;
    int status = 0;
    for (const char digit : received.substr(space + 1, 3)) {
        if (digit < '0' || digit > '9') return 0;
        status = status * 10 + (digit - '0');
    }
    return status;
}

std::string http_body_of(std::string_view received) {
    const std::size_t blank = received.find("\r\n\r\n");
    return blank == std::string_view::npos ? std::string() : std::string(received.substr(blank + 4));
}

}  // namespace loyalty::test
