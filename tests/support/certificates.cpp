#include "support/certificates.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/temp_dir.hpp"

namespace loyalty::test {

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::string run_command(const std::string& command) {
    const TempDir scratch;
    const fs::path output = scratch.path() / "out", errors = scratch.path() / "err";
    if (std::system((command + " > " + output.string() + " 2> " + errors.string()).c_str()) != 0)
        throw std::runtime_error("test set-up failed: " + command + "\n" + slurp(errors));
    return slurp(output);
}

std::string certs_tool(const std::string& arguments) {
    return run_command(std::string(LOYALTY_SOURCE_DIR) + "/packaging/certs/loyalty-certs " + arguments);
}

void make_chain(const fs::path& directory, const std::string& server_names) {
    certs_tool("ca " + directory.string());
    certs_tool("server " + directory.string() + " " + server_names);
}

void issue_till_certificate(const fs::path& directory, const std::string& store, const std::string& till) {
    certs_tool("till " + directory.string() + " " + store + " " + till);
}

}  // namespace loyalty::test
