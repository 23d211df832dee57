// The VFS that writes a commit's WAL frames with one call (loyalty/wal_batching_vfs.hpp), on
// real database files: a connection with full durability goes through it, and the test's
// fault-injecting VFS (tests/support/faulty_vfs) under it counts and fails the writes that reach
// the file. A second connection with normal durability reads the file through the default VFS.
#include <catch2/catch.hpp>
#include <string>

#include "loyalty/store.hpp"
#include "support/core_fixture.hpp"
#include "support/faulty_vfs.hpp"

using namespace loyalty;
using loyalty::testing::TempDir;
namespace faulty_vfs = loyalty::test::faulty_vfs;

namespace {

const std::vector<Migration> migrations = {
    {1, "CREATE TABLE rows(id INTEGER PRIMARY KEY, payload TEXT NOT NULL) STRICT;"},
};

// Row `id`'s payload: `bytes` of one letter that depends on the id.
std::string payload_of(int id, std::size_t bytes) { return std::string(bytes, static_cast<char>('A' + id % 26)); }

void insert_rows(Database& db, int first, int count, std::size_t bytes) {
    Transaction transaction(db);
    for (int id = first; id < first + count; ++id)
        db.prepare("INSERT INTO rows(id, payload) VALUES (?, ?)").bind(id, payload_of(id, bytes)).run();
    transaction.commit();
}

// Rows whose payload is what insert_rows wrote, read by another connection.
std::int64_t intact_rows(const std::string& path, std::size_t bytes) {
    Database reader(path, Durability::normal, migrations);
    std::int64_t intact = 0;
    Statement& rows = reader.prepare("SELECT id, payload FROM rows");
    while (rows.step()) intact += rows.text(1) == payload_of(static_cast<int>(rows.integer(0)), bytes) ? 1 : 0;
    rows.reset();
    CHECK(reader.query_text("PRAGMA integrity_check").value() == "ok");
    return intact;
}

struct Counting {
    Counting() { faulty_vfs::install(); }
    ~Counting() { faulty_vfs::disarm(); }
};

}  // namespace

TEST_CASE("a commit's log frames reach the file in one write, and another connection reads them at once",
          "[wal_batching_vfs]") {
    Counting counting;
    TempDir dir;
    const std::string path = (dir.path() / "till.db").string();
    Database db(path, Durability::full, migrations);
    insert_rows(db, 1, 1, 100);

    faulty_vfs::arm({1'000'000});  // counts, never fails
    insert_rows(db, 2, 200, 100);  // about twenty 2 KiB pages
    // One write of the gathered frames and one sync; without the gathering, two writes a page.
    CHECK(faulty_vfs::operations_seen() == 2);
    CHECK(intact_rows(path, 100) == 201);
}

TEST_CASE("a transaction larger than the page cache and the gathering limit reads back its own pages",
          "[wal_batching_vfs]") {
    TempDir dir;
    const std::string path = (dir.path() / "till.db").string();
    Database db(path, Durability::full, migrations);
    db.prepare("PRAGMA cache_size = 8").step();  // spills to the log mid-transaction
    {
        Transaction transaction(db);
        for (int id = 1; id <= 5'000; ++id)  // 5 MB: written every 128 KiB gathered
            db.prepare("INSERT INTO rows(id, payload) VALUES (?, ?)").bind(id, payload_of(id, 1'000)).run();
        CHECK(db.query_integer("SELECT COUNT(*) FROM rows WHERE payload = ?", payload_of(4'321, 1'000)).value() ==
              193);  // every 26th id, most of them read back from pages spilled to the log
        CHECK(db.query_integer("SELECT SUM(LENGTH(payload)) FROM rows").value() == 5'000'000);
        transaction.commit();
    }
    CHECK(intact_rows(path, 1'000) == 5'000);
}

TEST_CASE("the log written again from its start after a checkpoint keeps every commit", "[wal_batching_vfs]") {
    TempDir dir;
    const std::string path = (dir.path() / "till.db").string();
    Database db(path, Durability::full, migrations);
    for (int round = 0; round < 3; ++round) {
        insert_rows(db, round * 100 + 1, 50, 300);
        CHECK(db.query_integer("PRAGMA wal_checkpoint(TRUNCATE)").value() == 0);  // not busy
        insert_rows(db, round * 100 + 51, 50, 300);
    }
    CHECK(intact_rows(path, 300) == 300);
}

TEST_CASE("a failed write of the gathered frames fails the commit and keeps none of it", "[wal_batching_vfs]") {
    Counting counting;
    TempDir dir;
    const std::string path = (dir.path() / "till.db").string();
    Database db(path, Durability::full, migrations);
    insert_rows(db, 1, 10, 100);

    faulty_vfs::arm({1});  // the first write: the frames gathered for the commit
    CHECK_THROWS_AS(insert_rows(db, 11, 200, 100), StorageError);
    CHECK(faulty_vfs::faults_injected() == 1);
    faulty_vfs::disarm();
    CHECK(db.query_integer("SELECT COUNT(*) FROM rows").value() == 10);
    insert_rows(db, 11, 200, 100);
    CHECK(intact_rows(path, 100) == 210);
}
