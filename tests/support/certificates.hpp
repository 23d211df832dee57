// Test support: certificates made by the project's own tool (packaging/certs/loyalty-certs), so
// every test that speaks TLS also proves that what the tool makes is what the code accepts.
#pragma once

#include <filesystem>
#include <string>

namespace loyalty::test {

// Runs `command` through the shell and returns its standard output; throws
// std::runtime_error with the command and its error output when it fails.
std::string run_command(const std::string& command);
// `loyalty-certs ARGUMENTS` through run_command.
std::string certs_tool(const std::string& arguments);

// A chain in `directory`: its CA (ca.crt) and head office's certificate for `server_names`
// (hq/ca.crt, hq/server.crt, hq/server.key).
void make_chain(const std::filesystem::path& directory, const std::string& server_names = "localhost 127.0.0.1");
// Till STORE-TILL's bundle from the chain's CA: directory/tills/STORE-TILL/{ca.crt,till.crt,till.key}.
void issue_till_certificate(const std::filesystem::path& directory, const std::string& store, const std::string& till);

}  // namespace loyalty::test
