// Uses sparc the way a service does: the umbrella headers and both libraries.
#include <sparc/cdn.hpp>
#include <sparc/db.hpp>
#include <sparc/db/endpoint.hpp>

#include <cstdio>
#include <string>

int main() {
    const auto endpoint = sparc::db::Endpoint::parse("postgresql://u@h/db");
    const std::string label = endpoint.label();
    if (label.find("h") == std::string::npos || label.find("db") == std::string::npos) {
        std::fprintf(stderr, "unexpected endpoint label: %s\n", label.c_str());
        return 1;
    }
    std::printf("sparc consumer: %s\n", label.c_str());
    return 0;
}
