// Fuzzes loyaltyd's HTTP request -> command path without sockets: the real routes
// (pos/till_api.cpp) over a real Program, reached through the Router as the server reaches them.
//
// Input: "<METHOD> <target>\n<body>", e.g. "POST /v1/purchases\n{...}". What must hold: a
// handler either answers or refuses with RequestError; nothing else is thrown (that would be a
// 500), nothing crashes, no answer or refusal is a 5xx, and the seeded member's balance stays
// equal to their ledger and lots.
#include "till_api.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "loyalty/clock.hpp"
#include "loyalty/identifiers.hpp"
#include "loyalty/rules.hpp"

namespace {

using namespace loyalty;

void check(bool condition) {
    if (!condition) std::abort();
}

// One till for the whole run: a database in a fresh temporary directory (removed at exit), the
// demo rules and one enrolled member with a purchase the inputs can return or void.
struct Till {
    Till() {
        std::string pattern = (std::filesystem::temp_directory_path() / "loyalty-fuzz-XXXXXX").string();
        check(::mkdtemp(pattern.data()) != nullptr);
        directory = pattern;
        program = std::make_unique<Program>(
            ProgramOptions{.database_path = (directory / "till.db").string(), .node_id = "S01-T1",
                           .durability = Durability::normal},
            clock, *parse_rules_text(default_rules_text()));
        pos::add_till_routes(router, *program, {"S01-T1", "S01"}, std::make_shared<http::MetricsRegistry>());
        const std::string payload = "700100000000001";
        const auto member = program->enroll({payload + luhn_check_digit(payload), "", "Fuzz", ""});
        check(member.ok());
        member_id = member->result.member_id;
    }
    ~Till() {
        program.reset();
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
    }

    std::filesystem::path directory;
    ManualClock clock{1'767'225'600};
    std::unique_ptr<Program> program;
    http::Router router;
    std::string member_id;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Till till;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t space = input.find(' ');
    const std::size_t newline = input.find('\n');
    if (space == std::string_view::npos || newline == std::string_view::npos || space > newline) return 0;

    http::Request request;
    request.method = std::string(input.substr(0, space));
    const std::string_view target = input.substr(space + 1, newline - space - 1);
    const std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
        auto query = http::parse_query(target.substr(question + 1));
        if (!query) return 0;  // the server answers 400 before any handler runs
        request.query = std::move(*query);
    }
    request.body = std::string(input.substr(newline + 1));

    const http::RouteMatch match = till.router.match(request.method, request.path);
    if (match.outcome != http::RouteMatch::Outcome::found) return 0;
    request.route = match.route.pattern;
    request.path_params = match.path_params;
    try {
        const http::Response response = (*match.handler)(request);
        check(response.status < 500);
    } catch (const http::RequestError& refusal) {
        check(refusal.status() >= 400 && refusal.status() < 500);
        check(!refusal.code().empty());
    }
    check(till.program->audit(till.member_id).consistent());
    return 0;
}
