#include "loyalty/store.hpp"

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
        db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(1, "one").run();
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
        db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(1, "lost").run();
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 0);
    {
        Transaction transaction(db);
        db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(2, "kept").run();
        transaction.commit();
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 1);
    // A failing statement inside a transaction leaves nothing behind.
    try {
        Transaction transaction(db);
        db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(3, "half").run();
        db.prepare("INSERT INTO items(id, name) VALUES (?, ?)").bind(3, "again").run();
        transaction.commit();
    } catch (const StorageError&) {
    }
    CHECK(db.query_integer("SELECT COUNT(*) FROM items").value() == 1);
}

TEST_CASE("the write-ahead log is copied into the database every 10,000 pages and then reused") {
    TempDir dir;
    const std::filesystem::path path = dir.path() / "w.db";
    Database db(path.string(), Durability::normal, migrations);
    CHECK(db.query_integer("PRAGMA wal_autocheckpoint").value() == Database::wal_checkpoint_pages);
    // Each transaction rewrites 100 rows of a page each: about 200 pages of log, 30,000 in all.
    constexpr int transactions = 150;
    constexpr std::uintmax_t pages_per_transaction = 200;
    std::uintmax_t largest_log = 0;
    for (int t = 0; t < transactions; ++t) {
        Transaction transaction(db);
        db.execute("DELETE FROM items");
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                   "INSERT INTO items(name) SELECT hex(randomblob(2000)) FROM n");
        transaction.commit();
        largest_log = std::max(largest_log, std::filesystem::file_size(path.string() + "-wal"));
    }
    // The log never held much more than the threshold: after each checkpoint it started again
    // from its top (without checkpoints it would have grown to 30,000 pages).
    const auto frame_bytes = static_cast<std::uintmax_t>(db.query_integer("PRAGMA page_size").value()) + 24;
    CHECK(largest_log <= (Database::wal_checkpoint_pages + 2 * pages_per_transaction) * frame_bytes);
    CHECK(largest_log >= Database::wal_checkpoint_pages * frame_bytes);
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
