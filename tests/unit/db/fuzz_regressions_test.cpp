// Inputs the fuzz targets (tests/fuzz/) found mishandled, kept as regression tests. Each input
// is also in the fuzzer's seed corpus, tests/fuzz/corpus/<fuzzer>/.

#include <sparc/db/config.hpp>
#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/health.hpp>
#include <sparc/db/registry.hpp>
#include <sparc/db/router.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::config_error;

namespace {

std::string parse_error(const std::string& input) {
    return config_error([&] { (void)db::Endpoint::parse(input); });
}

}  // namespace

// fuzz_endpoint: a quoted password holding an unescaped quote ends early for libpq, which reads
// the rest of the password as keywords. The masker stopped at that quote and showed the rest.
TEST_CASE("A quoted password with an unescaped quote stays masked", "[db][endpoint][fuzz]") {
    // The quote closes in the middle of a word.
    auto msg = parse_error("host=db password='it's a secret' port=5x");
    CHECK_THAT(msg, !Catch::Contains("secret"));
    CHECK_THAT(msg, !Catch::Contains("\"s\""));
    // libpq cannot parse it: the string is not shown at all.
    CHECK_THAT(msg, Catch::Contains("not shown"));

    // The quote is followed by a blank and words that are not "key=".
    msg = parse_error("host=db password='it' s a secret' port=5x");
    CHECK_THAT(msg, !Catch::Contains("secret"));
    CHECK_THAT(msg, Catch::Contains("not shown"));

    // A correctly quoted value still ends at its quote: what follows is shown.
    msg = parse_error("password='it\\'s a secret' port=5x");
    CHECK_THAT(msg, !Catch::Contains("secret"));
    CHECK_THAT(msg, Catch::Contains("port=5x"));
}

// fuzz_endpoint: with a mistyped scheme libpq reads a URL as one key=value keyword and quotes
// it up to the first '='; the password was only masked where it was the whole quoted token.
TEST_CASE("A mistyped URL scheme does not show the password", "[db][endpoint][fuzz]") {
    const auto msg = parse_error("postgress://app:s3cretpw@db/videos?application_name=me@corp");
    CHECK_THAT(msg, !Catch::Contains("s3cretpw"));
    CHECK_THAT(msg, Catch::Contains("invalid connection option"));
}

// fuzz_environment: a raw '%' in a URL password makes libpq quote the password as an invalid
// percent-encoding. With a second '@' later in the URL the masked span ran to that '@', so the
// password alone, as libpq quoted it, was not masked.
TEST_CASE("An invalid percent-encoding in a password is masked whatever follows",
          "[db][endpoint][fuzz]") {
    auto msg = parse_error("postgresql://app:50%off@db/videos?application_name=me@corp");
    CHECK_THAT(msg, !Catch::Contains("50%off"));
    CHECK_THAT(msg, Catch::Contains("invalid percent-encoded token"));

    msg = config_error([] {
        db::PoolConfig config;
        db::apply_environment(config,
                              db::fixed_environment({{"DATABASE_READ_REPLICAS",
                                                      "postgresql://app:Repl1caSecret%@r1/videos,"
                                                      "postgresq}@r2:70000/videos"}}));
    });
    CHECK_THAT(msg, Catch::Contains("DATABASE_READ_REPLICAS entry 1"));
    CHECK_THAT(msg, !Catch::Contains("Repl1caSecret"));
}

// fuzz_endpoint: libpq quotes URI parts percent-decoded, and the checks of our own (sslmode,
// target_session_attrs...) quote the value; with two URLs where one is expected, either can
// hold the second URL's password, decoded, which was not masked.
TEST_CASE("A password is masked in its decoded form and in values quoted by our checks",
          "[db][endpoint][fuzz]") {
    auto msg = parse_error("postgresql://db/videos?replica postgresql://app:S3cr%3Ft@r/videos=1");
    CHECK_THAT(msg, Catch::Contains("invalid URI query parameter"));
    CHECK_THAT(msg, !Catch::Contains("S3cr"));

    msg = parse_error(
        "postgresql://app@primary/videos?sslmode=require\npostgresql://app:S3cr%3Ft@replica/"
        "videos");
    CHECK_THAT(msg, Catch::Contains("invalid sslmode"));
    CHECK_THAT(msg, !Catch::Contains("S3cr"));

    // Only what our own message quotes is searched: its fixed text stays readable.
    msg = parse_error("host=db sslmode=bogus password=x");
    CHECK_THAT(msg, Catch::Contains("invalid sslmode \"bogus\": expected one of"));
}

// fuzz_replicas (a timeout): libpq's message was masked one secret after the other, each
// search running over the masks the earlier ones inserted, so a secret made of '*' made the
// message grow fourfold per secret: 10 repeats of "a://:*@b" took a second, 40 never ended.
TEST_CASE("Masking a message does not feed on its own masks", "[db][endpoint][fuzz]") {
    std::string input;
    for (int i = 0; i < 40; ++i) {
        input += "a://:*@b ";
    }
    const auto msg = parse_error(input);
    CHECK(msg.size() < 1024);
    // What libpq quotes is not shown at all (it is text no rule may recognise).
    CHECK_THAT(msg, Catch::Contains("missing \"=\" after \"…\""));
    CHECK_THAT(msg, !Catch::Contains("*****"));

    // Many different secrets: whatever libpq quotes is masked whole.
    input.clear();
    for (int i = 0; i < 40; ++i) {
        input += "a://:pw" + std::to_string(i) + "@b ";
    }
    const auto many = parse_error(input);
    CHECK(many.size() < 1024);
    CHECK_THAT(many, !Catch::Contains("pw"));
}

// fuzz_replicas: validate() accepted any number of replicas, so pool_config() passed a list
// that the pool's router then refused when the pool was built.
TEST_CASE("More replicas than the router takes fail validation", "[db][config][env][fuzz]") {
    std::string urls;
    for (std::size_t i = 0; i <= db::ReplicaRouter::kMaxReplicas; ++i) {
        urls += (i == 0 ? "" : ",") + std::string("postgresql://r") + std::to_string(i) + "/videos";
    }
    const auto msg = config_error([&] {
        db::PoolConfig config;
        db::apply_environment(config, db::fixed_environment({{"DATABASE_READ_REPLICAS", urls}}));
    });
    CHECK_THAT(msg, Catch::Contains("replicas lists 65 servers; at most 64 are supported"));
    CHECK_THAT(msg, Catch::Contains("DATABASE_READ_REPLICAS"));

    // 64 are fine.
    urls = urls.substr(0, urls.rfind(','));
    db::PoolConfig config;
    db::apply_environment(config, db::fixed_environment({{"DATABASE_READ_REPLICAS", urls}}));
    CHECK(config.replicas.size() == db::ReplicaRouter::kMaxReplicas);
}

// fuzz_endpoint, fuzz_environment, fuzz_replicas (regression-non-utf8-host-health-json): a host
// name with a byte that is not UTF-8 made HealthReport::to_json() throw.
TEST_CASE("A host name that is not UTF-8 leaves labels and health JSON valid",
          "[db][health][fuzz]") {
    const auto e = db::Endpoint::parse(
        "postgresql://app:Sec0Rdneplica@r\xb3"
        "1/db");
    CHECK(e.label() == "r%B31:5432/db");
    db::HealthReport report;
    db::HostHealth host;
    host.host = e.label();
    report.hosts.push_back(host);
    std::string json;
    REQUIRE_NOTHROW(json = report.to_json());
    CHECK(json.find("r%B31:5432/db") != std::string::npos);
}

// fuzz_endpoint (regression-password-in-displayed-value): a value other than a password that
// held "scheme://user:password@" was shown as it is by redacted(), redacted_url() and JSON.
TEST_CASE("A value holding a URL with a password is refused", "[db][endpoint][fuzz]") {
    const auto message = parse_error("host=r1 dbname='tpsobg dresql://app:Sec0ndReplicaPw@r2/db'");
    CHECK_THAT(message, Catch::Contains("looks like a password"));
    CHECK(message.find("Sec0ndReplicaPw") == std::string::npos);
}

// fuzz_endpoint (regression-decoded-echo-blank-password): refusing a value that holds a
// percent-encoded URL echoed the input percent-decoded, where a password with an encoded blank
// no longer reads as one to the masker.
TEST_CASE("Refusing an encoded URL in a value does not echo a decoded password",
          "[db][endpoint][fuzz]") {
    const auto message = parse_error(
        "postgresql://app:Pw%20Blank%20S3cretTail@db/videos"
        "?application_name=https%3A%2F%2Fu%3Ax%40h");
    CHECK_THAT(message, Catch::Contains("application_name"));
    CHECK(message.find("S3cretTail") == std::string::npos);
    CHECK(message.find("Blank") == std::string::npos);
}

// fuzz_endpoint: a percent-encoded password glued to a query parameter's name ends up in
// libpq's "invalid URI query parameter" message decoded; the masker looked for the piece only
// as written.
TEST_CASE("A password piece libpq quotes percent-decoded is masked", "[db][endpoint][fuzz]") {
    const std::string secret = "Sup1r-Secre\xff\xff\xfftport";
    const std::string input =
        "postgresql://a;//:pw:S3cr?t(post//app:gresql://app@p imary/x\n"
        "postg7resql://app:Sup1r-Secre%FF%FF%FFtport=@db/x";
    const auto message = parse_error(input);
    CHECK(message.find("Sup1r-Secre\xff") == std::string::npos);
    CHECK(message.find("Sup1r-Secre%FF") == std::string::npos);
}
