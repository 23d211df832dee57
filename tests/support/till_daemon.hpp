// Test support for the reliability suite: a loyaltyd process over a database in a directory
// the test owns, started, SIGKILLed and started again on the same files; a dump of every
// table for "nothing changed" checks; and raw TCP exchanges for requests no HTTP client
// would send (invalid bytes, slow senders).
//
// Every wait is bounded. A TillDaemon still running when destroyed is SIGKILLed and reaped.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/http_client.hpp"
#include "support/process.hpp"

struct sqlite3;  // <sqlite3.h>

namespace loyalty::test {

class TillDaemon {
  public:
    // Writes `config` (loyaltyd's JSON config) to <directory>/till.json and starts `loyaltyd`
    // on 127.0.0.1 with an ephemeral port and the database <directory>/till.db. `env` is added
    // to the child's environment (e.g. LD_PRELOAD for a fault-injecting VFS).
    TillDaemon(std::filesystem::path loyaltyd, std::filesystem::path directory,
               nlohmann::json config = nlohmann::json::object(),
               std::map<std::string, std::string> env = {});

    // Starts the daemon again on the same files (after kill() or stop()).
    void start();
    // SIGKILL, then reaps it. Throws if it is still running after 30 s.
    ExitStatus kill();
    // SIGTERM, then reaps it. Throws if it is still running after 60 s.
    ExitStatus stop();

    http::HttpClient client(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
    std::uint16_t port() const { return port_; }
    std::filesystem::path database() const { return directory_ / "till.db"; }
    ChildProcess& process() { return *process_; }

  private:
    std::filesystem::path loyaltyd_;
    std::filesystem::path directory_;
    std::map<std::string, std::string> env_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
    std::uint16_t port_ = 0;
};

// A read-only connection to a database file, e.g. one a (killed) daemon wrote. Busy waits
// are bounded, so a live daemon's commit cannot stall a test.
class ReadOnlyDatabase {
  public:
    explicit ReadOnlyDatabase(const std::filesystem::path& path);
    ~ReadOnlyDatabase();
    ReadOnlyDatabase(const ReadOnlyDatabase&) = delete;
    ReadOnlyDatabase& operator=(const ReadOnlyDatabase&) = delete;

    // Each row of `sql` (with `text` bound to every ?), its columns rendered as text ('quoted'
    // strings, NULL, numbers) and joined by '|'. Throws std::runtime_error on a bad query.
    std::vector<std::string> rows(const std::string& sql, const std::optional<std::string>& text = {});
    // The integer in column 0 of the first row; throws when there is no row.
    std::int64_t integer(const std::string& sql, const std::optional<std::string>& text = {});

  private:
    ::sqlite3* db_ = nullptr;
};

// Every row of every table of the SQLite database at `path`, rendered as text and sorted, by
// table name. Two equal dumps mean the same content, whatever the pages look like.
using DatabaseDump = std::map<std::string, std::vector<std::string>>;
DatabaseDump dump_database(const std::filesystem::path& path);

// The names of the tables whose rows differ between two dumps (for failure messages).
std::vector<std::string> differing_tables(const DatabaseDump& before, const DatabaseDump& after);

// PRAGMA integrity_check's answer ("ok" when the file is sound).
std::string integrity_check(const std::filesystem::path& path);

// What a raw TCP exchange with 127.0.0.1:port saw.
struct RawExchange {
    std::string received;        // every byte the server sent
    bool closed_by_peer = false;  // the server closed (or reset) the connection before `limit`
    std::chrono::milliseconds elapsed{0};
};

// Connects, sends `bytes` in pieces of `piece_size` with `pause` between them (a slow sender
// when pause > 0), then reads until the server closes or `limit` passes since connecting.
RawExchange raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds limit,
                         std::size_t piece_size = 64 * 1024,
                         std::chrono::milliseconds pause = std::chrono::milliseconds(0));

// The status code of the first HTTP response in `received`, or 0 when there is none.
int http_status_of(std::string_view received);
// The body of the first HTTP response in `received` (after the blank line).
std::string http_body_of(std::string_view received);

}  // namespace loyalty::test
