// One SQLite database file: the connection, its cached prepared statements, transactions and
// the versioned schema migrations. WAL mode and foreign keys are always on. Writers take the
// lock up front (BEGIN IMMEDIATE) so that two writers never deadlock half-way.
//
// A Database is not thread-safe: give each thread its own, or serialise access. Storage
// failures (disk full, I/O error, corruption) throw StorageError; the caller's transaction
// is then rolled back by its destructor, so nothing half-written survives.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace loyalty {

class StorageError : public std::runtime_error {
public:
    StorageError(int sqlite_code, const std::string& message)
        : std::runtime_error(message), sqlite_code_(sqlite_code) {}
    int sqlite_code() const { return sqlite_code_; }

private:
    int sqlite_code_;
};

// How hard a commit works to survive power loss.
enum class Durability {
    full,    // fsync on every commit: an acknowledged purchase survives power loss (default)
    normal,  // WAL synchronous=NORMAL: survives a crash of the process, may lose the last
             // commits on power loss; faster
};

class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // Binds parameters 1..n in order; std::nullopt binds NULL.
    template <class... Values>
    Statement& bind(const Values&... values) {
        reset();
        int index = 1;
        (bind_one(index++, values), ...);
        return *this;
    }

    bool step();     // true while a row is available
    void run();      // steps a statement that returns no rows
    void reset();

    std::int64_t integer(int column) const;
    std::optional<std::int64_t> optional_integer(int column) const;
    std::optional<double> optional_real(int column) const;
    std::string text(int column) const;
    // The text without a copy; valid until the next step, reset or bind.
    std::string_view text_view(int column) const;
    std::optional<std::string> optional_text(int column) const;

private:
    void bind_one(int index, std::int64_t value);
    void bind_one(int index, int value) { bind_one(index, std::int64_t{value}); }
    void bind_one(int index, double value);
    void bind_one(int index, std::string_view value);
    void bind_one(int index, const std::string& value) { bind_one(index, std::string_view{value}); }
    void bind_one(int index, const char* value) { bind_one(index, std::string_view{value}); }
    void bind_one(int index, std::nullopt_t);
    template <class T>
    void bind_one(int index, const std::optional<T>& value) {
        if (value) bind_one(index, *value); else bind_one(index, std::nullopt);
    }
    void check(int code) const;

    sqlite3* db_;
    sqlite3_stmt* statement_ = nullptr;
};

// A schema migration: applied once, in order, inside a transaction.
struct Migration {
    int version;
    std::string_view sql;
};

class Database {
public:
    // Every connection copies its write-ahead log into the database file once the log holds
    // this many pages (about 20 MiB), not at SQLite's 1,000. A checkpoint copies each page's
    // latest version once, so fewer of them write the same hot index pages fewer times; and the
    // commit that runs one waits for it: a purchase writes about 30 pages, so at 1,000 pages one
    // purchase in 35-45 waited (the checkout's p99), at 10,000 one in 300-450; head office's
    // ingest went from 2,076 to 3,235 events/s (docs/BENCHMARKS.md). Durability is the log's
    // fsync at each commit, unchanged.
    static constexpr int wal_checkpoint_pages = 10'000;
    // The page size of a database this creates; a file that exists keeps its own (SQLite changes
    // it only by a VACUUM outside WAL mode). The log writes every page a commit touches whole,
    // and a purchase touches one leaf in each of about twenty tables and indexes: at SQLite's
    // 4 KiB a purchase wrote 126 KB to the log and fsynced it, at 2 KiB 67 KB, and
    // `Program::purchase` did 9 to 33% more a second with durability full (docs/BENCHMARKS.md).
    // Rows up to about 2,000 bytes still fit in one page.
    static constexpr int page_bytes = 2048;

    // Opens (creating if needed) and migrates the file at `path` to the latest schema.
    // Throws StorageError if the file cannot be opened or migrated.
    Database(const std::string& path, Durability durability,
             const std::vector<Migration>& migrations);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // A cached prepared statement for `sql` (compiled once per connection).
    Statement& prepare(std::string_view sql);
    void execute(std::string_view sql);  // one-off statements and pragmas

    // The first column of the first row, or nullopt if there is no row or it is NULL.
    template <class... Values>
    std::optional<std::int64_t> query_integer(std::string_view sql, const Values&... values) {
        Statement& statement = prepare(sql);
        statement.bind(values...);
        std::optional<std::int64_t> value;
        if (statement.step()) value = statement.optional_integer(0);
        statement.reset();
        return value;
    }
    template <class... Values>
    std::optional<std::string> query_text(std::string_view sql, const Values&... values) {
        Statement& statement = prepare(sql);
        statement.bind(values...);
        std::optional<std::string> value;
        if (statement.step()) value = statement.optional_text(0);
        statement.reset();
        return value;
    }
    int schema_version();
    std::int64_t changes() const;
    sqlite3* handle() { return db_; }

    // Applies another component's migrations (e.g. head office's own tables beside the
    // programme's), versioned separately in the schema_versions table.
    void migrate_component(const std::string& component, const std::vector<Migration>& migrations);

    // Copies the whole database to `destination` while it stays usable (online backup API).
    void backup_to(const std::string& destination);

    // Group commit: from begin_group() to end_group(), every Transaction on this connection is a
    // savepoint inside one transaction (begun by the first of them), so that the writes of
    // several requests reach the disk with one fsync. A Transaction rolled back takes back only
    // its own writes. Other connections see nothing of the group, and nothing of it is durable,
    // before it is committed: the caller answers the group's requests only after end_group().
    // Never throws.
    void begin_group();
    // Commits what the group wrote so far and keeps the group open: before a wait that must not
    // hold the write lock. Throws StorageError when the commit fails or SQLite already rolled the
    // group's transaction back (disk full, I/O error); the group is then lost: its later
    // Transactions and end_group() throw too, and none of its writes since the last commit were kept.
    void commit_group_writes();
    // Commits the rest and ends the group; throws StorageError as commit_group_writes() does.
    void end_group();

private:
    friend class Transaction;
    enum class Group { none, open, begun, lost };  // begun: its transaction is open
    // Finds a statement by its SQL text without building a std::string for every lookup.
    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
    };

    void migrate(const std::vector<Migration>& migrations);

    sqlite3* db_ = nullptr;
    Group group_ = Group::none;
    bool group_journals_in_memory_ = false;
    std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> statements_;
};

// RAII write transaction: BEGIN IMMEDIATE on construction, ROLLBACK in the destructor unless
// commit() was called. Inside a group (Database::begin_group) it is a savepoint of the group's
// transaction instead, released by commit() and rolled back to by the destructor; a group whose
// transaction SQLite has rolled back refuses it with StorageError. The destructor never throws.
class Transaction {
public:
    explicit Transaction(Database& database);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& database_;
    bool in_group_;
    bool open_ = true;
};

}  // namespace loyalty
