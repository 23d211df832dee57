// Checkout at the till: what a durable purchase costs, from the bare SQLite baseline to the
// real daemon over loopback. Prints figures; exits non-zero only if a correctness check fails
// (every purchase acknowledged and counted once), never because something was slow.
//
//   checkout_bench [purchases per run, default 2000] [members in the till's database, default 100]
//                  [earlier purchases per member, default 0]
//
// The daemon's resident memory (VmRSS now, VmHWM peak, from /proc) is printed idle and after
// the load; the members are enrolled in its database before it starts, each with the given
// number of earlier purchases (a till in service holds every member's lots and purchases, and
// a checkout must not get slower as they grow).
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench_support.hpp"
#include "loyalty/http_client.hpp"
#include "loyalty/identifiers.hpp"
#include "loyalty/program.hpp"
#include "support/process.hpp"

namespace {

using namespace loyalty;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

using bench::machine;
using bench::scratch_dir;
using bench::seconds_since;

constexpr int member_count = 100;

// The baseline: one transaction per purchase writing the same number of rows a purchase
// writes (purchase, 2 lines, ledger entry, lot, allocation, activity, operation, outbox), with
// the till's durability, page size and checkpoint settings.
double bare_sqlite(const fs::path& file, const char* synchronous, int purchases) {
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    const std::string page_size = "PRAGMA page_size=" + std::to_string(Database::page_bytes);
    sqlite3_exec(db, page_size.c_str(), nullptr, nullptr, nullptr);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    sqlite3_exec(db, (std::string("PRAGMA synchronous=") + synchronous).c_str(), nullptr, nullptr, nullptr);
    const std::string checkpoint = "PRAGMA wal_autocheckpoint=" + std::to_string(Database::wal_checkpoint_pages);
    sqlite3_exec(db, checkpoint.c_str(), nullptr, nullptr, nullptr);
    sqlite3_exec(db, "CREATE TABLE rows(id INTEGER PRIMARY KEY, k TEXT, v INTEGER, payload TEXT)", nullptr,
                 nullptr, nullptr);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO rows(k, v, payload) VALUES (?, ?, ?)", -1, &insert, nullptr);
    const std::string payload(120, 'x');
    const auto start = Clock::now();
    for (int i = 0; i < purchases; ++i) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
        for (int row = 0; row < 9; ++row) {
            const std::string key = "T" + std::to_string(i) + "-" + std::to_string(row);
            sqlite3_bind_text(insert, 1, key.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(insert, 2, i);
            sqlite3_bind_text(insert, 3, payload.c_str(), -1, SQLITE_STATIC);
            sqlite3_step(insert);
            sqlite3_reset(insert);
        }
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
    const double elapsed = seconds_since(start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return purchases / elapsed;
}

std::string card(int n) {
    std::string payload = "600100" + std::string(9 - std::to_string(n).size(), '0') + std::to_string(n);
    return payload + luhn_check_digit(payload);
}

bool core_purchases(const fs::path& file, Durability durability, int purchases, double& per_second) {
    const SystemClock clock;
    Program program({file.string(), "B-T1", durability}, clock, parse_rules_text(default_rules_text()).value());
    // A realistic till serves many members; one member's history would grow without end.
    std::vector<std::string> members;
    for (int m = 0; m < member_count; ++m)
        members.push_back(program.enroll({card(m), "", "Bench", ""}).value().result.member_id);
    const auto start = Clock::now();
    for (int i = 0; i < purchases; ++i) {
        PurchaseRequest request{"T" + std::to_string(i), {members[static_cast<std::size_t>(i % member_count)], "", ""},
                                {{"MILK", "fresh", 2, 129, 0}, {"BREAD", "bakery", 1, 349, 0}}, 0};
        if (!program.purchase(request).ok()) return false;
    }
    per_second = purchases / seconds_since(start);
    const auto recorded =
        program.database().query_integer("SELECT COUNT(*) FROM outbox WHERE type = 'purchase'");
    return std::all_of(members.begin(), members.end(),
                       [&](const std::string& m) { return program.audit(m).consistent(); }) &&
           recorded == purchases;
}

// The till's database with `count` members, enrolled through the core as loyaltyd would, each
// with `history` earlier purchases; their ids and the points those purchases earned.
struct EnrolledTill {
    std::vector<std::string> members;
    std::vector<long> points_earned;
};

EnrolledTill enrolled_till(const fs::path& file, int count, int history) {
    const SystemClock clock;
    Program program({file.string(), "B-T1", Durability::normal}, clock, parse_rules_text(default_rules_text()).value());
    EnrolledTill till;
    for (int m = 0; m < count; ++m) {
        till.members.push_back(program.enroll({card(m), "", "Bench", ""}).value().result.member_id);
        till.points_earned.push_back(0);
        for (int h = 0; h < history; ++h) {
            const PurchaseRequest earlier{"H" + std::to_string(m) + "-" + std::to_string(h),
                                          {till.members.back(), "", ""}, {{"TEA", "grocery", 1, 1250, 0}}, 0};
            till.points_earned.back() += program.purchase(earlier).value().result.points_earned;
        }
    }
    return till;
}

void print_memory(const char* when, pid_t pid) {
    std::printf("loyaltyd memory %-12s VmRSS %6.1f MiB, VmHWM %6.1f MiB\n", when,
                static_cast<double>(bench::status_kib(pid, "VmRSS")) / 1024,
                static_cast<double>(bench::status_kib(pid, "VmHWM")) / 1024);
}

struct DaemonRun {
    double per_second = 0;
    long points_earned = 0;
    double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
    bool ok = true;
};

// `clients` keep-alive connections, each sending purchases back to back.
DaemonRun daemon_purchases(std::uint16_t port, const std::vector<std::string>& members, int clients, int purchases,
                           const std::string& prefix) {
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
    std::atomic<bool> ok = true;
    std::atomic<long> points_earned = 0;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            http::HttpClient client("127.0.0.1", port);
            for (int i = c; i < purchases; i += clients) {
                const nlohmann::json body = {
                    {"txn_id", prefix + std::to_string(i)}, {"member_id", members[static_cast<std::size_t>(i) % members.size()]},
                    {"lines", {{{"sku", "MILK"}, {"category", "fresh"}, {"quantity", 2}, {"unit_price_cents", 129}},
                               {{"sku", "BREAD"}, {"category", "bakery"}, {"quantity", 1}, {"unit_price_cents", 349}}}}};
                const auto sent = Clock::now();
                const auto response = client.request("POST", "/v1/purchases", body);
                if (response.status != 201) {
                    if (ok.exchange(false)) std::fprintf(stderr, "purchase answered %d: %s\n", response.status, response.body.c_str());
                }
                else points_earned += response.json()["points_earned"].get<long>();
                latencies[static_cast<std::size_t>(c)].push_back(seconds_since(sent) * 1000);
            }
        });
    for (auto& thread : threads) thread.join();
    DaemonRun run;
    run.per_second = purchases / seconds_since(start);
    std::vector<double> all;
    for (const auto& some : latencies) all.insert(all.end(), some.begin(), some.end());
    std::sort(all.begin(), all.end());
    run.p50_ms = all[all.size() / 2];
    run.p99_ms = all[all.size() * 99 / 100];
    // The rare slow purchase (the one that runs a WAL checkpoint) shows here, not in the p99.
    run.p999_ms = all[all.size() * 999 / 1000];
    run.max_ms = all.back();
    run.ok = ok;
    run.points_earned = points_earned;
    return run;
}

}  // namespace

int main(int argc, char** argv) {
    const int purchases = argc > 1 ? std::stoi(argv[1]) : 2000;
    const int till_members = argc > 2 ? std::stoi(argv[2]) : member_count;
    const int history = argc > 3 ? std::stoi(argv[3]) : 0;
    const fs::path dir = scratch_dir();
    bool ok = true;
    std::printf("checkout_bench: %d purchases per run on %s\n\n", purchases, machine().c_str());

    const double bare_full = bare_sqlite(dir / "bare-full.db", "FULL", purchases);
    const double bare_normal = bare_sqlite(dir / "bare-normal.db", "NORMAL", purchases);
    double core_full = 0, core_normal = 0;
    ok &= core_purchases(dir / "core-full.db", Durability::full, purchases, core_full);
    ok &= core_purchases(dir / "core-normal.db", Durability::normal, purchases, core_normal);
    std::printf("%-44s %10s %10s\n", "purchases per second", "FULL", "NORMAL");
    std::printf("%-44s %10.0f %10.0f\n", "bare SQLite, 9 rows per transaction", bare_full, bare_normal);
    std::printf("%-44s %10.0f %10.0f\n", "Program::purchase (core, no HTTP)", core_full, core_normal);
    std::printf("%-44s %10.2f %10.2f\n\n", "core / bare", core_full / bare_full, core_normal / bare_normal);

    bench::Stopwatch enrolment;
    const EnrolledTill till = enrolled_till(dir / "till.db", till_members, history);
    const std::vector<std::string>& members = till.members;
    std::printf("%d members with %d earlier purchases each enrolled in the till's database in %.1f s\n",
                till_members, history, enrolment.lap());
    test::ChildProcess daemon(LOYALTYD_PATH, {"--listen", "127.0.0.1:0", "--db", (dir / "till.db").string()}, {},
                              dir / "loyaltyd.log");
    const std::uint16_t port = daemon.wait_for_listening_port();
    http::HttpClient setup("127.0.0.1", port);
    setup.request("GET", "/v1/health");
    print_memory("idle", daemon.pid());
    std::printf("\nloyaltyd over loopback, durability FULL, %d members:\n", till_members);
    std::printf("%-12s %12s %10s %10s %10s %10s %14s\n", "connections", "purchases/s", "p50 ms", "p99 ms",
                "p99.9 ms", "max ms", "vs bare FULL");
    long points_earned = 0;
    for (const int clients : {1, 8}) {
        const DaemonRun run = daemon_purchases(port, members, clients, purchases, "C" + std::to_string(clients) + "-");
        ok &= run.ok;
        points_earned += run.points_earned;
        std::printf("%-12d %12.0f %10.2f %10.2f %10.2f %10.2f %14.2f\n", clients, run.per_second, run.p50_ms,
                    run.p99_ms, run.p999_ms, run.max_ms, run.per_second / bare_full);
    }
    std::printf("\n");
    print_memory("after load", daemon.pid());
    // Every acknowledged purchase counted exactly once (only the first `purchases` members bought).
    long balance = 0;
    for (std::size_t m = 0; m < members.size() && m < static_cast<std::size_t>(purchases); ++m)
        balance += setup.request("GET", "/v1/members/" + members[m]).json()["balance"].get<long>() -
                   till.points_earned[m];
    if (balance != points_earned) {
        std::printf("CHECK FAILED: balance %ld, acknowledged earnings %ld\n", balance, points_earned);
        ok = false;
    }
    daemon.terminate();
    daemon.wait_for_exit(std::chrono::seconds(10));
    fs::remove_all(dir);
    std::printf("%s\n", ok ? "correctness checks passed" : "CORRECTNESS CHECK FAILED");
    return ok ? 0 : 1;
}
