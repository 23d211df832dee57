#include "loyalty/router.hpp"

#include <catch2/catch.hpp>

using namespace loyalty::http;

namespace {

Handler named(std::string name) {
    return [name](const Request&) { return Response::text(200, name); };
}

std::string served_by(const RouteMatch& match) {
    REQUIRE(match.outcome == RouteMatch::Outcome::found);
    return (*match.handler)(Request{}).body;
}

Router till_routes() {
    Router router;
    router.add("GET", "/v1/health", named("health"), {.is_public = true});
    router.add("GET", "/v1/members/{id}", named("member"));
    router.add("GET", "/v1/members/search", named("search"));
    router.add("POST", "/v1/members", named("enroll"));
    router.add("GET", "/v1/members", named("find"));
    router.add("POST", "/v1/purchases/{txn_id}/void", named("void"));
    return router;
}

}  // namespace

TEST_CASE("router matches literal paths and placeholders", "[router]") {
    const Router router = till_routes();
    CHECK(served_by(router.match("GET", "/v1/health")) == "health");
    CHECK(served_by(router.match("POST", "/v1/members")) == "enroll");

    const auto member = router.match("GET", "/v1/members/M-42");
    CHECK(served_by(member) == "member");
    CHECK(member.route.pattern == "/v1/members/{id}");
    CHECK(member.path_params.at("id") == "M-42");

    const auto voided = router.match("POST", "/v1/purchases/T%2F7%20x/void");
    CHECK(served_by(voided) == "void");
    CHECK(voided.path_params.at("txn_id") == "T/7 x");
}

TEST_CASE("a literal segment beats a placeholder whatever the registration order", "[router]") {
    CHECK(served_by(till_routes().match("GET", "/v1/members/search")) == "search");
}

TEST_CASE("router reports unknown paths, wrong methods and bad escapes", "[router]") {
    const Router router = till_routes();
    CHECK(router.match("GET", "/v1/nothing").outcome == RouteMatch::Outcome::not_found);
    CHECK(router.match("GET", "/v1/members/").outcome == RouteMatch::Outcome::not_found);
    CHECK(router.match("GET", "/v1/purchases/T1/void/extra").outcome ==
          RouteMatch::Outcome::not_found);

    const auto wrong = router.match("DELETE", "/v1/members");
    CHECK(wrong.outcome == RouteMatch::Outcome::method_not_allowed);
    CHECK(wrong.allowed == std::vector<std::string>{"GET", "POST"});

    CHECK(router.match("GET", "/v1/members/%zz").outcome == RouteMatch::Outcome::malformed_path);
}

TEST_CASE("router lists every route with its visibility", "[router]") {
    const auto routes = till_routes().routes();
    REQUIRE(routes.size() == 6);
    CHECK(routes[0].method == "GET");
    CHECK(routes[0].pattern == "/v1/health");
    CHECK(routes[0].is_public);
    CHECK(routes[5].pattern == "/v1/purchases/{txn_id}/void");
    CHECK_FALSE(routes[5].is_public);
}

TEST_CASE("router refuses malformed and duplicate patterns", "[router]") {
    Router router;
    router.add("GET", "/v1/members/{id}", named("member"));
    CHECK_THROWS_AS(router.add("GET", "/v1/members/{id}", named("again")), std::invalid_argument);
    CHECK_THROWS_AS(router.add("GET", "v1/relative", named("x")), std::invalid_argument);
    CHECK_THROWS_AS(router.add("GET", "/v1/{broken", named("x")), std::invalid_argument);
    CHECK_NOTHROW(router.add("PUT", "/v1/members/{id}", named("replace")));
}

TEST_CASE("percent decoding", "[router]") {
    CHECK(percent_decode("a%20b%2Fc", false) == "a b/c");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("a+b", true) == "a b");
    CHECK(percent_decode("%e2%82%AC", false) == "\xe2\x82\xac");
    CHECK_FALSE(percent_decode("%2", false));
    CHECK_FALSE(percent_decode("%", false));
    CHECK_FALSE(percent_decode("%g0", false));
}

TEST_CASE("query strings", "[router]") {
    const auto query = parse_query("card=6012%2034&phone=%2B44+20&flag&&empty=&x=1&x=2");
    REQUIRE(query);
    CHECK(query->at("card") == "6012 34");
    CHECK(query->at("phone") == "+44 20");
    CHECK(query->at("flag").empty());
    CHECK(query->at("empty").empty());
    CHECK(query->at("x") == "2");
    CHECK(parse_query("")->empty());
    CHECK_FALSE(parse_query("a=%ZZ"));
}
