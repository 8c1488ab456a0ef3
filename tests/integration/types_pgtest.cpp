// Every built-in parameter and field type through a real PostgreSQL, both directions: insert
// with parameters, select, compare; arrays with = ANY($1) and strings that need quoting; bytea
// with all 256 byte values in both output formats; timestamps in sessions whose TimeZone is
// not UTC. Prepared (the statement cache) and unprepared statements alike.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pg_util.hpp"

using namespace std::chrono_literals;
using namespace sparc::pgtest;
using std::chrono::system_clock;

namespace {

db::Bytes all_bytes() {
    db::Bytes b;
    for (int i = 0; i < 256; ++i) b.push_back(static_cast<std::byte>(i));
    return b;
}

system_clock::time_point utc(int y, unsigned m, unsigned d, int hh, int mm, int ss,
                             std::chrono::microseconds us = {}) {
    using namespace std::chrono;
    return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss} + us;
}

// Strings an array literal must quote or escape, and the word NULL as a string.
const std::vector<std::string> kAwkward = {"plain",      "",      "NULL",         "null",
                                           "with space", " lead", "trail ",       "a,b",
                                           "{x}",        "}",     "quote\"d",     "back\\slash",
                                           "\\",         "\"",    "tab\tnl\nend", "\xc3\xbcnicode",
                                           "a;b",        "'"};

db::QueryOptions route(bool prepared) { return {.prepare = prepared}; }

}  // namespace

struct Cents {
    std::int64_t value = 0;
    friend bool operator==(const Cents&, const Cents&) = default;
};

template <>
struct sparc::db::Traits<Cents> {
    static db::Param to_param(const Cents& c) { return c.value; }
    static Cents from_field(const db::Field& f) { return Cents{f.as<std::int64_t>()}; }
};

TEST_CASE("types: every type round-trips through a table", "[types]") {
    db::Database pool(config("pg-types-table"));
    pool.query("DROP TABLE IF EXISTS sparc_types");
    pool.query(
        "CREATE TABLE sparc_types (id int PRIMARY KEY, at timestamptz, blob bytea, uid uuid, "
        "doc jsonb, doc_json json, tags text[], nums bigint[], uids uuid[], times timestamptz[], "
        "blobs bytea[], price bigint, grid int[][])");
    const auto at = utc(2026, 11, 30, 11, 36, 16, 123456us);
    const auto before_1970 = utc(1969, 7, 20, 20, 17, 40, 1us);
    const auto uid = db::Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    const nlohmann::json doc = {{"title", "Intro \"1\" \\ \xc3\xa9"}, {"n", 1.5}, {"tags", {"a"}}};
    const std::vector<std::optional<std::string>> tags = {"a b", std::nullopt, "NULL", "", "\"\\"};
    const std::vector<std::int64_t> nums = {1, -2, 9'000'000'000};
    const std::vector<db::Uuid> uids = {uid, db::Uuid{}};
    const std::vector<system_clock::time_point> times = {at, before_1970};
    const std::vector<db::Bytes> blobs = {all_bytes(), {}};
    const std::vector<std::vector<int>> grid = {{1, 2}, {3, 4}};

    for (const bool prepared : {true, false}) {
        DYNAMIC_SECTION((prepared ? "prepared" : "unprepared")) {
            const int id = prepared ? 1 : 2;
            const auto inserted = pool.query(
                "INSERT INTO sparc_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                "$12, $13)",
                {id, at, all_bytes(), uid, doc, doc, tags, nums, uids, times, blobs, Cents{1999},
                 grid},
                route(prepared));
            REQUIRE(inserted.affected_rows() == 1);
            // One NULL of every type.
            pool.query(
                "INSERT INTO sparc_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                "$12, $13)",
                {id + 10, std::optional<system_clock::time_point>{}, std::optional<db::Bytes>{},
                 std::optional<db::Uuid>{}, std::optional<nlohmann::json>{},
                 std::optional<nlohmann::json>{}, std::optional<std::vector<std::string>>{},
                 std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                 std::nullopt},
                route(prepared));

            const auto row =
                pool.query("SELECT * FROM sparc_types WHERE id = $1", {id}, route(prepared))
                    .front();
            CHECK(row["at"].as<system_clock::time_point>() == at);
            CHECK(row["blob"].as<db::Bytes>() == all_bytes());
            CHECK(row["uid"].as<db::Uuid>() == uid);
            CHECK(row["doc"].as<nlohmann::json>() == doc);
            CHECK(row["doc_json"].as<nlohmann::json>() == doc);
            CHECK(row["tags"].as<std::vector<std::optional<std::string>>>() == tags);
            CHECK(row["nums"].as<std::vector<std::int64_t>>() == nums);
            CHECK(row["uids"].as<std::vector<db::Uuid>>() == uids);
            CHECK(row["times"].as<std::vector<system_clock::time_point>>() == times);
            CHECK(row["blobs"].as<std::vector<db::Bytes>>() == blobs);
            CHECK(row["price"].as<Cents>() == Cents{1999});
            CHECK(row["grid"].as<std::vector<std::vector<int>>>() == grid);

            // The server holds what was meant, not only what reads back.
            const auto facts =
                pool.query(
                        "SELECT blob = (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' "
                        "ORDER BY i), 'hex') FROM generate_series(0, 255) i), "
                        "length(blob), at = '2026-11-30 11:36:16.123456+00', uid::text, "
                        "doc->>'title', cardinality(tags), tags[2] IS NULL, tags[3], "
                        "array_dims(grid), price FROM sparc_types WHERE id = $1",
                        {id})
                    .front();
            CHECK(facts[0].as<bool>());
            CHECK(facts[1].as<int>() == 256);
            CHECK(facts[2].as<bool>());
            CHECK(facts[3].as<std::string>() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
            CHECK(facts[4].as<std::string>() == doc["title"].get<std::string>());
            CHECK(facts[5].as<int>() == 5);
            CHECK(facts[6].as<bool>());
            CHECK(facts[7].as<std::string>() == "NULL");
            CHECK(facts[8].as<std::string>() == "[1:2][1:2]");
            CHECK(facts[9].as<std::int64_t>() == 1999);
            const auto hex =
                pool.query("SELECT encode(blob, 'hex') FROM sparc_types WHERE id = $1", {id})
                    .front()[0]
                    .as<std::string>();
            std::string expected_hex;
            for (int b = 0; b < 256; ++b) expected_hex += fmt::format("{:02x}", b);
            CHECK(hex == expected_hex);

            const auto nulls =
                pool.query("SELECT * FROM sparc_types WHERE id = $1", {id + 10}, route(prepared))
                    .front();
            CHECK(nulls["at"].as<std::optional<system_clock::time_point>>() == std::nullopt);
            CHECK(nulls["blob"].as<std::optional<db::Bytes>>() == std::nullopt);
            CHECK(nulls["uid"].as<std::optional<db::Uuid>>() == std::nullopt);
            CHECK(nulls["doc"].as<std::optional<nlohmann::json>>() == std::nullopt);
            CHECK(nulls["tags"].as<std::optional<std::vector<std::string>>>() == std::nullopt);
            CHECK(nulls["price"].as<std::optional<Cents>>() == std::nullopt);
            CHECK_THROWS_AS(nulls["uid"].as<db::Uuid>(), db::ConversionError);
        }
    }
    pool.query("DROP TABLE sparc_types");
}

TEST_CASE("types: = ANY($1) with strings that need quoting", "[types]") {
    db::Database pool(config("pg-types-any"));
    pool.query("DROP TABLE IF EXISTS sparc_types_titles");
    pool.query("CREATE TABLE sparc_types_titles (title text)");
    for (const auto& title : kAwkward) {
        pool.query("INSERT INTO sparc_types_titles VALUES ($1)", {title});
    }
    pool.query("INSERT INTO sparc_types_titles VALUES ('not asked for'), (NULL)");
    for (const bool prepared : {true, false}) {
        const auto found = db::rows_as<std::string>(
            pool.query("SELECT title FROM sparc_types_titles WHERE title = ANY($1) ORDER BY title",
                       {kAwkward}, route(prepared)));
        auto expected = kAwkward;
        std::sort(expected.begin(), expected.end());
        // The server's collation orders differently; compare as sets.
        auto got = found;
        std::sort(got.begin(), got.end());
        CHECK(got == expected);
        // Each element arrives as one array element, exactly.
        const auto echoed =
            pool.query("SELECT $1::text[], cardinality($1::text[])", {kAwkward}, route(prepared))
                .front();
        CHECK(echoed[0].as<std::vector<std::string>>() == kAwkward);
        CHECK(echoed[1].as<std::size_t>() == kAwkward.size());
        for (std::size_t i = 0; i < kAwkward.size(); ++i) {
            CAPTURE(i);
            CHECK(pool.query("SELECT ($1::text[])[$2]", {kAwkward, static_cast<int>(i + 1)})
                      .front()[0]
                      .as<std::string>() == kAwkward[i]);
        }
    }
    // Arrays the server builds, with NULL elements and a lower bound other than 1.
    const auto built =
        pool.query(
                "SELECT ARRAY['a b', NULL, '\"', '\\', 'NULL', '', '{}'], '[0:2]={7,8,9}'::int[], "
                "ARRAY[]::text[]")
            .front();
    CHECK(
        built[0].as<std::vector<std::optional<std::string>>>() ==
        std::vector<std::optional<std::string>>{"a b", std::nullopt, "\"", "\\", "NULL", "", "{}"});
    CHECK(built[1].as<std::vector<int>>() == std::vector<int>{7, 8, 9});
    CHECK(built[2].as<std::vector<std::string>>().empty());
    // A uuid and a bigint array as = ANY parameters.
    const auto uid = db::Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(pool.query("SELECT $1::uuid = ANY($2)", {uid, std::vector<db::Uuid>{db::Uuid{}, uid}})
              .front()[0]
              .as<bool>());
    CHECK(pool.query("SELECT 3 = ANY($1::bigint[])", {std::vector<std::int64_t>{1, 2}})
              .front()[0]
              .as<bool>() == false);
    pool.query("DROP TABLE sparc_types_titles");
}

TEST_CASE("types: arrays of box whose elements PostgreSQL separates with semicolons", "[types]") {
    db::Database pool(config("pg-types-box"));
    for (const bool prepared : {true, false}) {
        const auto row =
            pool.query(
                    "SELECT ARRAY[box '((1,1),(0,0))', box '((3,3),(2,2))'] AS boxes, "
                    "ARRAY[ARRAY[box '((1,1),(0,0))'], ARRAY[box '((3,3),(2,2))']] AS grid, "
                    "ARRAY[box '((1,1),(0,0))', NULL] AS with_null",
                    {}, route(prepared))
                .front();
        CHECK(row["boxes"].as<std::vector<std::string>>() ==
              std::vector<std::string>{"(1,1),(0,0)", "(3,3),(2,2)"});
        CHECK(row["grid"].as<std::vector<std::vector<std::string>>>() ==
              std::vector<std::vector<std::string>>{{"(1,1),(0,0)"}, {"(3,3),(2,2)"}});
        CHECK(row["with_null"].as<std::vector<std::optional<std::string>>>() ==
              std::vector<std::optional<std::string>>{"(1,1),(0,0)", std::nullopt});
    }
}

TEST_CASE("types: bytea with every byte value, in hex and escape output", "[types]") {
    db::Database pool(config("pg-types-bytea"));
    const auto bytes = all_bytes();
    for (const bool prepared : {true, false}) {
        const auto row = pool.query("SELECT $1::bytea, length($1::bytea), md5($1::bytea)", {bytes},
                                    route(prepared))
                             .front();
        CHECK(row[0].as<db::Bytes>() == bytes);
        CHECK(row[1].as<int>() == 256);
        // md5 of the bytes 0..255, computed independently.
        CHECK(row[2].as<std::string>() == "e2c865db4162bed963bfaa9ef6ac18f0");
    }
    // Only NUL bytes, and a bytea next to text parameters (formats per parameter).
    const db::Bytes zeros(5, std::byte{0});
    const auto mixed = pool.query("SELECT $1::text, $2::bytea, $3::int", {"x", zeros, 7})
                           .front()
                           .as<std::tuple<std::string, db::Bytes, int>>();
    CHECK(mixed == std::tuple<std::string, db::Bytes, int>{"x", zeros, 7});
    // bytea_output = escape, inside a transaction so the session keeps hex.
    const auto escaped = pool.transaction([&](db::Transaction<db::PqxxBackend>& tx) {
        tx.query("SET LOCAL bytea_output = escape");
        const auto r = tx.query("SELECT $1::bytea, $1::bytea::text", {bytes}).front();
        CHECK(r[1].as<std::string>().substr(0, 4) == "\\000");
        return r[0].as<db::Bytes>();
    });
    CHECK(escaped == bytes);
}

TEST_CASE("types: timestamps in sessions whose TimeZone is not UTC", "[types]") {
    db::Database pool(config("pg-types-timezone"));
    // sparc asks for the ISO DateStyle at connect.
    CHECK(pool.query("SHOW DateStyle").front()[0].as<std::string>().starts_with("ISO"));
    const auto at = utc(2026, 11, 30, 11, 36, 16, 123456us);
    const auto old = utc(1900, 1, 1, 12, 0, 0);
    for (const char* zone :
         {"Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham", "Europe/Amsterdam", "UTC"}) {
        CAPTURE(zone);
        pool.transaction([&](db::Transaction<db::PqxxBackend>& tx) {
            tx.query(fmt::format("SET LOCAL TimeZone = '{}'", zone));
            const auto r =
                tx.query(
                      "SELECT $1::timestamptz, $1::timestamptz::text, $2::timestamptz, "
                      "$2::timestamptz::text, $1::timestamptz = '2026-11-30 11:36:16.123456Z'",
                      {at, old})
                    .front();
            CHECK(r[0].as<system_clock::time_point>() == at);
            CHECK(r[2].as<system_clock::time_point>() == old);
            CHECK(r[4].as<bool>());
            if (std::string_view(zone) == "Asia/Kolkata") {
                CHECK(r[1].as<std::string>() == "2026-11-30 17:06:16.123456+05:30");
            }
            if (std::string_view(zone) == "America/Sao_Paulo") {
                CHECK(r[1].as<std::string>() == "2026-11-30 08:36:16.123456-03");
            }
            if (std::string_view(zone) == "Europe/Amsterdam") {
                CHECK(r[3].as<std::string>() == "1900-01-01 12:19:32+00:19:32");
            }
        });
    }
    // timestamp without time zone reads as UTC wall clock; a date as its midnight.
    const auto plain = pool.query(
                               "SELECT '2026-11-30 11:36:16.123456'::timestamp, "
                               "'2026-11-30'::date, now() - $1::timestamptz < interval '1 day'",
                               {system_clock::now()})
                           .front();
    CHECK(plain[0].as<system_clock::time_point>() == at);
    CHECK(plain[1].as<std::chrono::sys_days>() ==
          std::chrono::sys_days{std::chrono::year{2026} / 11 / 30});
    CHECK(plain[2].as<bool>());
    // Infinity is a clear error; the text is still there for whoever wants it.
    const auto inf = pool.query("SELECT 'infinity'::timestamptz").front()[0];
    CHECK_THROWS_WITH(inf.as<system_clock::time_point>(), Catch::Contains("infinite"));
    CHECK(inf.as<std::string>() == "infinity");
    // A session that switched DateStyle gets an error that says so, not a wrong time.
    pool.transaction([&](db::Transaction<db::PqxxBackend>& tx) {
        tx.query("SET LOCAL DateStyle = 'SQL, DMY'");
        const auto f = tx.query("SELECT $1::timestamptz", {at}).front()[0];
        CHECK_THROWS_WITH(f.as<system_clock::time_point>(), Catch::Contains("DateStyle"));
    });
    // Before 1970 and before year 1.
    const auto bc = pool.query("SELECT $1::timestamptz, '0044-03-15 12:00:00+00 BC'::timestamptz",
                               {utc(1901, 1, 1, 0, 0, 0, 999999us)})
                        .front();
    CHECK(bc[0].as<system_clock::time_point>() == utc(1901, 1, 1, 0, 0, 0, 999999us));
    const auto ides = bc[1].as<std::chrono::sys_seconds>();
    CHECK(pool.query("SELECT $1::timestamptz = '0044-03-15 12:00:00+00 BC'", {ides})
              .front()[0]
              .as<bool>());
}

TEST_CASE("types: uuid, json and whole rows", "[types]") {
    db::Database pool(config("pg-types-misc"));
    const auto generated = db::rows_as<db::Uuid>(
        pool.query("SELECT gen_random_uuid() FROM generate_series(1, 20) ORDER BY 1"));
    REQUIRE(generated.size() == 20);
    CHECK(std::is_sorted(generated.begin(), generated.end()));  // the server's order is ours
    for (const auto& u : generated) {
        CHECK(pool.query("SELECT $1::uuid::text", {u}).front()[0].as<std::string>() ==
              u.to_string());
    }
    CHECK(pool.query("SELECT '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'::uuid")
              .front()[0]
              .as<db::Uuid>() == db::Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));

    const nlohmann::json doc = {{"z", {1, 2, nullptr}}, {"a", "\xe2\x82\xac \"q\" \\"}};
    const auto j =
        pool.query("SELECT $1::jsonb, $1::json, $1::jsonb -> 'a', $1::jsonb ? 'z'", {doc}).front();
    CHECK(j[0].as<nlohmann::json>() == doc);
    CHECK(j[1].as<nlohmann::json>() == doc);
    CHECK(j[2].as<nlohmann::json>() == doc["a"]);
    CHECK(j[3].as<bool>());
    const auto ordered =
        pool.query("SELECT $1::json", {nlohmann::ordered_json{{"z", 1}, {"a", 2}}}).front()[0];
    CHECK(ordered.as<nlohmann::ordered_json>().begin().key() == "z");

    using Row = std::tuple<int, std::optional<std::string>, system_clock::time_point, db::Uuid>;
    const auto rows = db::rows_as<Row>(
        pool.query("SELECT i, CASE WHEN i % 2 = 0 THEN 'even' END, "
                   "'2000-01-01 00:00:00+00'::timestamptz + i * interval '1 second', $1::uuid "
                   "FROM generate_series(1, 3) i ORDER BY i",
                   {generated.front()}));
    REQUIRE(rows.size() == 3);
    const auto [i, label, when, uid] = rows[1];
    CHECK(i == 2);
    CHECK(label == "even");
    CHECK(when == utc(2000, 1, 1, 0, 0, 2));
    CHECK(uid == generated.front());
    CHECK(std::get<1>(rows[0]) == std::nullopt);
}

TEST_CASE("types: sparc asks for the ISO DateStyle where the server's default is another",
          "[types]") {
    db::Database admin(config("pg-types-datestyle-admin"));
    admin.query("DROP DATABASE IF EXISTS sparc_types_sql_style");
    admin.query("CREATE DATABASE sparc_types_sql_style");
    admin.query("ALTER DATABASE sparc_types_sql_style SET DateStyle = 'SQL, DMY'");
    {
        auto cfg = config("pg-types-datestyle");
        cfg.primary.set_option("dbname", "sparc_types_sql_style");
        db::Database pool(cfg);
        // The style is ISO, the database's day/month order stays.
        CHECK(pool.query("SHOW DateStyle").front()[0].as<std::string>() == "ISO, DMY");
        const auto at = utc(2026, 11, 30, 11, 36, 16, 123456us);
        CHECK(
            pool.query("SELECT $1::timestamptz", {at}).front()[0].as<system_clock::time_point>() ==
            at);
        // A DateStyle the caller chose in the connection options is left alone.
        auto chosen = cfg;
        chosen.application_name = "pg-types-datestyle-chosen";
        chosen.primary.set_option("options", "-c DateStyle=German");
        db::Database german(chosen);
        CHECK(german.query("SHOW DateStyle").front()[0].as<std::string>() == "German, DMY");
        pool.shutdown(5s);
        german.shutdown(5s);
    }
    admin.query("DROP DATABASE sparc_types_sql_style WITH (FORCE)");
}
