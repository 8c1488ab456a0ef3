#include <sparc/db/endpoint.hpp>
#include <sparc/db/errors.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.hpp"

namespace db = sparc::db;
using db::test::config_error;

TEST_CASE("URL components are parsed", "[db][endpoint]") {
    const auto e = db::Endpoint::parse(
        "postgresql://app:s%40cr%3At%2F@db.internal:6432/videos?sslmode=verify-full"
        "&sslrootcert=%2Fetc%2Fssl%2Fca.pem&application_name=video%20api&connect_timeout=5"
        "&target_session_attrs=read-write");
    CHECK(e.user() == "app");
    CHECK(e.option("password") == "s@cr:t/");
    CHECK(e.has_password());
    CHECK(e.host() == "db.internal");
    CHECK(e.port() == "6432");
    CHECK(e.dbname() == "videos");
    CHECK(e.option("sslmode") == "verify-full");
    CHECK(e.option("sslrootcert") == "/etc/ssl/ca.pem");
    CHECK(e.option("application_name") == "video api");
    CHECK(e.option("connect_timeout") == "5");
    CHECK(e.option("target_session_attrs") == "read-write");
    CHECK(e.label() == "db.internal:6432/videos");
}

TEST_CASE("postgres:// is accepted as well as postgresql://", "[db][endpoint]") {
    CHECK(db::Endpoint::parse("postgres://u@h/d") == db::Endpoint::parse("postgresql://u@h/d"));
}

TEST_CASE("IPv6 literals are parsed and written back in brackets", "[db][endpoint]") {
    // (A password that is part of no other component: one that is, "p" in "app", is masked
    // there.)
    const auto e = db::Endpoint::parse("postgresql://u:pw@[2001:db8::7]:5433/app");
    CHECK(e.host() == "2001:db8::7");
    CHECK(e.port() == "5433");
    CHECK(e.label() == "[2001:db8::7]:5433/app");
    CHECK(e.url() == "postgresql://u:pw@[2001:db8::7]:5433/app");
    CHECK(db::Endpoint::parse(e.url()) == e);
}

TEST_CASE("Defaults apply when host, port or dbname are unset", "[db][endpoint]") {
    const auto e = db::Endpoint::parse("postgresql://");
    CHECK(e.options().empty());
    CHECK(e.host() == "localhost");
    CHECK(e.port() == "5432");
    CHECK(e.dbname().empty());
    CHECK_FALSE(e.has_password());
    CHECK(db::Endpoint{} == e);
}

TEST_CASE("key=value strings are parsed, quoting included", "[db][endpoint]") {
    const auto e = db::Endpoint::parse(
        R"(host=db port=5433 dbname='my db' user=app password='it\'s a \\secret' sslmode=require)");
    CHECK(e.host() == "db");
    CHECK(e.port() == "5433");
    CHECK(e.dbname() == "my db");
    CHECK(e.user() == "app");
    CHECK(e.option("password") == R"(it's a \secret)");
    CHECK(e.option("sslmode") == "require");
    CHECK(db::Endpoint::parse(e.conninfo()) == e);
    CHECK(db::Endpoint::parse(e.url()) == e);
}

TEST_CASE("conninfo quotes exactly what libpq needs quoted", "[db][endpoint]") {
    auto e = db::Endpoint::from_options(
        {{"host", "h"}, {"dbname", ""}, {"user", "a b"}, {"application_name", "x'y\\z"}});
    CHECK(e.conninfo() == R"(user='a b' dbname='' host=h application_name='x\'y\\z')");
}

TEST_CASE("Multi-host URLs and socket directories survive url()", "[db][endpoint]") {
    const auto multi = db::Endpoint::parse("postgresql://u@h1:5432,h2:5433/app");
    CHECK(multi.host() == "h1,h2");
    CHECK(multi.port() == "5432,5433");
    CHECK(db::Endpoint::parse(multi.url()) == multi);

    const auto socket = db::Endpoint::parse("host=/var/run/postgresql dbname=app");
    CHECK(socket.url() == "postgresql:///app?host=%2Fvar%2Frun%2Fpostgresql");
    CHECK(db::Endpoint::parse(socket.url()) == socket);
}

TEST_CASE("A multi-host label pairs each host with its port", "[db][endpoint][label]") {
    CHECK(db::Endpoint::parse("postgresql://u@127.0.0.1:30060,127.0.0.1:23963/db").label() ==
          "127.0.0.1:30060,127.0.0.1:23963/db");
    // A host without a port takes the default, as libpq does.
    CHECK(db::Endpoint::parse("postgresql://h1,h2:6432/app").label() == "h1:5432,h2:6432/app");
    CHECK(db::Endpoint::parse("postgresql://h1,h2/app").label() == "h1:5432,h2:5432/app");
    // One port for every host.
    CHECK(db::Endpoint::parse("host=h1,h2,h3 port=6432 dbname=app").label() ==
          "h1:6432,h2:6432,h3:6432/app");
    CHECK(db::Endpoint::parse("postgresql://[::1]:5433,[2001:db8::7]/app").label() ==
          "[::1]:5433,[2001:db8::7]:5432/app");
    CHECK(db::Endpoint::parse("hostaddr=10.0.0.1,10.0.0.2 port=1,2").label() ==
          "10.0.0.1:1,10.0.0.2:2");
    CHECK(db::Endpoint::parse("postgresql:///app").label() == "localhost:5432/app");
}

TEST_CASE("A label is printable ASCII whatever bytes the host holds", "[db][endpoint][label]") {
    // Metric label values and JSON strings must be valid UTF-8: bytes outside printable ASCII
    // are percent-encoded.
    CHECK(db::Endpoint::parse("host=/tmp/s\xc3\xb6"
                              "ckets dbname=app")
              .label() == "/tmp/s%C3%B6ckets:5432/app");
    CHECK(db::Endpoint::parse("postgresql://r%B3/db").label() == "r%B3:5432/db");
}

TEST_CASE("A label is built from hosts, ports and a plain database name only",
          "[db][endpoint][label][secrets]") {
    // A database name that is not a plain identifier could hold anything, a URL included; the
    // user and the other options are never part of a label.
    const auto e = db::Endpoint::from_options({{"host", "h1"},
                                               {"user", "postgresql://app:L4belSecret@h2"},
                                               {"dbname", "x postgresql://app:L4belSecret@h2"},
                                               {"password", "L4belSecret"},
                                               {"application_name", "L4belSecret"}});
    CHECK(e.label() == "h1:5432");
    // Neither is a host or a port that validate() refuses.
    const auto odd =
        db::Endpoint::from_options({{"host", "L4belSecret@h1,h2"}, {"port", "L4belSecret,5433"}});
    CHECK(odd.label() == "(invalid host):(invalid port),h2:5433");
    CHECK(db::Endpoint::parse("postgresql://h/my%20db").label() == "h:5432");
    CHECK(db::Endpoint::parse("postgresql://h/app_v2.prod-1").label() == "h:5432/app_v2.prod-1");
}

TEST_CASE("A value holding a second connection URL is refused without showing it",
          "[db][endpoint][secrets]") {
    for (const std::string input : {
             "host=h1 dbname='videos postgresql://app:Gl4edSecret@h2/videos'",
             "host=h1 user=POSTGRES://app:Gl4edSecret@h2",
             "postgresql://h1/videos?application_name=postgres%3A%2F%2Fapp%3AGl4edSecret%40h2",
         }) {
        const auto message = config_error([&] { (void)db::Endpoint::parse(input); });
        INFO(message);
        CHECK_THAT(message, Catch::Contains("holds a postgresql:// URL"));
        CHECK(message.find("Gl4edSecret") == std::string::npos);
    }
    // Any other value that holds what the masker takes for a password would show it in
    // redacted(), redacted_url() and the JSON form.
    for (const std::string input : {
             "host=r1 dbname='x dresql://app:Gl4edSecret@r2/db'",
             "host=r1 application_name='Password = Gl4edSecret'",
             "postgresql://r1/db?options=-c%20x.password%3DGl4edSecret",
             "postgresql://r1/db?application_name=https%3A%2F%2Fapp%3AGl4edSecret%40r2",
         }) {
        const auto message = config_error([&] { (void)db::Endpoint::parse(input); });
        INFO(message);
        CHECK_THAT(message, Catch::Contains("looks like a password"));
        CHECK(message.find("Gl4edSecret") == std::string::npos);
    }
    // A URL without credentials is just text.
    CHECK(db::Endpoint::parse("host=r1 application_name='see https://example.com/x'")
              .option("application_name") == "see https://example.com/x");
}

TEST_CASE("A raw '@' or '/' in a password is refused without showing it",
          "[db][endpoint][secrets]") {
    // libpq ends the user information at the first '@' and finds none past a '/': the rest of
    // such a password became the host name, the port or the database name.
    for (const std::string input : {
             "postgresql://app:p@ssW0rdSecret@db.internal/videos",
             "postgresql://app:p@ssW0rdSecret@db.internal",
             "postgresql://app:12/ssW0rdSecret@db.internal/videos",
             "postgresql://app:p@ss/W0rdSecret@db.internal/videos",
         }) {
        const auto message = config_error([&] { (void)db::Endpoint::parse(input); });
        INFO(message);
        CHECK_THAT(message, Catch::Contains("percent-encode"));
        for (const auto* piece : {"ssW0rdSecret", "W0rdSecret", "p@ss"}) {
            CHECK(message.find(piece) == std::string::npos);
        }
    }
    // Percent-encoded, they are the password.
    CHECK(db::Endpoint::parse("postgresql://app:p%40ssW0rd%2FSecret@db.internal/videos")
              .option("password") == "p@ssW0rd/Secret");
    // A '@' in a query value or a socket directory is no password.
    CHECK(
        db::Endpoint::parse("postgresql://h/db?application_name=a@b").option("application_name") ==
        "a@b");
    CHECK(db::Endpoint::parse("host=@abstract dbname=app").host() == "@abstract");
}

TEST_CASE("Every libpq TLS option passes through", "[db][endpoint][tls]") {
    const std::vector<std::pair<std::string, std::string>> tls = {
        {"sslmode", "verify-ca"},
        {"sslrootcert", "/etc/ssl/root.crt"},
        {"sslcert", "/etc/ssl/client.crt"},
        {"sslkey", "/etc/ssl/client.key"},
        {"sslcrl", "/etc/ssl/root.crl"},
        {"sslcrldir", "/etc/ssl/crl.d"},
        {"sslpassword", "key pass"},
        {"sslcompression", "1"},
        {"sslsni", "0"},
        {"ssl_min_protocol_version", "TLSv1.2"},
        {"ssl_max_protocol_version", "TLSv1.3"},
        {"requirepeer", "postgres"},
        {"gssencmode", "disable"},
        {"channel_binding", "require"},
    };
    for (const auto& [key, value] : tls) {
        INFO(key);
        const auto e =
            db::Endpoint::parse(db::Endpoint::from_options({{"host", "h"}, {key, value}}).url());
        CHECK(e.option(key) == value);
        const auto kv = db::Endpoint::parse(
            db::Endpoint::from_options({{"host", "h"}, {key, value}}).conninfo());
        CHECK(kv.option(key) == value);
    }
}

TEST_CASE("Secrets are masked in every display form", "[db][endpoint][tls]") {
    const auto e = db::Endpoint::parse(
        "postgresql://app:Hunter2Secret@h/db?sslpassword=KeyPassphrase9&sslmode=require");
    for (const auto& text : {e.redacted(), e.redacted_url(), e.label(), nlohmann::json(e).dump()}) {
        INFO(text);
        CHECK(text.find("Hunter2Secret") == std::string::npos);
        CHECK(text.find("KeyPassphrase9") == std::string::npos);
    }
    CHECK(e.redacted() ==
          "user=app password=**** dbname=db host=h sslmode=require sslpassword=****");
    CHECK(e.redacted_url() == "postgresql://app:****@h/db?sslmode=require&sslpassword=****");
    // Secrets are still there for libpq.
    CHECK(e.conninfo().find("Hunter2Secret") != std::string::npos);
    CHECK(db::Endpoint::parse(e.url()) == e);
    CHECK(db::is_secret_option("password"));
    CHECK(db::is_secret_option("sslpassword"));
    CHECK_FALSE(db::is_secret_option("sslkey"));
}

TEST_CASE("Empty values are kept through url()", "[db][endpoint]") {
    const auto e = db::Endpoint::from_options(
        {{"user", ""}, {"password", ""}, {"host", ""}, {"port", ""}, {"dbname", ""}});
    CHECK(db::Endpoint::parse(e.url()) == e);
    CHECK(db::Endpoint::parse(e.conninfo()) == e);
    CHECK(e.redacted_url().find("password=****") != std::string::npos);
}

TEST_CASE("Options are kept in libpq order, one value per keyword", "[db][endpoint]") {
    auto a = db::Endpoint::from_options({{"sslmode", "require"}, {"host", "h"}, {"host", "h2"}});
    CHECK(a.option("host") == "h2");
    CHECK(a.options().size() == 2);
    auto b = db::Endpoint::from_options({{"host", "h2"}});
    b.set_option("sslmode", "require");
    CHECK(a == b);
    b.set_option("sslmode", "disable");
    CHECK(b.option("sslmode") == "disable");
    b.erase_option("sslmode");
    CHECK_FALSE(b.option("sslmode"));
    CHECK_THROWS_AS(b.set_option("no_such_option", "1"), db::ConfigError);
    CHECK_THROWS_AS(db::Endpoint::from_options({{"hots", "h"}}), db::ConfigError);
}

TEST_CASE("Values libpq checks only when connecting are checked by parse", "[db][endpoint]") {
    struct Case {
        std::string input;
        std::string expected;  // part of the message
    };
    const std::vector<Case> cases = {
        {"postgresql://h:0/db", "invalid port"},
        {"postgresql://h:65536/db", "invalid port"},
        {"postgresql://h:54x/db", "invalid port"},
        {"host=h port=-1", "invalid port"},
        {"host=h port=+5432", "invalid port"},
        {"postgresql://h/db?connect_timeout=ten", "invalid connect_timeout"},
        {"postgresql://h/db?sslmode=verify", "invalid sslmode \"verify\""},
        {"postgresql://h/db?target_session_attrs=write", "invalid target_session_attrs"},
        {"postgresql://h/db?gssencmode=maybe", "invalid gssencmode"},
        {"postgresql://h/db?channel_binding=on", "invalid channel_binding"},
        {"postgresql://h/db?sslcompression=yes", "invalid sslcompression"},
        {"postgresql://h/db?ssl_min_protocol_version=SSLv3", "invalid ssl_min_protocol_version"},
        {"postgresql://h/db?nosuchoption=1", "invalid URI query parameter"},
        {"host=h nosuchoption=1", "invalid connection option"},
        {"just-a-host-name", "missing \"=\""},
        {"postgresql://h1:1,h2:2,h3/db?port=1,2", "port lists 2 ports for 3 hosts"},
        {"host=h port=1,2", "port lists 2 ports for 1 host:"},
        {"postgresql://[::1/db", "IPv6"},
    };
    for (const auto& c : cases) {
        INFO(c.input);
        const auto message = config_error([&] { db::Endpoint::parse(c.input); });
        CHECK_THAT(message, Catch::Contains(c.expected));
    }
    CHECK(db::Endpoint::parse("host=a,b port=5432,").port() == "5432,");
    CHECK(db::Endpoint::parse("postgresql://h1:1,h2:2,h3:3/db").port() == "1,2,3");
    CHECK(db::Endpoint::parse("postgresql://h1,h2:2/db").port() == ",2");
    CHECK(db::Endpoint::parse("postgresql://h/db?connect_timeout=-1").option("connect_timeout") ==
          "-1");
}

TEST_CASE("Parse errors never contain the password", "[db][endpoint][secrets]") {
    const std::string pw = "Zq9pSecretPw";
    const std::vector<std::string> inputs = {
        "postgresql://u:" + pw + "@[::1/db",
        "postgresql://u:" + pw + "@h:99999/db",
        "postgresql://u:" + pw + "@h/db?sslmode=bogus",
        "postgresql://u:" + pw + "@h/db?bogus=1",
        "postgresql://u:" + pw + "@h/db?x=%zz",
        "postgresql://u:" + pw + "@h/db?x=%00",
        "postgresql://u:" + pw + "/x@h/db",
        "postgresql://u:" + pw + "@h/db?password=" + pw + "&x",
        "postgresql://h/db?password=ab&" + pw + "&sslmode=require",
        " postgresql://u:" + pw + "@h/db?sslmode=require",
        "host=h password=" + pw + " port=abc",
        "host=h password='" + pw,
        "host=h password=" + pw + " " + pw + " dbname=x",
        "host=h password = " + pw + " port=x",
        "host=h sslpassword=" + pw + " sslmode=nope",
        "password=" + pw + " bad",
        "host=h PASSWORD=" + pw,
        "postgresql://h/db?Password=" + pw,
        // Misspelt keywords, and a missing '=': libpq refuses them, the value is still secret.
        "host=h pasword=" + pw,
        "host=h passwd=" + pw,
        "host=h pwd=" + pw,
        "host=h password " + pw,
        "postgresql://u@h/db?pasword=" + pw,
        "postgresql://u@h/db?sslpasword=" + pw,
        "postgresql://u@h:99999/db?passwd=" + pw,
        "postgresql://u@h/db?db_pass=" + pw + "&sslmode=bogus",
    };
    for (const auto& input : inputs) {
        INFO(input);
        const auto message = config_error([&] { db::Endpoint::parse(input); });
        INFO(message);
        CHECK(message.find(pw) == std::string::npos);
        CHECK(message.find("Zq9p") == std::string::npos);
    }
}

TEST_CASE("Mistyped URLs never show the password, parsed or refused", "[db][endpoint][secrets]") {
    // The password is Zq7Kx9Wp in each; the mistake leaves it where no URL rule finds it.
    const std::vector<std::string> inputs = {
        "postgresql:/app:Zq7Kx9Wp@db/videos",    // one '/' short
        "postgresql:app:Zq7Kx9Wp@db/videos",     // no '/'
        "postgresql://app:Zq7K x9Wp@r1/videos",  // a blank inside the password
        "postgresql://app:Zq7K\nx9Wp@r1/videos",
        "postgresql://app:Zq7K@@x9Wp@host/db",  // a raw "@@" inside the password
        "postgresql://app:Zq7K@x9Wp@host/db",
        "postgresql://app:Zq7Kx9Wp",           // host forgotten
        "postgresql://app:Zq7Kx9Wpdb/videos",  // '@' forgotten
        "postgres://app:Zq7Kx9Wp/videos",
        "postgresql://app:Zq7Kx9Wp:5432/videos",  // host forgotten, port kept
        "postgresql//app:Zq7Kx9Wp@db/videos",     // ':' dropped from the scheme
        "postgresql;//app:Zq7Kx9Wp@db/videos",
        "//app:Zq7Kx9Wp@db/videos",  // no scheme
        "app:Zq7Kx9Wp@db:5432/videos",
        "db:5432:videos:app:Zq7Kx9Wp",  // a .pgpass line
    };
    for (auto input : inputs) {
        INFO(input);
        const auto redacted = db::redact_connection_string(input);
        INFO(redacted);
        CHECK(redacted.find("Zq7K") == std::string::npos);
        CHECK(redacted.find("x9Wp") == std::string::npos);
        try {
            const auto e = db::Endpoint::parse(input);
            // Accepted: nothing shown anywhere holds a part of it.
            for (const auto& shown : {e.label(), e.redacted(), e.redacted_url()}) {
                INFO(shown);
                CHECK(shown.find("Zq7K") == std::string::npos);
                CHECK(shown.find("x9Wp") == std::string::npos);
            }
        } catch (const db::ConfigError& e) {
            const std::string message = e.what();
            INFO(message);
            CHECK(message.find("Zq7K") == std::string::npos);
            CHECK(message.find("x9Wp") == std::string::npos);
        }
    }
    // A raw "@@" is refused: libpq would take the text after the first '@' for the host.
    CHECK_THROWS_AS(db::Endpoint::parse("postgresql://app:Zq7K@@x9Wp@host/db"), db::ConfigError);
    // Ports are not passwords.
    CHECK(db::redact_connection_string("postgresql://h1:5432,h2:5433/db") ==
          "postgresql://h1:5432,h2:5433/db");
    CHECK(db::redact_connection_string("postgresql://[::1]:5432/db") ==
          "postgresql://[::1]:5432/db");
    CHECK(db::redact_connection_string("postgresql://h:5432") == "postgresql://h:5432");
    CHECK(db::redact_connection_string("host=h port=5432 user=app@corp") ==
          "host=h port=5432 user=app@corp");
    // libpq's reason keeps the keyword it refused, and the "=" it found missing.
    CHECK_THAT(config_error([] { db::Endpoint::parse("host=h pasword=x"); }),
               Catch::Contains("invalid connection option \"pasword\""));
    CHECK_THAT(config_error([] { db::Endpoint::parse("host=h Zq7Kx9Wp"); }),
               Catch::Contains("missing \"=\" after") && !Catch::Contains("Zq7K"));
}

TEST_CASE("A raw '?' in a password is still the password", "[db][endpoint][secrets]") {
    const auto e = db::Endpoint::parse("postgresql://u:pa?ss@h/db");
    CHECK(e.option("password") == "pa?ss");
    CHECK(e.redacted_url() == "postgresql://u:****@h/db");
}

TEST_CASE("redact_connection_string masks secrets in unparseable text", "[db][endpoint][secrets]") {
    CHECK(db::redact_connection_string("postgresql://u:p@ss@h/db") == "postgresql://u:****@h/db");
    CHECK(db::redact_connection_string("host=h password='a b' port=1") ==
          "host=h password=**** port=1");
    CHECK(db::redact_connection_string("postgresql://h/db?sslpassword=x&sslmode=require") ==
          "postgresql://h/db?sslpassword=****&sslmode=require");
    CHECK(db::redact_connection_string("postgresql://u@h/db") == "postgresql://u@h/db");
    CHECK(db::redact_connection_string("host=h passwd=abc port=1") == "host=h passwd=**** port=1");
    CHECK(db::redact_connection_string("postgresql://h/db?pwd=abc&sslmode=require") ==
          "postgresql://h/db?pwd=****&sslmode=require");
    CHECK(db::mask_password("url postgresql://u:p%40ss@h and p@ss", "p@ss") ==
          "url postgresql://u:****@h and ****");
    CHECK(db::mask_password("text", "") == "text");
}

TEST_CASE("Hostile inputs are refused or parsed, never crash", "[db][endpoint][hostile]") {
    const std::vector<std::string> inputs = {
        "",
        "=",
        "'",
        "\\",
        "host='",
        "host=\\",
        "postgresql://@",
        "postgresql://:@",
        "postgresql://[]",
        "postgresql://[",
        "postgresql://]",
        "postgresql://%",
        "postgresql://%4",
        "postgresql://h/%",
        "postgresql://h/d?",
        "postgresql://h/d?=",
        "postgresql://h/d?&",
        "postgresql://h/d?a==b",
        "postgresql://h,,,,/d",
        "postgresql://h:,:,:/d",
        "postgresql://" + std::string(100000, 'a'),
        std::string(100000, '='),
        "host=" + std::string(50000, '\''),
        std::string("host=h\0x", 8),
    };
    for (const auto& input : inputs) {
        INFO(input.substr(0, 80));
        try {
            const auto e = db::Endpoint::parse(input);
            CHECK(db::Endpoint::parse(e.url()) == e);
            CHECK(db::Endpoint::parse(e.conninfo()) == e);
        } catch (const db::ConfigError& err) {
            CHECK(std::string(err.what()).size() < 2000);
        }
    }

    std::mt19937_64 rng(20240611);
    const std::string alphabet = "postgresql:/@[]%?&=,' \\\t\n hx0123456789abcdef";
    for (int i = 0; i < 5000; ++i) {
        std::string s = (i % 2 == 0) ? "postgresql://" : "";
        const auto len = rng() % 40;
        for (std::uint64_t j = 0; j < len; ++j) {
            s += (rng() % 4 == 0) ? static_cast<char>(1 + rng() % 255)
                                  : alphabet[rng() % alphabet.size()];
        }
        INFO(s);
        try {
            const auto e = db::Endpoint::parse(s);
            CHECK(db::Endpoint::parse(e.url()) == e);
            CHECK(db::Endpoint::parse(e.conninfo()) == e);
        } catch (const db::ConfigError&) {
            SUCCEED();
        }
    }
}

namespace {

std::string random_bytes(std::mt19937_64& rng, std::size_t max_len) {
    std::string s(rng() % (max_len + 1), ' ');
    for (auto& c : s) {
        c = static_cast<char>(1 + rng() % 255);  // every byte but NUL
    }
    return s;
}

std::string random_host(std::mt19937_64& rng) {
    static const std::vector<std::string> hosts = {"localhost",
                                                   "db.internal",
                                                   "10.0.0.7",
                                                   "::1",
                                                   "2001:db8::42",
                                                   "fe80::1%eth0",
                                                   "a-b.c_d.example.com",
                                                   "/var/run/postgresql",
                                                   "h1,h2",
                                                   "[weird]host"};
    return hosts[rng() % hosts.size()];
}

db::Endpoint random_endpoint(std::mt19937_64& rng) {
    std::vector<db::Endpoint::Option> o;
    auto maybe = [&](std::string key, std::string value) {
        if (rng() % 4 != 0) {
            o.emplace_back(std::move(key), std::move(value));
        }
    };
    maybe("user", random_bytes(rng, 12));
    maybe("password", random_bytes(rng, 24));
    maybe("host", random_host(rng));
    maybe("port", std::to_string(1 + rng() % 65535));
    maybe("dbname", random_bytes(rng, 12));
    maybe("sslmode", std::vector<std::string>{"disable", "require", "verify-full"}[rng() % 3]);
    maybe("sslpassword", random_bytes(rng, 12));
    maybe("application_name", random_bytes(rng, 12));
    maybe("options", "-c statement_timeout=" + std::to_string(rng() % 100000));
    maybe("connect_timeout", std::to_string(rng() % 60));
    maybe("target_session_attrs", rng() % 2 == 0 ? "read-write" : "any");
    return db::Endpoint::from_options(std::move(o));
}

}  // namespace

TEST_CASE("Random endpoints round-trip through url() and conninfo()", "[db][endpoint][property]") {
    std::mt19937_64 rng(0x5eed);
    for (int i = 0; i < 3000; ++i) {
        const auto e = random_endpoint(rng);
        INFO("conninfo: " << e.conninfo());
        INFO("url: " << e.url());
        CHECK(db::Endpoint::parse(e.url()) == e);
        CHECK(db::Endpoint::parse(e.conninfo()) == e);
        const auto pw = e.option("password");
        if (pw && pw->size() >= 4) {
            CHECK(e.redacted().find(*pw) == std::string::npos);
            CHECK(e.redacted_url().find(*pw) == std::string::npos);
        }
    }
}

TEST_CASE("Endpoint JSON shows the redacted URL and options", "[db][endpoint]") {
    const auto e = db::Endpoint::parse("postgresql://u:pw1234@h:1/d?sslmode=require");
    const nlohmann::json j = e;
    CHECK(j["url"] == "postgresql://u:****@h:1/d?sslmode=require");
    CHECK(j["label"] == "h:1/d");
    CHECK(j["host"] == "h");
    CHECK(j["port"] == "1");
    CHECK(j["options"]["password"] == "****");
    CHECK(j["options"]["sslmode"] == "require");
}

TEST_CASE("split_hosts gives one endpoint per host, ports paired as libpq pairs them",
          "[db][endpoint]") {
    const auto e = db::Endpoint::parse(
        "postgresql://app:pw@h1:5433,h2,h3:5435/app?target_session_attrs=read-write&"
        "connect_timeout=2");
    const auto hosts = db::split_hosts(e);
    REQUIRE(hosts.size() == 3);
    CHECK(hosts[0].host() == "h1");
    CHECK(hosts[0].port() == "5433");
    CHECK(hosts[1].host() == "h2");
    CHECK(hosts[1].port() == "5432");
    CHECK(hosts[2].host() == "h3");
    CHECK(hosts[2].port() == "5435");
    for (const auto& h : hosts) {
        CHECK(h.option("password") == "pw");
        CHECK(h.option("target_session_attrs") == "read-write");
        CHECK(h.option("connect_timeout") == "2");
        CHECK(h.dbname() == "app");
    }
    // One port for every host.
    const auto same = db::split_hosts(db::Endpoint::parse("host=a,b port=6000 dbname=x"));
    REQUIRE(same.size() == 2);
    CHECK(same[1].host() == "b");
    CHECK(same[1].port() == "6000");
    // One host: itself.
    const auto one = db::Endpoint::parse("postgresql://u@db/app");
    CHECK(db::split_hosts(one) == std::vector<db::Endpoint>{one});
    // Lists of different lengths are refused.
    CHECK_THROWS_AS(db::split_hosts(db::Endpoint::parse("host=a,b port=1,2,3")), db::ConfigError);
}

TEST_CASE("a hostaddr list that does not match the host list is refused when parsed",
          "[db][endpoint]") {
    try {
        (void)db::Endpoint::parse("host=a,b hostaddr=127.0.0.1 password=Hidden-Pw1");
        FAIL("expected ConfigError");
    } catch (const db::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("hostaddr"));
        CHECK_THAT(e.what(), !Catch::Contains("Hidden-Pw1"));
    }
    CHECK_NOTHROW(db::Endpoint::parse("host=a,b hostaddr=127.0.0.1,127.0.0.2"));
    CHECK_NOTHROW(db::Endpoint::parse("hostaddr=127.0.0.1,127.0.0.2 port=1,2"));
}
