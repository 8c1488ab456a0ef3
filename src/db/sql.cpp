#include <sparc/db/detail/sql.hpp>

#include <algorithm>

namespace sparc::db::detail {

ProbeAnswer ProbeAnswer::parse(const Result& r) {
    const auto row = r.front();
    ProbeAnswer a;
    a.in_recovery = row[0].as<bool>();
    if (!row[1].is_null()) a.position = CommitPosition::parse(row[1].as<std::string_view>());
    a.lag = std::chrono::milliseconds(row[2].as<std::int64_t>(0));
    a.read_only = r.columns() > 3 && row[3].as<bool>(false);
    if (r.columns() > 4 && !row[4].is_null()) {
        if (const auto tl = row[4].as<std::int64_t>(0); tl > 0 && tl <= 0xFFFFFFFF) {
            a.timeline = static_cast<std::uint32_t>(tl);
            if (a.position) a.position->timeline = *a.timeline;
        }
    }
    if (r.columns() > 5 && !row[5].is_null()) {
        const auto bits = row[5].as<std::int64_t>(0);
        a.receiver = ReceiverView{.connected = (bits & 1) != 0, .details_visible = (bits & 2) != 0};
    }
    if (r.columns() > 6 && !row[6].is_null()) {
        const auto n = row[6].as<std::int64_t>(0);
        a.standbys = static_cast<std::uint32_t>(std::clamp<std::int64_t>(n, 0, 0xFFFFFFFF));
    }
    if (r.columns() > 7 && !row[7].is_null()) a.system = row[7].as<std::string>();
    return a;
}

std::uint32_t timeline_of_walfile(std::string_view name) noexcept {
    if (name.size() < 24) return 0;
    std::uint32_t tl = 0;
    for (const char c : name.substr(0, 8)) {
        unsigned digit = 0;
        if (c >= '0' && c <= '9') {
            digit = static_cast<unsigned>(c - '0');
        } else if (c >= 'A' && c <= 'F') {
            digit = static_cast<unsigned>(c - 'A' + 10);
        } else if (c >= 'a' && c <= 'f') {
            digit = static_cast<unsigned>(c - 'a' + 10);
        } else {
            return 0;
        }
        tl = tl * 16 + digit;
    }
    return tl;
}

}  // namespace sparc::db::detail
