// Disk faults under the ledger: a SQLite VFS shim (tests/support/faulty_vfs) fails the Nth write
// or sync of a purchase with an I/O error or "disk full", once or from then on, for every N
// until the purchase needs no more writes. Whatever N: a failed write is never acknowledged,
// the program keeps running, PRAGMA integrity_check stays ok, the ledger stays consistent, and
// once the fault clears the same purchase goes through exactly once. Then loyaltyd itself on a
// full disk: 503 for the sale, /v1/health says so, and it recovers when space comes back.
#include "support/faulty_vfs.hpp"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <optional>

#include "support/core_fixture.hpp"
#include "support/till_daemon.hpp"

namespace {

using loyalty::ErrorKind;
using loyalty::testing::CoreFixture;
using loyalty::testing::line;
using loyalty::testing::sale;
namespace faulty_vfs = loyalty::test::faulty_vfs;
using nlohmann::json;
using namespace std::chrono_literals;

struct Sweep {
    const char* name;
    int error;  // 0: SQLITE_IOERR_WRITE for writes, SQLITE_IOERR_FSYNC for syncs
    bool persistent;
};

const std::vector<Sweep> sweeps = {{"I/O error once", 0, false},
                                   {"I/O error from then on", 0, true},
                                   {"disk full once", SQLITE_FULL, false},
                                   {"disk full from then on", SQLITE_FULL, true}};

// The shim, installed before the till opens its database so that its connection uses it.
struct ShimInstalled {
    ShimInstalled() { faulty_vfs::install(); }
};

// A till on the shim whose member has points.
struct FaultyTill : ShimInstalled, CoreFixture {
    std::string member_id = enroll(1);

    FaultyTill() { buy("T-0", member_id, {line("x", "grocery", 3, 1000)}); }
};

// Runs `attempt(n)` with the shim failing the n-th write or sync (once or from then on, as
// `sweep` says), for n = 1, 2, ... until an attempt meets no fault, each followed by `check(n,
// clean_run)` with the shim disarmed. `attempt` returns whether the storage refused its work.
// The sweep must reach a clean attempt and see at least two refused (else it tested nothing).
void sweep_faults(const Sweep& sweep, int limit, const std::function<bool(int)>& attempt,
                  const std::function<void(int, bool)>& check) {
    int failures = 0;
    bool clean_run = false;
    for (int n = 1; n <= limit && !clean_run; ++n) {
        INFO("fault at write or sync " << n);
        faulty_vfs::arm({n, sweep.persistent, sweep.error});
        const bool refused = attempt(n);
        const int injected = faulty_vfs::faults_injected();
        faulty_vfs::disarm();
        clean_run = injected == 0;
        failures += refused && !clean_run;
        check(n, clean_run);
    }
    CHECK(clean_run);      // the sweep reached an attempt with no write left to fail
    CHECK(failures >= 2);  // and the shim did fail some (the sweep is not vacuous)
}

// Outbox sequence numbers are 1..n without gaps or repeats.
bool outbox_contiguous(loyalty::Program& program) {
    auto& db = program.database();
    const auto count = db.query_integer("SELECT COUNT(*) FROM outbox").value_or(-1);
    const auto last = db.query_integer("SELECT COALESCE(MAX(seq), 0) FROM outbox").value_or(-2);
    const auto first = db.query_integer("SELECT COALESCE(MIN(seq), 1) FROM outbox").value_or(-3);
    return count == last && first == 1;
}

std::int64_t purchases_with(loyalty::Program& program, const std::string& txn_id) {
    return program.database().query_integer("SELECT COUNT(*) FROM purchases WHERE txn_id = ?", txn_id).value_or(-1);
}

}  // namespace

TEST_CASE("a write or sync failing at any point of a purchase is never acknowledged and heals",
          "[reliability][disk]") {
    const Sweep sweep = GENERATE(from_range(sweeps));
    INFO(sweep.name);
    FaultyTill till;
    std::optional<loyalty::Result<loyalty::Recorded<loyalty::PurchaseResult>>> first;
    const auto request = [&](int n) {
        return sale("T-" + std::to_string(n), till.member_id, {line("x", "grocery", 2, 750), line("y", "fresh", 1, 120)}, 10);
    };
    sweep_faults(
        sweep, 200,
        [&](int n) {
            first = till.program->purchase(request(n));
            return !first->ok();
        },
        [&](int n, bool clean_run) {
            if (clean_run) {
                REQUIRE(first->ok());  // past the last write: an ordinary purchase
            } else if (!first->ok()) {
                INFO(first->error().message);
                CHECK(first->error().kind == ErrorKind::unavailable);
                CHECK(first->error().code == "storage_unavailable");
            }
            // Nothing half-written, whatever happened, and the program still works.
            CHECK(loyalty::test::integrity_check(till.database_path()) == "ok");
            till.check_invariants(till.member_id);
            CHECK(outbox_contiguous(*till.program));
            // The POS retries what was not acknowledged: it lands once (a first commit, or the
            // answer of a commit that reached the disk although its caller heard of a failure).
            auto retry = till.program->purchase(request(n));
            INFO((retry.ok() ? "" : retry.error().message));
            REQUIRE(retry.ok());
            if (first->ok()) CHECK(retry->replayed);
            CHECK(purchases_with(*till.program, request(n).txn_id) == 1);
            // And it survives a restart.
            till.reopen();
            CHECK(purchases_with(*till.program, request(n).txn_id) == 1);
            till.check_invariants(till.member_id);
            CHECK(outbox_contiguous(*till.program));
            CHECK(loyalty::test::integrity_check(till.database_path()) == "ok");
        });
}

TEST_CASE("a write or sync failing at any point of a group commit acknowledges none of the group",
          "[reliability][disk]") {
    const Sweep sweep = GENERATE(from_range(sweeps));
    INFO(sweep.name);
    FaultyTill till;
    // Three requests that queued together (loyaltyd's handler thread): the middle one is refused
    // (more points than the member has), the others recorded.
    const auto group = [&](int n) {
        const std::string suffix = std::to_string(n);
        return std::vector<loyalty::PurchaseRequest>{
            sale("A-" + suffix, till.member_id, {line("x", "grocery", 2, 750)}),
            sale("B-" + suffix, till.member_id, {line("y", "fresh", 1, 120)}, 1'000'000),
            sale("C-" + suffix, till.member_id, {line("z", "grocery", 1, 990)})};
    };
    std::vector<bool> answered_ok;
    std::optional<loyalty::Result<loyalty::Done>> ended;
    sweep_faults(
        sweep, 300,
        [&](int n) {
            till.program->begin_group();
            answered_ok.clear();
            for (const auto& request : group(n)) answered_ok.push_back(till.program->purchase(request).ok());
            ended = till.program->end_group();
            return !ended->ok();
        },
        [&](int n, bool clean_run) {
            const auto requests = group(n);
            CHECK_FALSE(answered_ok[1]);
            if (clean_run) REQUIRE((answered_ok[0] && answered_ok[2] && ended->ok()));
            if (!ended->ok()) CHECK(ended->error().code == "storage_unavailable");
            // Acknowledged (answered ok and the group kept) means recorded once. A group that
            // failed acknowledged nothing, and its commit is all or nothing: the sales answered
            // ok inside it are both there (a commit that reached the disk although it reported a
            // failure) or both gone.
            const std::int64_t first = purchases_with(*till.program, requests[0].txn_id);
            const std::int64_t third = purchases_with(*till.program, requests[2].txn_id);
            if (ended->ok()) {
                if (answered_ok[0]) CHECK(first == 1);
                if (answered_ok[2]) CHECK(third == 1);
            } else if (answered_ok[0] && answered_ok[2]) {
                CHECK(first == third);
            }
            CHECK(purchases_with(*till.program, requests[1].txn_id) == 0);
            CHECK(loyalty::test::integrity_check(till.database_path()) == "ok");
            till.check_invariants(till.member_id);
            CHECK(outbox_contiguous(*till.program));
            // The POS retries what was not acknowledged, one request at a time: each lands once.
            for (const auto& request : {requests[0], requests[2]}) {
                auto retry = till.program->purchase(request);
                INFO((retry.ok() ? "" : retry.error().message));
                REQUIRE(retry.ok());
                CHECK(purchases_with(*till.program, request.txn_id) == 1);
            }
            CHECK(till.program->purchase(requests[1]).error().kind == ErrorKind::refused);
            till.reopen();
            CHECK(purchases_with(*till.program, requests[0].txn_id) == 1);
            CHECK(purchases_with(*till.program, requests[2].txn_id) == 1);
            till.check_invariants(till.member_id);
            CHECK(outbox_contiguous(*till.program));
        });
}

TEST_CASE("loyaltyd on a full disk refuses sales with 503, says so in /v1/health and recovers",
          "[reliability][disk]") {
    loyalty::testing::TempDir directory;
    const auto marker = directory.path() / "disk-full";
    std::string asan_options = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
    asan_options += (asan_options.empty() ? "" : ":") + std::string("verify_asan_link_order=0");
    loyalty::test::TillDaemon till(LOYALTYD_PATH, directory.path(), json::object(),
                                   {{"LD_PRELOAD", LOYALTY_FAULTY_VFS_PATH},
                                    {"LOYALTY_FAULT_FILE", marker.string()},
                                    {"ASAN_OPTIONS", asan_options}});
    auto client = till.client();
    const auto enrolled =
        client.request("POST", "/v1/members", json{{"card", loyalty::testing::valid_card(1)}, {"name", "Ann"}});
    REQUIRE(enrolled.status == 201);
    const std::string member_id = enrolled.json().at("member_id");
    const auto purchase = [&](const std::string& txn_id) {
        return client.request("POST", "/v1/purchases",
                              json{{"txn_id", txn_id}, {"member_id", member_id},
                                   {"lines", {{{"sku", "x"}, {"category", "grocery"}, {"quantity", 1},
                                               {"unit_price_cents", 2500}}}}});
    };
    REQUIRE(purchase("T-1").status == 201);
    const auto healthy = client.request("GET", "/v1/health");
    CHECK(healthy.status == 200);
    CHECK(healthy.json().at("storage").at("ok") == true);

    std::ofstream(marker) << "full";
    for (int attempt = 0; attempt < 3; ++attempt) {
        const auto refused = purchase("T-2");
        INFO(refused.body);
        CHECK(refused.status == 503);
        CHECK(refused.json().at("error").at("code") == "storage_unavailable");
    }
    const auto sick = client.request("GET", "/v1/health");
    INFO(sick.body);
    CHECK(sick.status == 503);
    CHECK(sick.json().at("status") == "storage_failing");
    CHECK(sick.json().at("storage").at("ok") == false);
    CHECK(sick.json().at("storage").at("last_error").get<std::string>().find("full") != std::string::npos);
    CHECK(client.request("GET", "/v1/members/" + member_id).json().at("points") == 25);  // reads still work

    std::filesystem::remove(marker);
    CHECK(purchase("T-2").status == 201);
    CHECK(purchase("T-2").status == 200);
    const auto recovered = client.request("GET", "/v1/health");
    CHECK(recovered.status == 200);
    CHECK(recovered.json().at("status") == "ok");
    CHECK(till.stop().code == 0);
    CHECK(loyalty::test::integrity_check(till.database()) == "ok");
    const auto dump = loyalty::test::dump_database(till.database());
    CHECK(dump.at("purchases").size() == 2);
}
