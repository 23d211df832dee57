// What an OpenAPI document (docs/*.yaml) lists, read with a few regular expressions (the
// documents are written in one layout), so tests can check a server's routes against it.
#pragma once

#include <cctype>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace loyalty::test {

// "METHOD /path" for every operation under `paths:` of the OpenAPI document.
inline std::set<std::string> documented_operations(const std::string& yaml) {
    std::set<std::string> operations;
    std::istringstream lines(yaml);
    bool in_paths = false;
    std::string path;
    const std::regex path_line(R"(^  (/[^:\s]*):\s*$)");
    const std::regex method_line(R"(^    (get|put|post|delete|patch|head|options):\s*$)");
    for (std::string text; std::getline(lines, text);) {
        if (!text.empty() && text[0] != ' ' && text[0] != '#') in_paths = text.rfind("paths:", 0) == 0;
        if (!in_paths) continue;
        std::smatch match;
        if (std::regex_match(text, match, path_line)) path = match[1];
        else if (std::regex_match(text, match, method_line) && !path.empty()) {
            std::string method = match[1];
            for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            operations.insert(method + " " + path);
        }
    }
    return operations;
}

}  // namespace loyalty::test
