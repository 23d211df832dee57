// Head office's web pages (issue 10): the member page and the staff dashboard, served by
// loyalty-hq on its web listener (config "web_listen") with their assets built into the binary.
//
//   GET  /                      the member page (sync/web/index.html)
//   GET  /dashboard             the head-office dashboard (sync/web/dashboard.html)
//   GET  /assets/{name}         style.css, member.js, dashboard.js, charts.js
//   POST /member/sign-in        {"card": "...", "code": "12345678"} -> session cookie loyalty_member
//   GET  /member/me             the signed-in member's balance, tier, expiry, activity and offers
//   POST /member/sign-out
//   POST /staff/sign-in         {"name": "...", "password": "..."} -> session cookie loyalty_staff
//   GET  /staff/me              {"name": ...}
//   POST /staff/sign-out
//   /v1/...                     every admin route, authorised by the staff session instead of the
//                               bearer token; the staff name is the audit actor ("staff:NAME")
//
// Security: session cookies are 256 random bits, HttpOnly, SameSite=Strict (Secure with
// "web_secure_cookies"), kept in memory hashed (a restart signs everyone out). A POST must
// carry Content-Type: application/json (a cross-site form cannot), else 415. Sign-ins are
// rate-limited per card or staff name and per client address (429 naming which). The member
// routes take the member id only from the session. Pages carry a strict Content-Security-Policy
// (no inline script or style).
//
// Member sign-in codes (8 digits, 10 minutes, single use, stored as SHA-256) come from staff:
// `loyalty-hq member sign-in-code ID` or POST /v1/members/{id}/sign-in-code (admin API).
// Staff accounts: `loyalty-hq staff add NAME` (password on stdin, PBKDF2-HMAC-SHA256, salted).
//
// Threads: WebAccounts runs on the DatabaseThread like every store call; WebSessions is
// guarded by its own mutex and may be used from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hq_members.hpp"
#include "hq_server.hpp"
#include "loyalty/clock.hpp"
#include "loyalty/program.hpp"
#include "loyalty/router.hpp"

namespace loyalty::hq {

struct WebSettings {
    bool enabled = false;  // "web_listen" given
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;
    // "web_trusted_proxy": the reverse proxy's address; for requests from it the client is the
    // last address of X-Forwarded-For (for the per-address rate limit).
    std::string trusted_proxy{};
    bool secure_cookies = false;  // "web_secure_cookies": the proxy serves HTTPS
};

struct StaffCredentials {
    std::string name;
    std::string salt_hex;
    std::string hash_hex;
    std::int64_t iterations = 0;
};

// Sign-in codes and staff accounts in head office's database (component "hq_web").
class WebAccounts {
  public:
    WebAccounts(Program& program, const Clock& clock);

    // A fresh code for the member, replacing any earlier one; not_found for an unknown member.
    Result<std::string> issue_sign_in_code(const std::string& member_id);
    // The member whose card this is, when `code` is their live code (then used up).
    Result<std::string> redeem_sign_in_code(const std::string& card, const std::string& code);
    // Creates the account or sets a new password; errors name "name" or "password".
    Result<Done> set_staff_password(const std::string& name, const std::string& password);
    Result<Done> remove_staff(const std::string& name);
    std::optional<StaffCredentials> staff(const std::string& name);
    std::vector<std::string> staff_names();

  private:
    Program& program_;
    const Clock& clock_;
};

// PBKDF2 takes tens of milliseconds: call it off the DatabaseThread.
bool password_matches(const StaffCredentials& credentials, const std::string& password);

// Who holds a session: a member id or a staff name.
struct Session {
    std::string kind;     // "member" or "staff"
    std::string subject;  // member id or staff name
    Timestamp expires_at = 0;
};

class WebSessions {
  public:
    // Sign-in failures are counted over `failure_window`.
    WebSessions(const Clock& clock, std::chrono::seconds failure_window = std::chrono::minutes(15))
        : clock_(clock), failure_window_(failure_window) {}

    // A new random token for `subject`, valid for `lifetime`.
    std::string open(const std::string& kind, const std::string& subject, std::chrono::seconds lifetime);
    std::optional<Session> find(const std::string& kind, const std::string& token);
    void close(const std::string& token);

    // Rate limit: at most `limit` failures per key in the window. `blocked` says whether the key
    // has used them up; `failed` counts one; `succeeded` forgets the key's failures.
    bool blocked(const std::string& key, int limit);
    void failed(const std::string& key);
    void succeeded(const std::string& key);

  private:
    struct Failures {
        Timestamp first = 0;
        int count = 0;
    };
    const Clock& clock_;
    const std::chrono::seconds failure_window_;
    std::mutex mutex_;
    std::map<std::string, Session> sessions_;  // by SHA-256 of the token
    std::map<std::string, Failures> failures_;
};

// Admin routes the pages use, added to the admin router (token) beside add_admin_routes:
//   POST /v1/members/{id}/sign-in-code  {"code": "12345678", "expires_at": ...}; audited
//   GET  /v1/chain/totals               members, points outstanding, purchases and revenue
//                                       (all time and last 30 days)
void add_web_admin_routes(http::Router& router, DatabaseThread& database, Program& program, WebAccounts& accounts,
                          MemberData& members, const Clock& clock);

// The web listener's router: pages, member and staff routes, and `admin`'s routes behind the
// staff session. `admin` and the rest must outlive the returned router.
http::Router web_router(const http::Router& admin, DatabaseThread& database, Program& program,
                        WebAccounts& accounts, WebSessions& sessions, const WebSettings& settings);

// `loyalty-hq staff add NAME` (password from `in`, first line) | remove NAME | list.
int run_staff_command(const std::vector<std::string>& words, WebAccounts& accounts, std::istream& in,
                      std::ostream& out, std::ostream& err);
// `loyalty-hq member sign-in-code ID`: prints the code and its expiry.
int run_sign_in_code_command(const std::vector<std::string>& words, WebAccounts& accounts, MemberData& members,
                             std::ostream& out, std::ostream& err);

}  // namespace loyalty::hq
