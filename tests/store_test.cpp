#include "loyalty/store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include <catch2/catch.hpp>

#include "support/core_fixture.hpp"

using namespace loyalty;
using loyalty::testing::CoreFixture;
using loyalty::testing::TempDir;

namespace {

const std::vector<Migration> migrations = {
    {1, "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT;"},
    {2, "CREATE TABLE tags(item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT) STRICT;"},
};

void insert_item(Database& db, int id, const char* name) {
    db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(id, name).run();
}

}  // namespace

TEST_CASE("a database file opens in WAL mode with foreign keys and full sync by default") {
    CoreFixture fixture;
    Database& db = fixture.program->database();
    CHECK(db.query_text("PRAGMA journal_mode").value() == "wal");
    CHECK(db.query_integer("PRAGMA foreign_keys").value() == 1);
    CHECK(db.query_integer("PRAGMA synchronous").value() == 2);  // FULL
    CHECK(ProgramOptions{}.durability == Durability::full);
    CHECK(db.schema_version() >= 1);
}

TEST_CASE("normal durability is the WAL synchronous=NORMAL mode") {
    TempDir dir;
    Database db((dir.path() / "n.db").string(), Durability::normal, migrations);
    CHECK(db.query_integer("PRAGMA synchronous").value() == 1);
}

TEST_CASE("migrations run once, in order, and survive reopening") {
    TempDir dir;
    const std::string path = (dir.path() / "m.db").string();
    {
        Database db(path, Durability::full, {migrations[0]});
        CHECK(db.schema_version() == 1);
        insert_item(db, 1, "one");
    }
    Database db(path, Durability::full, migrations);
    CHECK(db.schema_version() == 2);
    CHECK(db.query_text("SELECT name FROM items WHERE id = ?", 1).value() == "one");
    // Foreign keys are enforced: a tag for a missing item is a storage error.
    CHECK_THROWS_AS(db.prepare("INSERT INTO tags(item_id, tag) VALUES (?, ?)").bind(99, "x").run(),
                    StorageError);
}

TEST_CASE("a transaction rolls back unless committed") {
    TempDir dir;
    Database db((dir.path() / "t.db").string(), Durability::full, migrations);
    {
        Transaction transaction(db);
        insert_item(db, 1, "lost");
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 0);
    {
        Transaction transaction(db);
        insert_item(db, 2, "kept");
        transaction.commit();
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 1);
    // A failing statement inside a transaction leaves nothing behind.
    try {
        Transaction transaction(db);
        insert_item(db, 3, "half");
        insert_item(db, 3, "again");
        transaction.commit();
    } catch (const StorageError&) {
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 1);
}

TEST_CASE("a group commits its transactions at once, and a transaction rolled back takes only its own writes") {
    TempDir dir;
    const std::string path = (dir.path() / "g.db").string();
    Database db(path, Durability::full, migrations);
    Database other(path, Durability::full, migrations);  // another connection: what it sees is committed
    const auto seen_elsewhere = [&] { return other.query_integer("SELECT COUNT(*) FROM items").value(); };

    db.begin_group();
    {
        Transaction first(db);
        insert_item(db, 1, "first");
        first.commit();
    }
    {
        Transaction refused(db);  // a request refused half-way: its writes go, the group's stay
        insert_item(db, 2, "refused");
    }
    {
        Transaction third(db);
        insert_item(db, 3, "third");
        third.commit();
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 2);  // the group reads its own writes
    CHECK(seen_elsewhere() == 0);                                          // nothing committed yet
    CHECK_FALSE(sqlite3_get_autocommit(db.handle()));                      // one transaction still open

    db.commit_group_writes();  // before a wait: committed, the group goes on
    CHECK(seen_elsewhere() == 2);
    {
        Transaction fourth(db);
        insert_item(db, 4, "fourth");
        fourth.commit();
    }
    CHECK(seen_elsewhere() == 2);
    db.end_group();
    CHECK(seen_elsewhere() == 3);
    CHECK(db.query_text("SELECT group_concat(name, ',') FROM (SELECT name FROM items ORDER BY id)").value() ==
          "first,third,fourth");

    // After the group, a Transaction is a transaction of its own again.
    {
        Transaction alone(db);
        insert_item(db, 5, "alone");
        alone.commit();
    }
    CHECK(seen_elsewhere() == 4);
    // A group that wrote nothing commits nothing and ends cleanly.
    db.begin_group();
    db.end_group();
    CHECK(sqlite3_get_autocommit(db.handle()));
}

TEST_CASE("a group whose transaction was rolled back under it keeps nothing and says so") {
    TempDir dir;
    Database db((dir.path() / "lost.db").string(), Durability::full, migrations);
    db.begin_group();
    {
        Transaction first(db);
        insert_item(db, 1, "first");
        first.commit();
    }
    // What SQLite does on a disk full or I/O error inside a transaction: it rolls all of it back.
    sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    // A later request's write would otherwise commit on its own, apart from the group.
    CHECK_THROWS_AS(Transaction{db}, StorageError);
    CHECK_THROWS_AS(db.end_group(), StorageError);
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 0);
    // The next group starts afresh.
    db.begin_group();
    {
        Transaction again(db);
        insert_item(db, 1, "again");
        again.commit();
    }
    db.end_group();
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 1);
}

TEST_CASE("the write-ahead log is copied into the database every 10,000 pages and then reused") {
    TempDir dir;
    const std::filesystem::path path = dir.path() / "w.db";
    const std::string log = path.string() + "-wal";
    Database db(path.string(), Durability::normal, migrations);
    CHECK(db.query_integer("PRAGMA wal_autocheckpoint").value() == Database::wal_checkpoint_pages);
    const auto page_bytes = static_cast<std::uintmax_t>(db.query_integer("PRAGMA page_size").value());
    const std::uintmax_t frame_bytes = page_bytes + 24;
    // Each transaction replaces 100 rows of half a page: at least 50 pages of log, so 600 of
    // them write three times the threshold.
    const std::string rewrite = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                                "INSERT INTO items(name) SELECT hex(randomblob(" + std::to_string(page_bytes / 4) +
                                ")) FROM n";
    constexpr int transactions = 600;
    std::uintmax_t largest_log = 0;
    std::uintmax_t largest_growth = 0;  // one transaction's frames, at most
    for (int t = 0; t < transactions; ++t) {
        Transaction transaction(db);
        db.execute("DELETE FROM items");
        db.execute(rewrite);
        transaction.commit();
        const std::uintmax_t size = std::filesystem::file_size(log);
        if (size > largest_log) largest_growth = std::max(largest_growth, size - largest_log);
        largest_log = std::max(largest_log, size);
    }
    // The log never held much more than the threshold: after each checkpoint it started again
    // from its top (without checkpoints it would have grown to 30,000 pages and more).
    CHECK(largest_log >= Database::wal_checkpoint_pages * frame_bytes);
    CHECK(largest_log <= Database::wal_checkpoint_pages * frame_bytes + 2 * largest_growth);
    CHECK(largest_growth < 1000 * frame_bytes);
}

TEST_CASE("new databases have 2 KiB pages, an existing one keeps its own and backs up") {
    TempDir dir;
    Database fresh((dir.path() / "new.db").string(), Durability::full, migrations);
    CHECK(fresh.query_integer("PRAGMA page_size").value() == Database::page_bytes);
    // A till's file from before: SQLite's default 4 KiB pages, in WAL mode, with a row.
    const std::string old_path = (dir.path() / "old.db").string();
    {
        sqlite3* old = nullptr;
        REQUIRE(sqlite3_open(old_path.c_str(), &old) == SQLITE_OK);
        REQUIRE(sqlite3_exec(old, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; "
                                  "CREATE TABLE earlier(name TEXT); INSERT INTO earlier VALUES ('kept');",
                             nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(old);
    }
    {
        Database old(old_path, Durability::full, migrations);
        CHECK(old.query_integer("PRAGMA page_size").value() == 4096);
        CHECK(old.query_text("SELECT name FROM earlier").value() == "kept");
        insert_item(old, 1, "added");
        old.backup_to((dir.path() / "copy.db").string());
    }
    Database copy((dir.path() / "copy.db").string(), Durability::full, migrations);
    CHECK(copy.query_text("SELECT name FROM earlier").value() == "kept");
    CHECK(copy.query_text("SELECT name FROM items WHERE id = 1").value() == "added");
    CHECK(copy.query_text("PRAGMA quick_check").value() == "ok");
}

TEST_CASE("prepared statements are cached and bind NULLs") {
    TempDir dir;
    Database db((dir.path() / "s.db").string(), Durability::full, migrations);
    Statement& first = db.prepare("SELECT ?");
    CHECK(&first == &db.prepare("SELECT ?"));
    CHECK_FALSE(db.query_integer("SELECT ?", std::optional<std::int64_t>{}).has_value());
    CHECK(db.query_integer("SELECT ?", std::optional<std::int64_t>{7}).value() == 7);
}

TEST_CASE("a database that cannot be opened is a StorageError") {
    TempDir dir;
    CHECK_THROWS_AS(Database((dir.path() / "missing" / "x.db").string(), Durability::full, migrations),
                    StorageError);
}

TEST_CASE("reopening the till's file keeps members, points, operations and the outbox") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {testing::line("A", "food", 2, 1050)});
    const auto before = fixture.snapshot();
    const auto summary_before = fixture.summary(member);
    fixture.reopen();
    CHECK(fixture.snapshot() == before);
    const auto summary_after = fixture.summary(member);
    CHECK(summary_after.balance == summary_before.balance);
    CHECK(summary_after.points == 21);
    // The idempotency record survived too: the replay is recognised after the restart.
    auto replay = fixture.program->purchase(
        testing::sale("T-1", member, {testing::line("A", "food", 2, 1050)}));
    REQUIRE(replay.ok());
    CHECK(replay->replayed);
    CHECK(fixture.snapshot() == before);
}

TEST_CASE("the stored rules are kept on reopening and older rules do not replace them") {
    CoreFixture fixture(testing::rules_with({{"version", 3}}));
    CHECK(fixture.program->rules().version == 3);
    const RuleSet older = testing::rules_with({{"version", 2}, {"earn", {{"points_per_unit", 5}}}});
    Program reopened({fixture.database_path(), "S01-T1"}, fixture.clock, older);
    CHECK(reopened.rules().version == 3);
    CHECK(reopened.rules().earn.points_per_unit == 100);
    auto conflict = reopened.install_rules(testing::rules_with({{"version", 3}, {"unit_cents", 10}}));
    REQUIRE_FALSE(conflict.ok());
    CHECK(conflict.error().kind == ErrorKind::conflict);
    CHECK(reopened.install_rules(testing::rules_with({{"version", 4}})).ok());
    CHECK(reopened.rules().version == 4);
}

TEST_CASE("a backup copy is a complete database") {
    CoreFixture fixture;
    const std::string member = fixture.enroll(1);
    fixture.buy("T-1", member, {testing::line("A", "food", 1, 1000)});
    const std::string copy = (fixture.dir.path() / "backup.db").string();
    fixture.program->database().backup_to(copy);
    ManualClock clock(testing::test_start());
    Program restored({copy, "S01-T1"}, clock, testing::rules_with());
    CHECK(restored.summary(member)->balance == 10);
    CHECK(restored.audit(member).consistent());
}
