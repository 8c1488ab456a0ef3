// Deliberately includes nothing but <sparc/db/client.hpp>: the code below cannot know which
// backend the pool it is given runs on.

#include "shared/client_code.hpp"

namespace sparc::example {

namespace db = sparc::db;

// As written in the API contract and the README (not reformatted, to stay identical).
// clang-format off
std::int64_t add_view(db::Client& db, std::int64_t video_id) {
    return db.transaction([&](db::Tx& tx) {
        return tx.query("UPDATE videos SET views = views + 1 WHERE id = $1 RETURNING views",
                        {video_id}).front()[0].as<std::int64_t>();
    });
}
// clang-format on

void rename_video(db::Client& db, std::int64_t video_id, const std::string& title) {
    db.transaction([&](db::Tx& tx) {
        tx.query("UPDATE videos SET title = $1 WHERE id = $2", {title, video_id});
    });
}

std::string video_title(db::Client& db, std::int64_t video_id) {
    return db.transaction(
        [&](db::Tx& tx) {
            return tx.query("SELECT title FROM videos WHERE id = $1", {video_id})
                .front()[0]
                .as<std::string>();
        },
        {.read_only = true});
}

std::int64_t views_on_session(db::Client& db, std::int64_t video_id) {
    db::Session session = db.acquire();
    session.query("SELECT views FROM videos WHERE id = $1", {video_id});
    return session.query("SELECT views FROM videos WHERE id = $1", {video_id})
        .front()[0]
        .as<std::int64_t>();
}

}  // namespace sparc::example
