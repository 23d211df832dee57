// loyalty: the cashier's and support staff's command line, a thin client of loyaltyd's API.
// Human-readable answers by default, the daemon's JSON with --json.
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "loyalty/http_client.hpp"
#include "loyalty/rules.hpp"
#include "till_config.hpp"

namespace {

using nlohmann::json;
using loyalty::format_cents;

constexpr std::string_view usage = R"(usage: loyalty [--url URL] [--token TOKEN] [--json] COMMAND ...

  member find   (--card CARD | --phone PHONE | --id MEMBER_ID)
  member enroll --name NAME [--card CARD] [--phone PHONE] [--email EMAIL] [CONSENT]
                [--referral-code CODE] [--birthday MM-DD]
  member consent (--card CARD | --phone PHONE | --id MEMBER_ID) CONSENT
  points        (--card CARD | --member MEMBER_ID)     balance, tier and recent activity
  quote         (--card CARD | --member MEMBER_ID) BASKET [--redeem POINTS]
  sale          --txn TXN_ID (--card CARD | --member MEMBER_ID) BASKET [--redeem POINTS]
  return        --id RETURN_ID --txn ORIGINAL_TXN_ID [--line SKU:QTY ...]   (no lines: all)
  void          --txn TXN_ID
  satisfaction  --txn TXN_ID --score 0-10 [--comment TEXT]   what the member thought of a sale
  health

BASKET is --basket FILE.json (a JSON array of lines, or an object with "lines") or one
--line SKU:CATEGORY:QUANTITY:UNIT_PRICE_CENTS[:DISCOUNT_CENTS] per basket line.
CONSENT is [--personalised-offers yes|no] [--marketing yes|no]: what the member agrees to
(at enrolment, a purpose left out is not agreed; later, it keeps its answer).
URL defaults to $LOYALTY_URL or http://127.0.0.1:8080; TOKEN to $LOYALTY_TOKEN.
)";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Flags of one command: repeated flags (--line) keep every value.
struct Flags {
    std::multimap<std::string, std::string> values;

    std::string get(const std::string& name, const std::string& fallback = "") const {
        const auto found = values.find(name);
        return found == values.end() ? fallback : found->second;
    }
    bool has(const std::string& name) const { return values.count(name) > 0; }
    std::vector<std::string> all(const std::string& name) const {
        std::vector<std::string> found;
        for (auto [it, end] = values.equal_range(name); it != end; ++it) found.push_back(it->second);
        return found;
    }
    std::string require(const std::string& name) const {
        if (!has(name)) throw UsageError("missing --" + name);
        return get(name);
    }
};

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    for (std::string part; std::getline(stream, part, separator);) parts.push_back(part);
    return parts;
}

long long whole_number(const std::string& text, const std::string& what) {
    try {
        std::size_t used = 0;
        const long long value = std::stoll(text, &used);
        if (used == text.size()) return value;
    } catch (const std::exception&) {
    }
    throw UsageError(what + " must be a whole number, got \"" + text + "\"");
}

json basket_lines(const Flags& flags) {
    if (flags.has("basket")) {
        std::ifstream in(flags.get("basket"));
        if (!in) throw UsageError("cannot read basket file " + flags.get("basket"));
        const json basket = json::parse(in, nullptr, false);
        if (basket.is_discarded()) throw UsageError("basket file is not valid JSON");
        return basket.is_object() && basket.contains("lines") ? basket["lines"] : basket;
    }
    json lines = json::array();
    for (const std::string& line : flags.all("line")) {
        const auto parts = split(line, ':');
        if (parts.size() < 4 || parts.size() > 5)
            throw UsageError("--line must be SKU:CATEGORY:QUANTITY:UNIT_PRICE_CENTS[:DISCOUNT_CENTS]");
        json item = {{"sku", parts[0]}, {"category", parts[1]},
                     {"quantity", whole_number(parts[2], "quantity")},
                     {"unit_price_cents", whole_number(parts[3], "unit price")}};
        if (parts.size() == 5) item["discount_cents"] = whole_number(parts[4], "discount");
        lines.push_back(item);
    }
    if (lines.empty()) throw UsageError("a basket needs --basket FILE or at least one --line");
    return lines;
}

json member_reference(const Flags& flags) {
    if (flags.has("card")) return {{"card", flags.get("card")}};
    if (flags.has("member")) return {{"member_id", flags.get("member")}};
    throw UsageError("name the member with --card or --member");
}

// --- human-readable output ---

void print_member(const json& m) {
    std::cout << m["name"].get<std::string>() << "  (" << m["member_id"].get<std::string>() << ")\n"
              << "  Card      " << (m["card"].get<std::string>().empty() ? "-" : m["card"].get<std::string>())
              << "    Phone " << (m["phone"].get<std::string>().empty() ? "-" : m["phone"].get<std::string>()) << "\n"
              << "  Points    " << m["points"] << " spendable";
    if (m["points_pending"].get<long long>() > 0) std::cout << ", " << m["points_pending"] << " pending";
    if (m["balance"].get<long long>() < 0)
        std::cout << " (owes " << -m["balance"].get<long long>() << " points from returns; new points pay it first)";
    std::cout << "\n";
    if (m["points_expiring"]["points"].get<long long>() > 0)
        std::cout << "  Expiring  " << m["points_expiring"]["points"] << " points on "
                  << m["points_expiring"]["date"].get<std::string>() << "\n";
    std::cout << "  Tier      " << m["tier"].get<std::string>() << " - "
              << m["tier_progress"]["message"].get<std::string>() << "\n";
    if (m.contains("consent"))
        std::cout << "  Consent   personalised offers " << (m["consent"]["personalised_offers"].get<bool>() ? "yes" : "no")
                  << ", marketing " << (m["consent"]["marketing"].get<bool>() ? "yes" : "no") << "\n";
    for (const json& offer : m.value("offers", json::array()))
        std::cout << "  Offer     " << offer["message"].get<std::string>() << "\n";
    if (m.contains("referral_code"))
        std::cout << "  Referral  code " << m["referral_code"].get<std::string>() << " for friends who join\n";
}

// Which offers applied and what each gave; why the others did not, when there is a reason
// the cashier can act on ("spend 2.50 more...").
void print_offers(const json& a) {
    for (const json& offer : a.value("offers", json::array())) {
        std::cout << "  Offer            " << offer["title"].get<std::string>() << ":";
        if (offer["discount_cents"].get<long long>() > 0) std::cout << " -" << format_cents(offer["discount_cents"]);
        if (offer["points"].get<long long>() > 0) std::cout << " +" << offer["points"] << " points";
        std::cout << "\n";
    }
    for (const json& decision : a.value("offer_decisions", json::array()))
        if (!decision["applied"].get<bool>() && !decision["message"].get<std::string>().empty())
            std::cout << "  Offer not used   " << decision["title"].get<std::string>() << ": "
                      << decision["message"].get<std::string>() << "\n";
}

void print_basket_answer(const json& a, const std::string& title) {
    std::cout << title << "\n"
              << "  Basket total     " << format_cents(a["net_cents"]) << "\n";
    if (a["points_redeemed"].get<long long>() > 0)
        std::cout << "  Paid with points " << format_cents(a["redeemed_cents"]) << "  ("
                  << a["points_redeemed"] << " points)\n";
    print_offers(a);
    std::cout << "  To pay           " << format_cents(a["amount_due_cents"]) << "\n"
              << "  Points earned    " << a["points_earned"];
    if (a.contains("tier") && !a["tier"].get<std::string>().empty())
        std::cout << " at " << a["tier"].get<std::string>();
    if (a["points_capped"].get<long long>() > 0) std::cout << " (" << a["points_capped"] << " over the earning cap)";
    if (!a["minimum_spend_met"].get<bool>()) std::cout << " (below the minimum spend)";
    std::cout << "\n  Balance          " << a["points"] << " points spendable";
    if (a.contains("points_pending") && a["points_pending"].get<long long>() > 0)
        std::cout << ", " << a["points_pending"] << " pending until "
                  << a["points_available_from"].get<std::string>();
    std::cout << "\n";
    if (a.contains("tier_after") && a["tier_after"] != a["tier"])
        std::cout << "  New tier         " << a["tier_after"].get<std::string>() << "!\n";
}

void print_return(const json& a) {
    std::cout << "Return " << a["return_id"].get<std::string>() << " of "
              << a["original_txn_id"].get<std::string>() << "\n"
              << "  Goods returned   " << format_cents(a["refund_cents"]) << "\n"
              << "  Refund in money  " << format_cents(a["refund_due_cents"]) << "\n"
              << "  Points back      " << a["points_refunded"] << " (paid with points)\n"
              << "  Points removed   " << a["points_reversed"] << " (earned on the goods)\n";
    if (a["points_shortfall"].get<long long>() > 0)
        std::cout << "  Owed points      " << a["points_shortfall"] << " (already spent)\n";
    std::cout << "  Balance          " << a["points"] << " points spendable\n";
}

void print_void(const json& a) {
    std::cout << "Voided sale " << a["txn_id"].get<std::string>() << ": " << a["points_reversed"]
              << " points removed, " << a["points_refunded"] << " points given back\n"
              << "  Balance          " << a["points"] << " points spendable\n";
}

void print_history(const json& page) {
    std::cout << "  Recent activity\n";
    for (const json& entry : page["entries"])
        std::cout << "    " << entry["created_at"].get<std::string>().substr(0, 10) << "  "
                  << std::setw(14) << std::left << entry["kind"].get<std::string>() << std::right
                  << std::setw(8) << entry["points"].get<long long>() << "  "
                  << entry["operation_id"].get<std::string>() << "\n";
}

// --- the client ---

struct Client {
    loyalty::http::HttpClient http;
    bool json_output = false;

    json call(const std::string& method, const std::string& target,
              const std::optional<json>& body = std::nullopt) {
        const auto response = http.request(method, target, body);
        json answer = json::parse(response.body, nullptr, false);
        if (response.status >= 400) {
            std::string message = "HTTP " + std::to_string(response.status);
            if (answer.is_object() && answer.contains("error"))
                message = answer["error"]["message"].get<std::string>();
            throw std::runtime_error(message);
        }
        return answer;
    }
};

std::string url_encode(const std::string& text) {
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') out.push_back(static_cast<char>(c));
        else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

json find_member(Client& client, const Flags& flags) {
    if (flags.has("id") || flags.has("member"))
        return client.call("GET", "/v1/members/" + url_encode(flags.get("id", flags.get("member"))));
    if (flags.has("card")) return client.call("GET", "/v1/members?card=" + url_encode(flags.get("card")));
    if (flags.has("phone")) return client.call("GET", "/v1/members?phone=" + url_encode(flags.get("phone")));
    throw UsageError("name the member with --card, --phone or --id");
}

// --personalised-offers and --marketing as the API's consent object.
json consent_flags(const Flags& flags) {
    json consent = json::object();
    for (const auto& [flag, key] : {std::pair{"personalised-offers", "personalised_offers"}, {"marketing", "marketing"}}) {
        if (!flags.has(flag)) continue;
        const std::string answer = flags.get(flag);
        if (answer != "yes" && answer != "no") throw UsageError(std::string("--") + flag + " takes yes or no");
        consent[key] = answer == "yes";
    }
    return consent;
}

int run(Client& client, const std::vector<std::string>& command, const Flags& flags) {
    const auto show = [&](const json& answer, auto print) {
        if (client.json_output) std::cout << answer.dump(2) << "\n";
        else print(answer);
        return 0;
    };
    const std::string verb = command.empty() ? "" : command[0];
    const std::string sub = command.size() > 1 ? command[1] : "";
    if (verb == "member" && sub == "find") return show(find_member(client, flags), print_member);
    if (verb == "member" && sub == "enroll") {
        json body = {{"name", flags.require("name")}};
        for (const char* key : {"card", "phone", "email", "birthday"})
            if (flags.has(key)) body[key] = flags.get(key);
        if (flags.has("referral-code")) body["referral_code"] = flags.get("referral-code");
        if (const json consent = consent_flags(flags); !consent.empty()) body["consent"] = consent;
        return show(client.call("POST", "/v1/members", body), [](const json& m) {
            std::cout << "Enrolled ";
            print_member(m);
        });
    }
    if (verb == "member" && sub == "consent") {
        const json consent = consent_flags(flags);
        if (consent.empty()) throw UsageError("say what changes: --personalised-offers yes|no, --marketing yes|no");
        const json member = find_member(client, flags);
        return show(client.call("POST", "/v1/members/" + url_encode(member["member_id"]) + "/consent", consent),
                    print_member);
    }
    if (verb == "points") {
        const json member = find_member(client, flags);
        const json history = client.call("GET", "/v1/members/" + url_encode(member["member_id"]) + "/history?limit=5");
        return show(json{{"member", member}, {"history", history}}, [](const json& both) {
            print_member(both["member"]);
            print_history(both["history"]);
        });
    }
    if (verb == "quote" || verb == "sale") {
        json body = member_reference(flags);
        body["lines"] = basket_lines(flags);
        if (flags.has("redeem")) body["redeem_points"] = whole_number(flags.get("redeem"), "--redeem");
        if (verb == "quote")
            return show(client.call("POST", "/v1/checkout/quote", body),
                        [](const json& a) { print_basket_answer(a, "Quote (nothing recorded)"); });
        body["txn_id"] = flags.require("txn");
        return show(client.call("POST", "/v1/purchases", body), [](const json& a) {
            if (a.value("status", "") == "queued") {  // 202: a card this till does not know yet
                std::cout << "Sale " << a["txn_id"].get<std::string>() << " queued ("
                          << format_cents(a["net_cents"]) << "): " << a["message"].get<std::string>() << "\n";
                return;
            }
            print_basket_answer(a, "Sale " + a["txn_id"].get<std::string>() + " recorded");
        });
    }
    if (verb == "return") {
        json body = {{"return_id", flags.require("id")}, {"original_txn_id", flags.require("txn")}};
        json lines = json::array();
        for (const std::string& line : flags.all("line")) {
            const auto parts = split(line, ':');
            if (parts.size() != 2) throw UsageError("--line must be SKU:QUANTITY for a return");
            lines.push_back({{"sku", parts[0]}, {"quantity", whole_number(parts[1], "quantity")}});
        }
        if (!lines.empty()) body["lines"] = lines;
        return show(client.call("POST", "/v1/returns", body), print_return);
    }
    if (verb == "void")
        return show(client.call("POST", "/v1/purchases/" + url_encode(flags.require("txn")) + "/void"),
                    print_void);
    if (verb == "satisfaction") {
        json body = {{"score", whole_number(flags.require("score"), "--score")}};
        if (flags.has("comment")) body["comment"] = flags.get("comment");
        return show(client.call("POST", "/v1/purchases/" + url_encode(flags.require("txn")) + "/satisfaction", body),
                    [](const json& a) {
                        std::cout << "Score " << a["score"] << " for sale " << a["txn_id"].get<std::string>()
                                  << " recorded (" << a["satisfaction"].get<std::string>() << ")\n";
                    });
    }
    if (verb == "health")
        return show(client.call("GET", "/v1/health"), [](const json& h) {
            std::cout << "Till " << h["till_id"].get<std::string>() << " (store "
                      << h["store_id"].get<std::string>() << "): " << h["status"].get<std::string>()
                      << ", " << h["sync"]["pending_events"] << " events waiting for head office\n";
        });
    throw UsageError(verb.empty() ? "no command given" : "unknown command: " + verb + " " + sub);
}

}  // namespace

int main(int argc, char** argv) {
    const char* env_url = std::getenv("LOYALTY_URL");
    const char* env_token = std::getenv("LOYALTY_TOKEN");
    std::string url = env_url ? env_url : "http://127.0.0.1:8080";
    std::optional<std::string> token;
    if (env_token && *env_token) token = env_token;
    bool json_output = false;
    std::vector<std::string> command;
    Flags flags;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                std::cout << usage;
                return 0;
            }
            if (arg == "--version") {
                std::cout << loyalty::pos::version_string("loyalty") << "\n";
                return 0;
            }
            if (arg == "--json") {
                json_output = true;
            } else if (arg.rfind("--", 0) == 0) {
                if (i + 1 >= argc) throw UsageError(arg + " needs a value");
                const std::string name = arg.substr(2);
                if (name == "url") url = argv[++i];
                else if (name == "token") token = argv[++i];
                else flags.values.emplace(name, argv[++i]);
            } else {
                command.push_back(arg);
            }
        }
        const std::string address = url.rfind("http://", 0) == 0 ? url.substr(7) : url;
        auto listen = loyalty::pos::parse_listen(address, "--url");
        if (!listen) throw UsageError("--url must look like http://127.0.0.1:8080");
        Client client{loyalty::http::HttpClient(listen->first, listen->second,
                                                {token, std::chrono::milliseconds(5000)}),
                      json_output};
        return run(client, command, flags);
    } catch (const UsageError& error) {
        std::cerr << "loyalty: " << error.what() << "\n\n" << usage;
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "loyalty: " << error.what() << "\n";
        return 1;
    }
}
