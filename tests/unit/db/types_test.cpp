// Parameter and field types (types.hpp, traits.hpp, uuid.hpp): how each is sent and read, the
// edge cases of each text encoding, db::Traits for a user's type, and whole rows as tuples.
// tests/integration/types_pgtest.cpp round-trips the same types through PostgreSQL.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using namespace std::chrono_literals;
using std::chrono::system_clock;

namespace {

/// A one-row result with these columns and texts, as the fake backend or a server gives them.
db::Result one_row(std::vector<std::string> columns, std::vector<std::optional<std::string>> row) {
    return db::testing::detail::text_result(std::move(columns), {std::move(row)});
}

db::Field field(std::optional<std::string> text, std::string name = "v") {
    return one_row({std::move(name)}, {std::move(text)}).front()[0];
}

db::Bytes all_bytes() {
    db::Bytes b;
    for (int i = 0; i < 256; ++i) b.push_back(static_cast<std::byte>(i));
    return b;
}

system_clock::time_point utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0,
                             std::chrono::microseconds us = {}) {
    using namespace std::chrono;
    return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss} + us;
}

// 1 BC, 31 December: the day before 0001-01-01.
const std::chrono::sys_seconds kFirstDayBC{std::chrono::sys_days{std::chrono::year{1} / 1 / 1} -
                                           std::chrono::days{1}};

}  // namespace

// A user's type, sent as bigint cents and read back from it.
struct Money {
    std::int64_t cents = 0;
    friend bool operator==(const Money&, const Money&) = default;
};

template <>
struct sparc::db::Traits<Money> {
    static db::Param to_param(const Money& m) { return m.cents; }
    static Money from_field(const db::Field& f) { return Money{f.as<std::int64_t>()}; }
};

enum class Colour { red };

// What compiles as a parameter or a field type, and what is refused with the readable
// static_assert instead (a negative compile test checks its message: tests/unit/db/compile).
static_assert(db::ParamType<int> && db::ParamType<std::int8_t> && db::ParamType<double>);
static_assert(db::ParamType<const char*> && db::ParamType<std::string_view>);
static_assert(db::ParamType<char[6]> && db::ParamType<const std::string&>);
static_assert(db::ParamType<std::nullopt_t> && db::ParamType<std::optional<std::string>>);
static_assert(db::ParamType<db::Bytes> && db::ParamType<db::Uuid> && db::ParamType<Money>);
static_assert(db::ParamType<system_clock::time_point> && db::ParamType<std::chrono::sys_seconds>);
static_assert(db::ParamType<nlohmann::json> && db::ParamType<std::vector<std::string>>);
static_assert(db::ParamType<std::vector<std::optional<std::int64_t>>>);
static_assert(!db::ParamType<char> && !db::ParamType<Colour> && !db::ParamType<int*>);
static_assert(!db::ParamType<std::map<int, int>> && !db::ParamType<std::optional<Colour>>);
static_assert(db::FieldType<std::int64_t> && db::FieldType<std::optional<db::Uuid>>);
static_assert(db::FieldType<db::Bytes> && db::FieldType<Money> && db::FieldType<nlohmann::json>);
static_assert(db::FieldType<std::vector<std::optional<std::string>>>);
static_assert(!db::FieldType<char> && !db::FieldType<Colour>);
// The binary flag fits in the padding: Param stays a string and two flags.
static_assert(sizeof(db::Param) <= sizeof(std::string) + sizeof(void*));

TEST_CASE("bytea: every byte value is sent in binary and read back from hex", "[db][types]") {
    const auto bytes = all_bytes();
    const db::Param p(bytes);
    REQUIRE(p.is_binary());
    REQUIRE(p.size() == 256);
    for (std::size_t i = 0; i < 256; ++i) {
        REQUIRE(static_cast<unsigned char>(p.text()[i]) == i);
    }
    const auto hex = db::detail::bytea_hex(p.text());
    REQUIRE(hex.substr(0, 8) == "\\x000102");
    REQUIRE(hex.substr(hex.size() - 4) == "feff");
    REQUIRE(field(hex).as<db::Bytes>() == bytes);
    REQUIRE(field("\\xDEADbeef").as<db::Bytes>() ==
            db::Bytes{std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}, std::byte{0xef}});
    REQUIRE(field("\\x").as<db::Bytes>().empty());
    REQUIRE_FALSE(db::Param(db::Bytes{}).is_null());
    REQUIRE(field(std::nullopt).as<std::optional<db::Bytes>>() == std::nullopt);
    REQUIRE_THROWS_AS(field("\\x0").as<db::Bytes>(), db::ConversionError);
    REQUIRE_THROWS_AS(field("\\xzz").as<db::Bytes>(), db::ConversionError);
}

TEST_CASE("bytea: the escape output format is read too", "[db][types]") {
    // As PostgreSQL prints with bytea_output = escape: printable ASCII as itself, a backslash
    // doubled, everything else as \ooo.
    std::string escaped;
    for (int i = 0; i < 256; ++i) {
        if (i == '\\') {
            escaped += "\\\\";
        } else if (i >= 0x20 && i < 0x7f) {
            escaped += static_cast<char>(i);
        } else {
            escaped += fmt::format("\\{:03o}", i);
        }
    }
    REQUIRE(field(escaped).as<db::Bytes>() == all_bytes());
    REQUIRE(field("").as<db::Bytes>().empty());
    REQUIRE_THROWS_AS(field("a\\9").as<db::Bytes>(), db::ConversionError);
    REQUIRE_THROWS_AS(field("a\\").as<db::Bytes>(), db::ConversionError);
}

TEST_CASE("bytea: a NUL byte passes the statement check: the fake records hex text",
          "[db][types]") {
    db::testing::FakeBackend fake;
    fake.on("INSERT INTO blobs (data) VALUES ($1)")
        .with_params({db::Bytes{std::byte{0}, std::byte{0xff}}})
        .affects(1);
    db::test::FakePool pool(db::test::fake_config(), fake);
    const db::Bytes data{std::byte{0}, std::byte{0xff}};
    REQUIRE(pool.query("INSERT INTO blobs (data) VALUES ($1)", {data}).affected_rows() == 1);
    const auto calls = fake.calls();
    REQUIRE(calls.back().params == std::vector<std::optional<std::string>>{"\\x00ff"});
    // Text keeps its NUL check.
    REQUIRE_THROWS_AS(pool.query("SELECT $1", {std::string("a\0b", 3)}), db::UsageError);
}

TEST_CASE("arrays: the library quotes and escapes every element that needs it", "[db][types]") {
    const std::vector<std::string> torture = {
        "plain",      "",      "NULL",         "null",
        "with space", " lead", "trail ",       "a,b",
        "{x}",        "}",     "quote\"d",     "back\\slash",
        "\\",         "\"",    "tab\tnl\nend", "\xc3\xbcnicode",
        "a;b",        "'"};
    const db::Param p(torture);
    REQUIRE(p.text() == R"({plain,"","NULL","null","with space"," lead","trail ","a,b","{x}","}",)"
                        R"("quote\"d","back\\slash","\\","\"",)"
                        "\"tab\tnl\nend\",\xc3\xbcnicode,a;b,'}");
    // What the library sends, it reads back (the server prints arrays with the same rules).
    REQUIRE(field(p.text()).as<std::vector<std::string>>() == torture);
}

TEST_CASE("arrays: a std::vector<Param> stays a parameter list", "[db][types]") {
    const db::Params list{1, "x"};
    const db::ParamsRef braced = {list};
    REQUIRE(braced.size() == 2);
    // One array parameter, by contrast:
    const db::ParamsRef one = {std::vector<int>{1, 2}};
    REQUIRE(one.size() == 1);
}

TEST_CASE("arrays: NULL elements, empty arrays, numbers, booleans", "[db][types]") {
    const std::vector<std::optional<std::string>> with_null = {"a", std::nullopt, "NULL", ""};
    const db::Param p(with_null);
    REQUIRE(p.text() == R"({a,NULL,"NULL",""})");
    REQUIRE(field(p.text()).as<std::vector<std::optional<std::string>>>() == with_null);
    // Unquoted NULL in any case is NULL; a quoted or escaped one is the word.
    REQUIRE(field(R"({NuLl,"null",\NULL})").as<std::vector<std::optional<std::string>>>() ==
            std::vector<std::optional<std::string>>{std::nullopt, "null", "NULL"});
    REQUIRE_THROWS_WITH(field("{1,NULL}").as<std::vector<int>>(), Catch::Contains("v[2]"));
    REQUIRE(field("{1,NULL}").as<std::vector<std::optional<int>>>() ==
            std::vector<std::optional<int>>{1, std::nullopt});

    REQUIRE(db::Param(std::vector<int>{}).text() == "{}");
    REQUIRE(field("{}").as<std::vector<int>>().empty());
    REQUIRE(db::Param(std::vector<std::int64_t>{1, -2, 9'000'000'000}).text() ==
            "{1,-2,9000000000}");
    REQUIRE(field("{1,-2,9000000000}").as<std::vector<std::int64_t>>() ==
            std::vector<std::int64_t>{1, -2, 9'000'000'000});
    REQUIRE(db::Param(std::vector<bool>{true, false}).text() == "{true,false}");
    REQUIRE(field("{t,f}").as<std::vector<bool>>() == std::vector<bool>{true, false});
    REQUIRE(db::Param(std::vector<double>{0.5, -1e300}).text() == "{0.5,-1e+300}");
    REQUIRE(db::Param(std::optional<std::vector<int>>{}).is_null());
    REQUIRE(field(std::nullopt).as<std::optional<std::vector<int>>>() == std::nullopt);
}

TEST_CASE("arrays: what the server prints is parsed", "[db][types]") {
    using Strings = std::vector<std::string>;
    REQUIRE(field(R"({ a , "b c" ,d})").as<Strings>() == Strings{"a", "b c", "d"});
    REQUIRE(field(R"({a\,b,c\ })").as<Strings>() == Strings{"a,b", "c "});
    REQUIRE(field("[0:2]={7,8,9}").as<std::vector<int>>() == std::vector<int>{7, 8, 9});
    REQUIRE(field("{{1,2},{3,4}}").as<std::vector<std::vector<int>>>() ==
            std::vector<std::vector<int>>{{1, 2}, {3, 4}});
    REQUIRE(field(R"({{"a}","b"},{c,NULL}})")
                .as<std::vector<std::vector<std::optional<std::string>>>>() ==
            std::vector<std::vector<std::optional<std::string>>>{{"a}", "b"}, {"c", std::nullopt}});
    REQUIRE(db::Param(std::vector<std::vector<int>>{{1, 2}, {3, 4}}).text() == "{{1,2},{3,4}}");
    REQUIRE_THROWS_WITH(field("{{1,2},{3,4}}").as<std::vector<int>>(),
                        Catch::Contains("multi-dimensional"));
    REQUIRE_THROWS_AS(field("{1,2}").as<std::vector<std::vector<int>>>(), db::ConversionError);
    for (const char* bad : {"", "1,2", "{1,2", "{1,,2}", "{1,2}x", "{\"a}", "{a\"b}", "{,}", "{1}}",
                            "[1:2]{1,2}", "{a\\}"}) {
        CAPTURE(bad);
        REQUIRE_THROWS_AS(field(bad).as<std::vector<std::string>>(), db::ConversionError);
    }
    REQUIRE_THROWS_AS(field("{1,x}").as<std::vector<int>>(), db::ConversionError);
}

namespace {

// One text value in a column whose type OID the server reported, as a libpq result has it.
class TypedValue final : public db::detail::ResultData {
  public:
    TypedValue(std::string text, std::uint32_t type) : text_(std::move(text)), type_(type) {}
    std::size_t rows() const noexcept override { return 1; }
    std::size_t columns() const noexcept override { return 1; }
    std::string_view column_name(std::size_t) const noexcept override { return "v"; }
    bool is_null(std::size_t, std::size_t) const noexcept override { return false; }
    std::string_view value(std::size_t, std::size_t) const noexcept override { return text_; }
    std::uint64_t affected_rows() const noexcept override { return 0; }
    std::uint32_t column_type(std::size_t) const noexcept override { return type_; }

  private:
    std::string text_;
    std::uint32_t type_;
};

db::Field typed_field(std::string text, std::uint32_t type) {
    return {std::make_shared<const TypedValue>(std::move(text), type), 0, 0};
}

}  // namespace

TEST_CASE("arrays: a box[] is split at the semicolons PostgreSQL prints between its elements",
          "[db][types]") {
    using Strings = std::vector<std::string>;
    constexpr std::uint32_t kBoxArray = 1020;
    const auto boxes = typed_field("{(1,1),(0,0);(3,3),(2,2)}", kBoxArray);
    CHECK(boxes.type_oid() == kBoxArray);
    CHECK(boxes.as<Strings>() == Strings{"(1,1),(0,0)", "(3,3),(2,2)"});
    CHECK(typed_field("{(1,1),(0,0);NULL}", kBoxArray)
              .as<std::vector<std::optional<std::string>>>() ==
          std::vector<std::optional<std::string>>{"(1,1),(0,0)", std::nullopt});
    CHECK(typed_field("{{(1,1),(0,0)};{(3,3),(2,2)}}", kBoxArray).as<std::vector<Strings>>() ==
          std::vector<Strings>{{"(1,1),(0,0)"}, {"(3,3),(2,2)"}});
    // Another array type keeps splitting at commas; a type not known (0) too.
    CHECK(typed_field("{a;b,c}", 1009).as<Strings>() == Strings{"a;b", "c"});
    CHECK(field("{a;b,c}").type_oid() == 0);
    CHECK(field("{a;b,c}").as<Strings>() == Strings{"a;b", "c"});
}

TEST_CASE("arrays of bytea, uuid, time points and user types", "[db][types]") {
    const std::vector<db::Bytes> blobs = {all_bytes(), {}, {std::byte{'"'}}};
    const db::Param p(blobs);
    REQUIRE(p.text().starts_with(R"({"\\x000102)"));
    REQUIRE(field(p.text()).as<std::vector<db::Bytes>>() == blobs);

    const std::vector<db::Uuid> ids = {db::Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), {}};
    REQUIRE(db::Param(ids).text() ==
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,00000000-0000-0000-0000-000000000000}");
    REQUIRE(field(db::Param(ids).text()).as<std::vector<db::Uuid>>() == ids);

    const std::vector<system_clock::time_point> times = {utc(1969, 7, 20, 20, 17, 40),
                                                         utc(2026, 11, 30, 11, 36, 16, 123456us)};
    REQUIRE(db::Param(times).text() ==
            R"({"1969-07-20 20:17:40+00","2026-11-30 11:36:16.123456+00"})");
    REQUIRE(field(db::Param(times).text()).as<std::vector<system_clock::time_point>>() == times);

    REQUIRE(db::Param(std::vector<Money>{{150}, {-1}}).text() == "{150,-1}");
    REQUIRE(field("{150,-1}").as<std::vector<Money>>() == std::vector<Money>{{150}, {-1}});
}

TEST_CASE("timestamptz: sent as UTC text with microseconds", "[db][types]") {
    const auto text = [](auto t) { return db::Param(t).text(); };
    REQUIRE(text(system_clock::time_point{}) == "1970-01-01 00:00:00+00");
    REQUIRE(text(utc(2026, 11, 30, 11, 36, 16, 123456us)) == "2026-11-30 11:36:16.123456+00");
    REQUIRE(text(system_clock::time_point{} - 1us) == "1969-12-31 23:59:59.999999+00");
    REQUIRE(text(utc(1900, 2, 28, 23, 59, 59, 1us)) == "1900-02-28 23:59:59.000001+00");
    // Nanoseconds are floored to the microsecond, before 1970 too.
    REQUIRE(text(system_clock::time_point{} + 1999ns) == "1970-01-01 00:00:00.000001+00");
    REQUIRE(text(system_clock::time_point{} - 1ns) == "1969-12-31 23:59:59.999999+00");
    REQUIRE(text(std::chrono::sys_days{std::chrono::year{2000} / 2 / 29}) ==
            "2000-02-29 00:00:00+00");
    REQUIRE(text(kFirstDayBC) == "0001-12-31 00:00:00+00 BC");
}

TEST_CASE("timestamptz: read in any session time zone, to the microsecond", "[db][types]") {
    using TP = system_clock::time_point;
    const auto at = [](const char* text) { return field(text).as<TP>(); };
    const auto t = utc(2026, 11, 30, 6, 6, 16, 123456us);
    REQUIRE(at("2026-11-30 06:06:16.123456+00") == t);
    REQUIRE(at("2026-11-30 11:36:16.123456+05:30") == t);
    REQUIRE(at("2026-11-30 03:06:16.123456-03") == t);
    REQUIRE(at("2026-11-30T06:06:16.123456Z") == t);
    REQUIRE(at("2026-11-30 11:36:16.123456+0530") == t);
    REQUIRE(at("2026-11-30 06:06:16.1234569+00") == t);  // past microseconds: floored
    // Historical local mean time has offsets in seconds (Europe/Amsterdam in 1900).
    REQUIRE(at("1900-01-01 00:19:32+00:19:32") == utc(1900, 1, 1));
    REQUIRE(at("1969-12-31 23:59:59.5+00") == TP{} - 500ms);
    REQUIRE(at("2026-11-30 06:06:16.1+00") == utc(2026, 11, 30, 6, 6, 16, 100000us));
    // timestamp without time zone reads as UTC; a date as its midnight UTC.
    REQUIRE(at("2026-11-30 06:06:16.123456") == t);
    REQUIRE(at("2026-11-30") == utc(2026, 11, 30));
    REQUIRE(field("0001-12-31 00:00:00+00 BC").as<std::chrono::sys_seconds>() == kFirstDayBC);
    REQUIRE(field(std::nullopt).as<std::optional<TP>>() == std::nullopt);
    // Round trip of what the library sends, across the range of system_clock.
    for (const auto tp : {TP{} - 1us, TP{} + 1us, utc(1677, 9, 22), utc(2262, 4, 11),
                          utc(2000, 2, 29, 12, 0, 0, 999999us), utc(1700, 3, 1)}) {
        const auto sent = db::Param(tp).text();
        CAPTURE(sent);
        REQUIRE(field(sent).as<TP>() == std::chrono::floor<std::chrono::microseconds>(tp));
    }
}

TEST_CASE("timestamptz: infinity, other DateStyles and bad text are clear errors", "[db][types]") {
    using TP = system_clock::time_point;
    REQUIRE_THROWS_WITH(field("infinity").as<TP>(), Catch::Contains("infinite"));
    REQUIRE_THROWS_WITH(field("-infinity").as<TP>(), Catch::Contains("isfinite"));
    // DateStyle SQL, Postgres and German print zone abbreviations, which cannot be resolved.
    for (const char* other : {"11/30/2026 11:36:16.123456 UTC", "Mon Nov 30 11:36:16 2026 UTC",
                              "30.11.2026 11:36:16 UTC"}) {
        REQUIRE_THROWS_WITH(field(other).as<TP>(), Catch::Contains("DateStyle"));
    }
    for (const char* bad : {"2026-02-30 00:00:00+00", "2026-13-01", "2026-11-30 24:00:00+00",
                            "2026-11-30 10:00+00", "2026-11-30 10:00:00+5", "2026-11-30 x",
                            "2026-11-30 10:00:00.+00", "2026-11-30 10:00:00+05:60", ""}) {
        CAPTURE(bad);
        REQUIRE_THROWS_AS(field(bad).as<TP>(), db::ConversionError);
    }
    // Past system_clock's range (nanoseconds: 1677 to 2262), but not past sys_seconds'.
    REQUIRE_THROWS_WITH(field("2300-01-01 00:00:00+00").as<TP>(), Catch::Contains("out of range"));
    REQUIRE(field("2300-01-01 00:00:00+00").as<std::chrono::sys_seconds>() ==
            std::chrono::sys_days{std::chrono::year{2300} / 1 / 1});
}

TEST_CASE("uuid: parsed in every form PostgreSQL accepts, printed canonically", "[db][types]") {
    const auto canonical = db::Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    REQUIRE(canonical.to_string() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    REQUIRE(canonical.bytes()[0] == 0xa0);
    REQUIRE(canonical.bytes()[15] == 0x11);
    for (const char* same :
         {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
          "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
          "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}"}) {
        CAPTURE(same);
        REQUIRE(db::Uuid::parse(same) == canonical);
    }
    for (const char* bad :
         {"", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
          "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
          "a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
          "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"}) {
        CAPTURE(bad);
        REQUIRE_FALSE(db::Uuid::try_parse(bad));
        REQUIRE_THROWS_AS(db::Uuid::parse(bad), db::ConversionError);
    }
    REQUIRE(db::Uuid{}.is_nil());
    REQUIRE(db::Uuid{}.to_string() == "00000000-0000-0000-0000-000000000000");
    // Ordered bytewise, as PostgreSQL orders uuid; hashable.
    const auto lower = db::Uuid::parse("0fffffff-ffff-ffff-ffff-ffffffffffff");
    REQUIRE(lower < canonical);
    REQUIRE(db::Uuid{} < lower);
    std::unordered_set<db::Uuid> set{canonical, lower, canonical};
    REQUIRE(set.size() == 2);
    REQUIRE(db::Param(canonical).text() == canonical.to_string());
    REQUIRE(field("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").as<db::Uuid>() == canonical);
    REQUIRE_THROWS_WITH(field("nope", "id").as<db::Uuid>(), Catch::Contains("\"id\""));
}

TEST_CASE("json: sent as its text, read by parsing", "[db][types]") {
    const nlohmann::json doc = {{"title", "Intro \"1\""}, {"tags", {"a", "b"}}, {"n", 1.5}};
    const db::Param p(doc);
    REQUIRE(p.text() == doc.dump());
    REQUIRE(field(p.text()).as<nlohmann::json>() == doc);
    REQUIRE(field("null").as<nlohmann::json>().is_null());
    REQUIRE(field(std::nullopt).as<std::optional<nlohmann::json>>() == std::nullopt);
    REQUIRE_THROWS_AS(field("{nope").as<nlohmann::json>(), db::ConversionError);
    REQUIRE_THROWS_AS(db::Param(nlohmann::json("\xff")), db::UsageError);
    const nlohmann::ordered_json ordered = {{"z", 1}, {"a", 2}};
    REQUIRE(db::Param(ordered).text() == R"({"z":1,"a":2})");
    REQUIRE(field(R"({"z":1,"a":2})").as<nlohmann::ordered_json>().begin().key() == "z");
    REQUIRE(db::Param(std::vector<nlohmann::json>{{{"a", 1}}}).text() == R"({"{\"a\":1}"})");
}

TEST_CASE("Traits: a user's type as parameter, field, optional and array", "[db][types]") {
    db::testing::FakeBackend fake;
    fake.on("SELECT price FROM videos WHERE price > $1")
        .with_params({Money{100}})
        .returns({"price"}, {{"250"}, {std::nullopt}});
    db::test::FakePool pool(db::test::fake_config(), fake);
    const auto r = pool.query("SELECT price FROM videos WHERE price > $1", {Money{100}});
    REQUIRE(r.size() == 2);
    REQUIRE(r[0][0].as<Money>() == Money{250});
    REQUIRE(r[1][0].as<std::optional<Money>>() == std::nullopt);
    REQUIRE_THROWS_AS(r[1][0].as<Money>(), db::ConversionError);
    REQUIRE(db::Param(std::optional<Money>{Money{5}}).text() == "5");
    REQUIRE(db::Param(std::optional<Money>{}).is_null());
}

TEST_CASE("rows: row.as<std::tuple<...>>() and rows_as<T>(result)", "[db][types]") {
    const auto r = db::testing::detail::text_result(
        {"id", "title", "created"},
        {{"1", "Intro", "2026-11-30 11:36:16+00"}, {"2", std::nullopt, "1970-01-01 00:00:00+00"}});
    using Row = std::tuple<std::int64_t, std::optional<std::string>, system_clock::time_point>;
    const auto [id, title, created] = r.front().as<Row>();
    REQUIRE(id == 1);
    REQUIRE(title == "Intro");
    REQUIRE(created == utc(2026, 11, 30, 11, 36, 16));
    const auto rows = db::rows_as<Row>(r);
    REQUIRE(rows.size() == 2);
    REQUIRE(std::get<1>(rows[1]) == std::nullopt);
    REQUIRE(std::get<2>(rows[1]) == system_clock::time_point{});
    // A title that is NULL cannot be read as a plain string; the message names the column.
    REQUIRE_THROWS_WITH((db::rows_as<std::tuple<int, std::string, system_clock::time_point>>(r)),
                        Catch::Contains("\"title\""));
    // The column count must match the tuple.
    REQUIRE_THROWS_WITH((r.front().as<std::tuple<int, std::string>>()),
                        Catch::Contains("3 columns"));
    const auto two = one_row({"id", "title"}, {"7", "Seven"});
    REQUIRE(two.front().as<std::pair<int, std::string>>() ==
            std::pair<int, std::string>{7, "Seven"});
    // rows_as of a plain type reads a one-column result.
    const auto ids = db::testing::detail::text_result({"id"}, {{"3"}, {"4"}});
    REQUIRE(db::rows_as<std::int64_t>(ids) == std::vector<std::int64_t>{3, 4});
    REQUIRE(db::rows_as<std::int64_t>(db::Result{}).empty());
    REQUIRE_THROWS_WITH(db::rows_as<std::int64_t>(two), Catch::Contains("2 columns"));
}
