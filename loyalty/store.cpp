#include "loyalty/store.hpp"

#include <sqlite3.h>

#include "wal_batching_vfs.hpp"

namespace loyalty {

namespace {

[[noreturn]] void throw_error(sqlite3* db, int code, std::string_view what) {
    throw StorageError(code, std::string(what) + ": " +
                                 (db ? sqlite3_errmsg(db) : sqlite3_errstr(code)));
}

// SQLite rolls a whole transaction back on some failures (disk full, I/O error), and with it
// every write of a group so far.
[[noreturn]] void throw_group_lost() {
    throw StorageError(SQLITE_ABORT, "group commit: an earlier failure rolled the group's writes back");
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    const int code = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &statement_, nullptr);
    if (code != SQLITE_OK) throw_error(db_, code, "preparing \"" + std::string(sql) + "\"");
}

Statement::~Statement() { sqlite3_finalize(statement_); }

void Statement::check(int code) const {
    if (code != SQLITE_OK) throw_error(db_, code, sqlite3_sql(statement_));
}

void Statement::reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
}

void Statement::bind_one(int index, std::int64_t value) {
    check(sqlite3_bind_int64(statement_, index, value));
}

void Statement::bind_one(int index, std::string_view value) {
    check(sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
}

void Statement::bind_one(int index, double value) { check(sqlite3_bind_double(statement_, index, value)); }

void Statement::bind_one(int index, std::nullopt_t) { check(sqlite3_bind_null(statement_, index)); }

bool Statement::step() {
    const int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    const std::string sql = sqlite3_sql(statement_);
    sqlite3_reset(statement_);
    throw_error(db_, code, sql);
}

void Statement::run() {
    while (step()) {
    }
    sqlite3_reset(statement_);
}

std::int64_t Statement::integer(int column) const {
    return sqlite3_column_int64(statement_, column);
}

std::optional<std::int64_t> Statement::optional_integer(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
}

std::string_view Statement::text_view(int column) const {
    const auto* bytes = sqlite3_column_text(statement_, column);
    return bytes ? std::string_view(reinterpret_cast<const char*>(bytes),
                                    static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                 : std::string_view();
}

std::optional<double> Statement::optional_real(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(statement_, column);
}

std::string Statement::text(int column) const {
    const auto* bytes = sqlite3_column_text(statement_, column);
    return bytes ? std::string(reinterpret_cast<const char*>(bytes),
                               static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                 : std::string();
}

std::optional<std::string> Statement::optional_text(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
    return text(column);
}

Database::Database(const std::string& path, Durability durability,
                   const std::vector<Migration>& migrations) {
    const int code = sqlite3_open_v2(path.c_str(), &db_,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                     durability == Durability::full ? wal_batching_vfs() : nullptr);
    if (code != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
        sqlite3_close(db_);
        throw StorageError(code, "opening database " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    // A writer waits for another process's lock instead of failing at once.
    sqlite3_busy_timeout(db_, 5000);
    execute("PRAGMA page_size=" + std::to_string(page_bytes));  // before WAL mode creates the file
    execute("PRAGMA journal_mode=WAL");
    execute("PRAGMA foreign_keys=ON");
    // Deleted and overwritten content is zeroed, so that an erased member's personal data does
    // not live on in free pages (Debian's SQLite does this by default; others may not).
    execute("PRAGMA secure_delete=ON");
    execute(durability == Durability::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    execute("PRAGMA wal_autocheckpoint=" + std::to_string(wal_checkpoint_pages));
    migrate(migrations);
}

Database::~Database() {
    statements_.clear();  // statements must be finalised before the connection closes
    sqlite3_close(db_);
}

Statement& Database::prepare(std::string_view sql) {
    auto found = statements_.find(sql);
    if (found == statements_.end())
        found = statements_.emplace(std::string(sql), std::make_unique<Statement>(db_, sql)).first;
    return *found->second;
}

void Database::execute(std::string_view sql) {
    char* message = nullptr;
    const int code = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
    if (code != SQLITE_OK) {
        const std::string text = message ? message : sqlite3_errstr(code);
        sqlite3_free(message);
        throw StorageError(code, std::string(sql.substr(0, 80)) + ": " + text);
    }
}

int Database::schema_version() {
    return static_cast<int>(query_integer("PRAGMA user_version").value_or(0));
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

void Database::migrate(const std::vector<Migration>& migrations) {
    for (const Migration& migration : migrations) {
        if (migration.version <= schema_version()) continue;
        Transaction transaction(*this);
        execute(migration.sql);
        execute("PRAGMA user_version=" + std::to_string(migration.version));
        transaction.commit();
    }
}

void Database::migrate_component(const std::string& component,
                                 const std::vector<Migration>& migrations) {
    execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, "
            "version INTEGER NOT NULL) STRICT");
    for (const Migration& migration : migrations) {
        Transaction transaction(*this);
        const auto current =
            query_integer("SELECT version FROM schema_versions WHERE component = ?", component);
        if (current.value_or(0) >= migration.version) continue;
        execute(migration.sql);
        prepare("INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version")
            .bind(component, migration.version)
            .run();
        transaction.commit();
    }
}

void Database::backup_to(const std::string& destination) {
    sqlite3* target = nullptr;
    int code = sqlite3_open(destination.c_str(), &target);
    if (code == SQLITE_OK) {
        sqlite3_backup* backup = sqlite3_backup_init(target, "main", db_, "main");
        if (backup) {
            // Copies in steps so that writers are held up for short moments only.
            do {
                code = sqlite3_backup_step(backup, 256);
                if (code == SQLITE_BUSY || code == SQLITE_LOCKED) sqlite3_sleep(5);
            } while (code == SQLITE_OK || code == SQLITE_BUSY || code == SQLITE_LOCKED);
            sqlite3_backup_finish(backup);
        }
        code = sqlite3_errcode(target);
    }
    const std::string message = target ? sqlite3_errmsg(target) : sqlite3_errstr(code);
    sqlite3_close(target);
    if (code != SQLITE_OK) throw StorageError(code, "backup to " + destination + ": " + message);
}

void Database::begin_group() {
    // Each savepoint keeps the pages its request changes (a purchase: about 60 KB) in a statement
    // journal, which SQLite spills to a temporary file past 64 KiB unless temporary storage is
    // in memory; a group's journals are small and short-lived. Set once: the pragma drops the
    // connection's temporary tables. Only a saving: if it fails, the journals spill as before,
    // and begin_group() itself never throws (the HTTP server's group hooks must not).
    if (!group_journals_in_memory_) {
        sqlite3_exec(db_, "PRAGMA temp_store=MEMORY", nullptr, nullptr, nullptr);
        group_journals_in_memory_ = true;
    }
    group_ = Group::open;
}

void Database::commit_group_writes() {
    if (group_ == Group::lost) throw_group_lost();
    if (group_ != Group::begun) return;  // nothing written since the last commit
    group_ = Group::lost;                // until the commit below succeeds
    if (sqlite3_get_autocommit(db_)) throw_group_lost();
    try {
        prepare("COMMIT").run();
    } catch (const StorageError&) {
        // A COMMIT that failed may leave the transaction open: end it, keeping nothing.
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    group_ = Group::open;
}

void Database::end_group() {
    try {
        commit_group_writes();
    } catch (const StorageError&) {
        group_ = Group::none;
        throw;
    }
    group_ = Group::none;
}

// BEGIN, COMMIT and the savepoints run as cached statements: compiling them again for every
// transaction was about 2% of a purchase's instructions.
Transaction::Transaction(Database& database)
    : database_(database), in_group_(database.group_ != Database::Group::none) {
    if (!in_group_) {
        database_.prepare("BEGIN IMMEDIATE").run();
        return;
    }
    if (database_.group_ == Database::Group::lost) throw_group_lost();
    if (database_.group_ == Database::Group::open) {
        database_.prepare("BEGIN IMMEDIATE").run();
        database_.group_ = Database::Group::begun;
    } else if (sqlite3_get_autocommit(database_.handle())) {
        // A SAVEPOINT here would start a transaction of its own, committed apart from the group.
        database_.group_ = Database::Group::lost;
        throw_group_lost();
    }
    database_.prepare("SAVEPOINT request").run();
}

Transaction::~Transaction() {
    if (!open_) return;
    // A failed COMMIT may already have rolled back; ROLLBACK then fails harmlessly. So does
    // ROLLBACK TO when SQLite rolled the group's whole transaction back.
    sqlite3_exec(database_.handle(), in_group_ ? "ROLLBACK TO request; RELEASE request" : "ROLLBACK", nullptr,
                 nullptr, nullptr);
}

void Transaction::commit() {
    database_.prepare(in_group_ ? "RELEASE request" : "COMMIT").run();
    open_ = false;
}

}  // namespace loyalty
