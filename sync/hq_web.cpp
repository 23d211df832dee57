#include "hq_web.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <istream>
#include <ostream>
#include <stdexcept>

#include "loyalty/store.hpp"
#include "till_api.hpp"

namespace loyalty::hq {

// Generated at build time from sync/web/ (sync/web/embed_assets.cmake).
struct WebAsset {
    const char* name;
    const char* content_type;
    const unsigned char* data;
    std::size_t size;
};
extern const WebAsset web_assets[];
extern const std::size_t web_asset_count;

namespace {

using http::Request;
using http::RequestError;
using http::Response;
using nlohmann::json;

constexpr std::string_view web_schema_v1 = R"sql(
CREATE TABLE web_sign_in_codes (
    member_id  TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE TABLE web_staff (
    name          TEXT PRIMARY KEY,
    salt          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    iterations    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
)sql";

constexpr Timestamp code_lifetime_seconds = 600;
constexpr int code_digits = 8;
constexpr std::int64_t pbkdf2_iterations = 200'000;
constexpr std::chrono::seconds member_session_lifetime{3600};
constexpr std::chrono::seconds staff_session_lifetime{8 * 3600};
constexpr int failures_per_account = 5;   // per card or staff name in the window
constexpr int failures_per_address = 20;  // per client address in the window

const char* const content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

std::string hex(const unsigned char* bytes, std::size_t size) {
    static const char digits[] = "0123456789abcdef";
    std::string text;
    for (std::size_t i = 0; i < size; ++i) {
        text.push_back(digits[bytes[i] >> 4]);
        text.push_back(digits[bytes[i] & 15]);
    }
    return text;
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> buffer(bytes);
    if (RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
    return hex(buffer.data(), bytes);
}

std::string sha256_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    return hex(digest, size);
}

std::string pbkdf2_hex(const std::string& password, const std::string& salt_hex, std::int64_t iterations) {
    unsigned char key[32];
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt_hex.data()), static_cast<int>(salt_hex.size()),
                          static_cast<int>(iterations), EVP_sha256(), sizeof key, key) != 1)
        throw std::runtime_error("PBKDF2 failed");
    return hex(key, sizeof key);
}

// A uniformly random code of `code_digits` digits (rejection sampling, no modulo bias).
std::string random_code() {
    constexpr std::uint32_t range = 100'000'000;
    constexpr std::uint32_t limit = UINT32_MAX - UINT32_MAX % range;
    std::uint32_t value = 0;
    do {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1)
            throw std::runtime_error("RAND_bytes failed");
    } while (value >= limit);
    std::string code = std::to_string(value % range);
    return std::string(code_digits - code.size(), '0') + code;
}

std::string code_hash(const std::string& member_id, const std::string& code) {
    return sha256_hex(member_id + ":" + code);
}

bool valid_staff_name(const std::string& name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
}

// --- requests -------------------------------------------------------------------------------

std::string cookie(const Request& request, std::string_view name) {
    const std::string* header = request.header("Cookie");
    if (!header) return {};
    std::string_view rest = *header;
    while (!rest.empty()) {
        const auto semicolon = rest.find(';');
        std::string_view pair = rest.substr(0, semicolon);
        rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
            return std::string(pair.substr(name.size() + 1));
    }
    return {};
}

std::string set_cookie(std::string_view name, const std::string& value, std::chrono::seconds lifetime,
                       const WebSettings& settings) {
    return std::string(name) + "=" + value + "; Path=/; Max-Age=" + std::to_string(lifetime.count()) +
           "; HttpOnly; SameSite=Strict" + (settings.secure_cookies ? "; Secure" : "");
}

std::string client_address(const Request& request, const WebSettings& settings) {
    if (settings.trusted_proxy.empty() || request.remote_address != settings.trusted_proxy)
        return request.remote_address;
    const std::string* forwarded = request.header("X-Forwarded-For");
    if (!forwarded) return request.remote_address;
    std::string last = forwarded->substr(forwarded->rfind(',') == std::string::npos ? 0 : forwarded->rfind(',') + 1);
    last.erase(0, last.find_first_not_of(' '));
    return last.empty() ? request.remote_address : last;
}

// A cross-site form can post only form encodings and text/plain; requiring JSON (with
// SameSite=Strict cookies) keeps other sites from acting in a signed-in browser.
void require_json(const Request& request) {
    const std::string* type = request.header("Content-Type");
    if (!type || !std::string_view(*type).starts_with("application/json"))
        throw RequestError(415, "json_required", "send this request with Content-Type: application/json",
                           "Content-Type");
}

std::string required_text(const json& body, const char* field, std::size_t longest) {
    const auto found = body.find(field);
    if (found == body.end() || !found->is_string() || found->get_ref<const std::string&>().empty() ||
        found->get_ref<const std::string&>().size() > longest)
        throw RequestError(400, "invalid_field",
                           std::string(field) + " is required: a string of at most " + std::to_string(longest) +
                               " characters",
                           field);
    return found->get<std::string>();
}

Response too_many(const std::string& code, const std::string& message, std::optional<std::string_view> field) {
    Response response = http::error_response(429, code, message, field);
    response.headers.emplace_back("Retry-After", "900");  // WebSessions' failure window
    return response;
}

// The rate limit around one sign-in: refused early while either key is blocked; a failure
// counts against both; a success forgets the account's failures.
template <class Attempt>
Response limited_sign_in(WebSessions& sessions, const std::string& account_key, const char* account_field,
                         const std::string& address, Attempt attempt) {
    const std::string address_key = "address:" + address;
    if (sessions.blocked(account_key, failures_per_account))
        return too_many("too_many_attempts_for_account",
                        std::string("too many failed sign-ins for this ") + account_field +
                            "; wait 15 minutes or ask staff for a new code",
                        account_field);
    if (sessions.blocked(address_key, failures_per_address))
        return too_many("too_many_attempts_from_address",
                        "too many failed sign-ins from your network address; wait 15 minutes", std::nullopt);
    Response response = attempt();
    if (response.status == 401) {
        sessions.failed(account_key);
        sessions.failed(address_key);
    } else if (response.status == 200) {
        sessions.succeeded(account_key);
    }
    return response;
}

std::string session_subject(WebSessions& sessions, const Request& request, const std::string& kind) {
    const auto session = sessions.find(kind, cookie(request, "loyalty_" + kind));
    if (!session)
        throw RequestError(401, "not_signed_in",
                           kind == "member" ? "sign in with your card number and code"
                                            : "sign in with your staff name and password");
    return session->subject;
}

// --- pages ----------------------------------------------------------------------------------

Response asset_response(std::string_view name) {
    for (std::size_t i = 0; i < web_asset_count; ++i) {
        const WebAsset& asset = web_assets[i];
        if (name != asset.name) continue;
        Response response = Response::text(200, std::string(reinterpret_cast<const char*>(asset.data), asset.size),
                                           asset.content_type);
        response.headers.emplace_back("Content-Security-Policy", content_security_policy);
        response.headers.emplace_back("X-Content-Type-Options", "nosniff");
        response.headers.emplace_back("Referrer-Policy", "no-referrer");
        response.headers.emplace_back("Cache-Control", "no-cache");
        return response;
    }
    return http::error_response(404, "not_found", "no page or asset named " + std::string(name));
}

// What the member page shows: never the member's contact details, only the card's last digits.
json member_page(Program& program, const std::string& member_id) {
    const auto summary = program.summary(member_id);
    if (!summary) throw RequestError(404, "not_found", "your membership is no longer on file; ask staff");
    const auto history = program.history(member_id, 10, "");
    json activity = json::array();
    if (history)
        for (const LedgerEntry& entry : history->entries)
            activity.push_back({{"at", format_timestamp(entry.created_at)},
                                {"kind", to_string(entry.kind)},
                                {"points", entry.points}});
    const json full = *summary;
    const std::string card = summary->member.primary_card();
    return {{"name", summary->member.name},
            {"card_ending", card.size() > 4 ? card.substr(card.size() - 4) : card},
            {"tier", summary->member.tier},
            {"balance", summary->balance},
            {"points", summary->points},
            {"points_pending", summary->points_pending},
            {"points_expiring", full.at("points_expiring")},
            {"tier_progress", full.at("tier_progress")},
            // The till shows offers only with consent to personalised offers; so does this page.
            {"offers", summary->member.consent.personalised_offers ? full.at("offers") : json::array()},
            {"activity", activity}};
}

json chain_totals(Program& program, const Clock& clock) {
    Database& database = program.database();
    const Timestamp month_ago = clock.now() - 30 * seconds_per_day;
    const auto number = [&database](std::string_view sql, auto... values) {
        return database.query_integer(sql, values...).value_or(0);
    };
    const char* revenue = "SELECT COALESCE(SUM(net_cents), 0) FROM purchases WHERE status = 'completed' AND created_at >= ?";
    const char* purchases = "SELECT COUNT(*) FROM purchases WHERE status = 'completed' AND created_at >= ?";
    return {{"members", number("SELECT COUNT(*) FROM members")},
            {"points_outstanding", number("SELECT COALESCE(SUM(points), 0) FROM ledger")},
            {"purchases", number(purchases, std::int64_t{0})},
            {"revenue_cents", number(revenue, std::int64_t{0})},
            {"purchases_30_days", number(purchases, month_ago)},
            {"revenue_cents_30_days", number(revenue, month_ago)}};
}

}  // namespace

// --- WebAccounts ----------------------------------------------------------------------------

WebAccounts::WebAccounts(Program& program, const Clock& clock) : program_(program), clock_(clock) {
    program_.database().migrate_component("hq_web", {{1, web_schema_v1}});
}

Result<std::string> WebAccounts::issue_sign_in_code(const std::string& member_id) {
    const auto member = program_.find_member({member_id, "", ""});
    if (!member) return member.error();
    const std::string code = random_code();
    Transaction transaction(program_.database());
    program_.database()
        .prepare("INSERT OR REPLACE INTO web_sign_in_codes(member_id, code_hash, expires_at) VALUES (?, ?, ?)")
        .bind(member_id, code_hash(member_id, code), clock_.now() + code_lifetime_seconds)
        .run();
    transaction.commit();
    return code;
}

Result<std::string> WebAccounts::redeem_sign_in_code(const std::string& card, const std::string& code) {
    const Error wrong{ErrorKind::refused, "wrong_card_or_code",
                      "the card number or the code is wrong, or the code has expired; ask staff for a new code",
                      "code"};
    const auto member = program_.find_member({"", card, ""});
    if (!member) return wrong;
    Database& database = program_.database();
    const auto stored = database.query_text(
        "SELECT code_hash FROM web_sign_in_codes WHERE member_id = ? AND expires_at > ?", member->member_id,
        clock_.now());
    const std::string presented = code_hash(member->member_id, code);
    if (!stored || stored->size() != presented.size() ||
        CRYPTO_memcmp(stored->data(), presented.data(), presented.size()) != 0)
        return wrong;
    Transaction transaction(database);
    database.prepare("DELETE FROM web_sign_in_codes WHERE member_id = ?").bind(member->member_id).run();
    transaction.commit();
    return member->member_id;
}

Result<Done> WebAccounts::set_staff_password(const std::string& name, const std::string& password) {
    if (!valid_staff_name(name)) return invalid("name", "a staff name is 1-64 letters, digits, '.', '_' or '-'");
    if (password.size() < 10 || password.size() > 1024)
        return invalid("password", "a password needs 10 to 1024 characters");
    const std::string salt = random_hex(16);
    const std::string hash = pbkdf2_hex(password, salt, pbkdf2_iterations);
    Transaction transaction(program_.database());
    program_.database()
        .prepare("INSERT INTO web_staff(name, salt, password_hash, iterations, created_at) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET salt = excluded.salt, password_hash = excluded.password_hash, "
                 "iterations = excluded.iterations")
        .bind(name, salt, hash, pbkdf2_iterations, clock_.now())
        .run();
    transaction.commit();
    return Done{};
}

Result<Done> WebAccounts::remove_staff(const std::string& name) {
    Transaction transaction(program_.database());
    program_.database().prepare("DELETE FROM web_staff WHERE name = ?").bind(name).run();
    if (program_.database().changes() == 0)
        return Error{ErrorKind::not_found, "unknown_staff", "no staff account named " + name, "name"};
    transaction.commit();
    return Done{};
}

std::optional<StaffCredentials> WebAccounts::staff(const std::string& name) {
    Statement& row = program_.database().prepare(
        "SELECT name, salt, password_hash, iterations FROM web_staff WHERE name = ?");
    row.bind(name);
    std::optional<StaffCredentials> found;
    if (row.step()) found = StaffCredentials{row.text(0), row.text(1), row.text(2), row.integer(3)};
    row.reset();
    return found;
}

std::vector<std::string> WebAccounts::staff_names() {
    Statement& rows = program_.database().prepare("SELECT name FROM web_staff ORDER BY name");
    rows.bind();
    std::vector<std::string> names;
    while (rows.step()) names.push_back(rows.text(0));
    return names;
}

bool password_matches(const StaffCredentials& credentials, const std::string& password) {
    const std::string presented = pbkdf2_hex(password, credentials.salt_hex, credentials.iterations);
    return presented.size() == credentials.hash_hex.size() &&
           CRYPTO_memcmp(presented.data(), credentials.hash_hex.data(), presented.size()) == 0;
}

// --- WebSessions ----------------------------------------------------------------------------

std::string WebSessions::open(const std::string& kind, const std::string& subject, std::chrono::seconds lifetime) {
    const std::string token = random_hex(32);
    const std::lock_guard lock(mutex_);
    const Timestamp now = clock_.now();
    std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires_at <= now; });
    sessions_[sha256_hex(token)] = Session{kind, subject, now + lifetime.count()};
    return token;
}

std::optional<Session> WebSessions::find(const std::string& kind, const std::string& token) {
    if (token.size() != 64) return std::nullopt;
    const std::lock_guard lock(mutex_);
    const auto found = sessions_.find(sha256_hex(token));
    if (found == sessions_.end() || found->second.kind != kind || found->second.expires_at <= clock_.now())
        return std::nullopt;
    return found->second;
}

void WebSessions::close(const std::string& token) {
    const std::lock_guard lock(mutex_);
    sessions_.erase(sha256_hex(token));
}

bool WebSessions::blocked(const std::string& key, int limit) {
    const std::lock_guard lock(mutex_);
    const auto found = failures_.find(key);
    if (found == failures_.end()) return false;
    if (found->second.first + failure_window_.count() <= clock_.now()) {
        failures_.erase(found);
        return false;
    }
    return found->second.count >= limit;
}

void WebSessions::failed(const std::string& key) {
    const std::lock_guard lock(mutex_);
    const Timestamp now = clock_.now();
    Failures& failures = failures_[key];
    if (failures.count == 0 || failures.first + failure_window_.count() <= now) failures = {now, 0};
    ++failures.count;
}

void WebSessions::succeeded(const std::string& key) {
    const std::lock_guard lock(mutex_);
    failures_.erase(key);
}

// --- routes ---------------------------------------------------------------------------------

void add_web_admin_routes(http::Router& router, DatabaseThread& database, Program& program, WebAccounts& accounts,
                          MemberData& members, const Clock& clock) {
    router.add("POST", "/v1/members/{id}/sign-in-code", [&database, &accounts, &members, &clock](const Request& request) {
        const std::string id = request.path_params.at("id");
        const std::string* staff = request.header("X-Staff");
        const std::string actor = staff && !staff->empty() && staff->size() <= 128 ? *staff : "admin_api";
        return database.call([&accounts, &members, &clock, id, actor] {
            const auto code = accounts.issue_sign_in_code(id);
            if (!code) return pos::error_response(code.error());
            members.audit(actor, "member.sign_in_code", id);
            return Response::json(201, {{"member_id", id},
                                        {"code", *code},
                                        {"expires_at", format_timestamp(clock.now() + code_lifetime_seconds)}});
        });
    });
    router.add("GET", "/v1/chain/totals", [&database, &program, &clock](const Request&) {
        return database.call([&program, &clock] { return Response::json(200, chain_totals(program, clock)); });
    });
}

http::Router web_router(const http::Router& admin, DatabaseThread& database, Program& program,
                        WebAccounts& accounts, WebSessions& sessions, const WebSettings& settings) {
    http::Router router;
    const http::RouteOptions page{.is_public = true};
    router.add("GET", "/", [](const Request&) { return asset_response("index.html"); }, page);
    router.add("GET", "/dashboard", [](const Request&) { return asset_response("dashboard.html"); }, page);
    router.add("GET", "/assets/{name}",
               [](const Request& request) { return asset_response(request.path_params.at("name")); }, page);

    router.add("POST", "/member/sign-in", [&database, &accounts, &sessions, &settings](const Request& request) {
        require_json(request);
        const json body = request.json_body();
        const std::string card = required_text(body, "card", 64);
        const std::string code = required_text(body, "code", 16);
        return limited_sign_in(sessions, "card:" + card, "card", client_address(request, settings), [&] {
            const auto member = database.call([&accounts, card, code] { return accounts.redeem_sign_in_code(card, code); });
            if (!member) return http::error_response(401, member.error().code, member.error().message, "code");
            Response response = Response::json(200, {{"signed_in", true}});
            response.headers.emplace_back(
                "Set-Cookie", set_cookie("loyalty_member", sessions.open("member", *member, member_session_lifetime),
                                         member_session_lifetime, settings));
            return response;
        });
    }, page);
    router.add("GET", "/member/me", [&database, &program, &sessions](const Request& request) {
        const std::string member_id = session_subject(sessions, request, "member");
        return database.call([&program, member_id] { return Response::json(200, member_page(program, member_id)); });
    }, page);

    router.add("POST", "/staff/sign-in", [&database, &accounts, &sessions, &settings](const Request& request) {
        require_json(request);
        const json body = request.json_body();
        const std::string name = required_text(body, "name", 64);
        const std::string password = required_text(body, "password", 1024);
        return limited_sign_in(sessions, "staff:" + name, "name", client_address(request, settings), [&] {
            const auto credentials = database.call([&accounts, name] { return accounts.staff(name); });
            // An unknown name costs the same PBKDF2 as a known one: timing tells no names.
            const StaffCredentials unknown{name, "00", "", pbkdf2_iterations};
            if (!password_matches(credentials ? *credentials : unknown, password) || !credentials)
                return http::error_response(401, "wrong_name_or_password", "the staff name or password is wrong",
                                            "password");
            Response response = Response::json(200, {{"name", name}});
            response.headers.emplace_back(
                "Set-Cookie", set_cookie("loyalty_staff", sessions.open("staff", name, staff_session_lifetime),
                                         staff_session_lifetime, settings));
            return response;
        });
    }, page);
    router.add("GET", "/staff/me", [&sessions](const Request& request) {
        return Response::json(200, {{"name", session_subject(sessions, request, "staff")}});
    }, page);

    for (const char* kind : {"member", "staff"}) {
        router.add("POST", std::string("/") + kind + "/sign-out", [&sessions, &settings, kind](const Request& request) {
            require_json(request);
            const std::string name = std::string("loyalty_") + kind;
            sessions.close(cookie(request, name));
            Response response = Response::json(200, {{"signed_in", false}});
            response.headers.emplace_back("Set-Cookie", set_cookie(name, "", std::chrono::seconds(0), settings));
            return response;
        }, page);
    }

    // Every admin route, with the staff session in place of the bearer token.
    for (const http::RouteInfo& route : admin.routes()) {
        router.add(route.method, route.pattern, [&admin, &sessions, route](const Request& request) {
            Request as_staff = request;
            if (!route.is_public) {
                as_staff.headers["X-Staff"] = "staff:" + session_subject(sessions, request, "staff");
                if (route.method != "GET") require_json(request);
            }
            const http::RouteMatch match = admin.match(route.method, request.path);
            return (*match.handler)(as_staff);
        }, page);
    }
    return router;
}

// --- commands -------------------------------------------------------------------------------

int run_staff_command(const std::vector<std::string>& words, WebAccounts& accounts, std::istream& in,
                      std::ostream& out, std::ostream& err) {
    const auto refused = [&err](const Error& error) {
        err << "loyalty-hq: " << (error.field.empty() ? "" : error.field + ": ") << error.message << "\n";
        return 1;
    };
    if (words.size() == 2 && words[0] == "add") {
        std::string password;
        std::getline(in, password);
        if (const auto done = accounts.set_staff_password(words[1], password); !done) return refused(done.error());
        out << json{{"name", words[1]}, {"password_set", true}}.dump() << "\n";
        return 0;
    }
    if (words.size() == 2 && words[0] == "remove") {
        if (const auto done = accounts.remove_staff(words[1]); !done) return refused(done.error());
        out << json{{"name", words[1]}, {"removed", true}}.dump() << "\n";
        return 0;
    }
    if (words.size() == 1 && words[0] == "list") {
        for (const std::string& name : accounts.staff_names()) out << json{{"name", name}}.dump() << "\n";
        return 0;
    }
    err << "loyalty-hq: usage: staff add NAME (password on standard input) | remove NAME | list "
           "[--config FILE | --db FILE]\n";
    return 2;
}

int run_sign_in_code_command(const std::vector<std::string>& words, WebAccounts& accounts, MemberData& members,
                             std::ostream& out, std::ostream& err) {
    std::vector<std::string> rest = words;
    std::string actor = std::getenv("USER") ? std::getenv("USER") : "operator";
    for (std::size_t i = 0; i + 1 < rest.size(); ++i)
        if (rest[i] == "--actor") {
            actor = rest[i + 1];
            rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i), rest.begin() + static_cast<std::ptrdiff_t>(i) + 2);
            break;
        }
    if (rest.size() != 2) {
        err << "loyalty-hq: usage: member sign-in-code ID [--actor NAME] [--config FILE | --db FILE]\n";
        return 2;
    }
    const auto code = accounts.issue_sign_in_code(rest[1]);
    if (!code) {
        err << "loyalty-hq: " << code.error().message << "\n";
        return 1;
    }
    members.audit(actor, "member.sign_in_code", rest[1]);
    out << json{{"member_id", rest[1]}, {"code", *code}, {"valid_minutes", code_lifetime_seconds / 60}}.dump() << "\n";
    return 0;
}

}  // namespace loyalty::hq
