#pragma once
// Service code written once against db::Client&, without templates: compiled once
// (client_code.cpp, which sees no backend), then run in a unit test on the fake backend and
// in an integration test on PostgreSQL.

#include <cstdint>
#include <string>

#include <sparc/db/client.hpp>

namespace sparc::example {

/// Counts a view and returns the new count: the example of the API contract.
std::int64_t add_view(db::Client& db, std::int64_t video_id);

/// Renames a video in a transaction that returns nothing.
void rename_video(db::Client& db, std::int64_t video_id, const std::string& title);

/// A video's title, read in a transaction that returns a string.
std::string video_title(db::Client& db, std::int64_t video_id);

/// A video's view count read twice on one leased connection; returns the second reading.
std::int64_t views_on_session(db::Client& db, std::int64_t video_id);

}  // namespace sparc::example
