#include <sparc/db/detail/sql.hpp>

namespace sparc::db::detail {

ProbeAnswer ProbeAnswer::parse(const Result& r) {
    const auto row = r.front();
    ProbeAnswer a;
    a.in_recovery = row[0].as<bool>();
    if (!row[1].is_null()) a.position = CommitPosition::parse(row[1].as<std::string_view>());
    a.lag = std::chrono::milliseconds(row[2].as<std::int64_t>(0));
    a.read_only = r.columns() > 3 && row[3].as<bool>(false);
    return a;
}

}  // namespace sparc::db::detail
