#pragma once
// Code a service writes once against ConnectionPool<B>&: the same function runs in a unit test
// on the fake backend and in an integration test on PostgreSQL.

#include <cstdint>

#include <sparc/db/pool.hpp>

namespace sparc::example {

/// Records a view of `video` by `user` and returns the video's new view count. Idempotent per
/// (video, user, view_id): a retried transaction cannot count a view twice.
template <typename B>
std::int64_t record_view(db::ConnectionPool<B>& pool, std::int64_t video, std::int64_t user,
                         std::int64_t view_id) {
    return pool.transaction(
        [&](auto& tx) {
            const auto inserted =
                tx.query(
                      "INSERT INTO view_log (view_id, video_id, user_id) VALUES ($1, $2, $3)"
                      " ON CONFLICT (view_id) DO NOTHING",
                      {view_id, video, user})
                    .affected_rows();
            if (inserted == 1) {
                tx.query("UPDATE view_counts SET views = views + 1 WHERE id = $1", {video});
            }
            return tx.query("SELECT views FROM view_counts WHERE id = $1", {video})
                .front()["views"]
                .template as<std::int64_t>();
        },
        {.isolation = db::IsolationLevel::read_committed});
}

}  // namespace sparc::example
