// LISTEN/NOTIFY against the cluster: db::Listener receiving what pool.notify() sends, across
// channels, payloads and quoting, a terminated backend (the listener reconnects, listens again
// and reports the gap), a server that refuses it for a while, close() from another thread, and
// messages that never show the password.

#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pg_util.hpp"

using namespace sparc::pgtest;
using namespace std::chrono_literals;

namespace {

// Generous for a loaded, sanitized run: a wait that should see something returns as soon as it
// does, so this only bounds a failure.
constexpr auto kWait = 30s;

// The next notification, failing the test on a timeout.
db::Notification next(db::Listener& listener) {
    auto n = listener.wait(kWait);
    REQUIRE(n.has_value());
    return *n;
}

// The next notification that is not a gap report.
db::Notification next_message(db::Listener& listener) {
    while (true) {
        auto n = next(listener);
        if (!n.gap()) return n;
    }
}

int pid_of_listener(const std::string& application) {
    const auto out = cluster().psql(
        Node::primary, "SELECT pid FROM pg_stat_activity WHERE application_name = '" + application +
                           "' AND query ILIKE 'LISTEN%'");
    return out.empty() ? 0 : std::stoi(out);
}

}  // namespace

TEST_CASE("a listener receives what pool.notify() sends", "[listen]") {
    db::Database pool(config("pg-listen-pool"));
    db::Listener listener(config("pg-listen"));
    listener.listen("video_events");
    REQUIRE(listener.connected());
    REQUIRE(listener.backend_pid() != 0);
    REQUIRE(pid_of_listener("pg-listen") == listener.backend_pid());

    SECTION("channel, payload and the sender's pid") {
        pool.notify("video_events", "42");
        const auto n = next(listener);
        CHECK(n.kind == db::Notification::Kind::message);
        CHECK_FALSE(n.gap());
        CHECK(n.channel == "video_events");
        CHECK(n.payload == "42");
        CHECK(n.backend_pid != 0);
        CHECK(n.backend_pid != listener.backend_pid());
    }

    SECTION("payloads with quotes, backslashes, newlines and unicode arrive unchanged") {
        const std::vector<std::string> payloads{
            "it's \"quoted\"", "back\\slash $1 '); DROP TABLE x; --", "line\nbreak\ttab",
            "\xc3\xa9v\xc3\xa9nement \xe2\x9c\x93 \xf0\x9f\x8e\xac", ""};
        for (const auto& p : payloads) pool.notify("video_events", p);
        for (const auto& p : payloads) {
            const auto n = next(listener);
            CHECK(n.channel == "video_events");
            CHECK(n.payload == p);
        }
    }

    SECTION("channel names are quoted: case, blanks, quotes and unicode are kept") {
        const std::vector<std::string> names{"Video Events", "say \"hi\"; UNLISTEN *",
                                             "\xc3\xa9v\xc3\xa9nements"};
        for (const auto& name : names) listener.listen(name);
        for (const auto& name : names) pool.notify(name, name);
        for (const auto& name : names) {
            const auto n = next(listener);
            CHECK(n.channel == name);
            CHECK(n.payload == name);
        }
        // "video events" is another channel than "Video Events".
        pool.notify("video events", "not for us");
        pool.notify("video_events", "marker");
        CHECK(next(listener).payload == "marker");
    }

    SECTION("two channels, then one unlistened") {
        listener.listen("uploads");
        CHECK(listener.channels() == std::vector<std::string>{"video_events", "uploads"});
        pool.notify("uploads", "u1");
        pool.notify("video_events", "v1");
        auto a = next(listener);
        auto b = next(listener);
        CHECK(a.channel == "uploads");
        CHECK(a.payload == "u1");
        CHECK(b.channel == "video_events");
        CHECK(b.payload == "v1");

        listener.unlisten("uploads");
        CHECK(listener.channels() == std::vector<std::string>{"video_events"});
        // Sent first from one session, so it would arrive first if it arrived at all.
        pool.notify("uploads", "u2");
        pool.notify("video_events", "v2");
        const auto n = next(listener);
        CHECK(n.channel == "video_events");
        CHECK(n.payload == "v2");
    }

    SECTION("a wait with nothing sent times out with nullopt") {
        db::Listener quiet(config("pg-listen-quiet"));
        quiet.listen("nobody_sends_here");
        CHECK_FALSE(quiet.wait(50ms).has_value());
        CHECK_FALSE(quiet.wait(0ms).has_value());
        // Longer than health_check_period (200 ms): the silent connection is checked, and kept.
        const int pid = quiet.backend_pid();
        CHECK_FALSE(quiet.wait(700ms).has_value());
        CHECK(quiet.connected());
        CHECK(quiet.backend_pid() == pid);
    }

    SECTION("notify inside a transaction is delivered at commit, not at rollback") {
        try {
            pool.transaction([&](auto& tx) {
                tx.query("SELECT pg_notify($1, $2)", {"video_events", "rolled back"});
                throw std::runtime_error("roll back");
            });
        } catch (const std::runtime_error&) {
        }
        pool.transaction([&](auto& tx) {
            tx.query("SELECT pg_notify($1, $2)", {"video_events", "committed"});
        });
        CHECK(next(listener).payload == "committed");
    }

    SECTION("a payload the server finds too long is its SqlError (22023)") {
        try {
            pool.notify("video_events", std::string(8000, 'p'));
            FAIL("an 8000-byte payload was accepted");
        } catch (const db::SqlError& e) {
            CHECK(e.sqlstate() == "22023");
        }
        pool.notify("video_events", std::string(7000, 'p'));
        CHECK(next(listener).payload.size() == 7000);
    }
}

TEST_CASE("a listener survives pg_terminate_backend and reports the gap", "[listen]") {
    db::Database pool(config("pg-listen-term-pool"));
    db::Listener listener(config("pg-listen-term"));
    listener.listen("term_a");
    listener.listen("term_b");
    const int old_pid = listener.backend_pid();
    REQUIRE(old_pid != 0);

    SECTION("nothing sent during the gap") {
        pool.notify("term_a", "before");
        CHECK(next(listener).payload == "before");
        REQUIRE(cluster().psql(Node::primary, "SELECT pg_terminate_backend(" +
                                                  std::to_string(old_pid) + ")") == "t");
        const auto gap = next(listener);
        REQUIRE(gap.gap());
        CHECK(gap.kind == db::Notification::Kind::gap);
        CHECK(gap.channel.empty());
        CHECK(listener.connected());
        CHECK(listener.backend_pid() != old_pid);
        CHECK(gap.backend_pid == listener.backend_pid());
        CHECK(listener.channels() == std::vector<std::string>{"term_a", "term_b"});

        // Listening again on both channels: what is sent now arrives.
        pool.notify("term_b", "after b");
        pool.notify("term_a", "after a");
        auto b = next(listener);
        auto a = next(listener);
        CHECK(b.channel == "term_b");
        CHECK(b.payload == "after b");
        CHECK(a.channel == "term_a");
        CHECK(a.payload == "after a");
        CHECK_FALSE(listener.wait(0ms).has_value());
    }

    SECTION("a notification sent during the gap may be lost, the gap is reported") {
        REQUIRE(cluster().psql(Node::primary, "SELECT pg_terminate_backend(" +
                                                  std::to_string(old_pid) + ")") == "t");
        pool.notify("term_a", "during");
        // The old session may have received it before it ended (then it comes first);
        // otherwise it is lost. Either way the gap is reported.
        bool gap = false;
        while (!gap) {
            const auto n = next(listener);
            if (n.gap()) {
                gap = true;
            } else {
                CHECK(n.payload == "during");
            }
        }
        pool.notify("term_a", "after");
        const auto n = next_message(listener);
        // "during" may not come after the gap: it was sent before the new session listened.
        CHECK(n.payload == "after");
    }

    SECTION("terminated while nobody waits: listen() reconnects and the gap is still reported") {
        REQUIRE(cluster().psql(Node::primary, "SELECT pg_terminate_backend(" +
                                                  std::to_string(old_pid) + ")") == "t");
        // Wait until the server has closed the session, so that listen() finds it dead.
        REQUIRE(eventually([&] { return pid_of_listener("pg-listen-term") == 0; }));
        REQUIRE(eventually([&] {
            return cluster().psql(Node::primary,
                                  "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                      std::to_string(old_pid)) == "0";
        }));
        listener.listen("term_c");
        CHECK(listener.backend_pid() != old_pid);
        REQUIRE(next(listener).gap());
        pool.notify("term_c", "c");
        pool.notify("term_a", "a");
        CHECK(next(listener).payload == "c");
        CHECK(next(listener).payload == "a");
    }
}

TEST_CASE("unlisten() after the session was lost succeeds and the new session skips the channel",
          "[listen]") {
    db::Database pool(config("pg-unlisten-lost-pool"));
    db::Listener listener(config("pg-unlisten-lost"));
    listener.listen("lost_a");
    listener.listen("lost_b");
    const int old_pid = listener.backend_pid();
    REQUIRE(old_pid != 0);
    // The server has closed the session; no wait() has noticed.
    REQUIRE(terminate_and_wait(old_pid));
    CHECK_NOTHROW(listener.unlisten("lost_a"));
    CHECK(listener.channels() == std::vector<std::string>{"lost_b"});

    // wait() reconnects, listening on lost_b only, and reports the gap.
    REQUIRE(next(listener).gap());
    CHECK(listener.backend_pid() != old_pid);
    pool.notify("lost_a", "not listened to");
    pool.notify("lost_b", "b");
    const auto n = next(listener);
    CHECK(n.channel == "lost_b");
    CHECK(n.payload == "b");
    CHECK_FALSE(listener.wait(0ms).has_value());

    SECTION("unlisten() of the last channel: no gap is owed") {
        REQUIRE(terminate_and_wait(listener.backend_pid()));
        CHECK_NOTHROW(listener.unlisten("lost_b"));
        CHECK(listener.channels().empty());
        CHECK_FALSE(listener.wait(0ms).has_value());
        CHECK_FALSE(listener.connected());
    }
}

TEST_CASE("a listener refused while reconnecting says so, then reports the gap", "[listen]") {
    const std::string role = "sparc_listen_role";
    const std::string role_password = "listen-Secret-pw-42";
    cluster().psql(Node::primary, "DROP ROLE IF EXISTS " + role);
    cluster().psql(Node::primary,
                   "CREATE ROLE " + role + " LOGIN PASSWORD '" + role_password + "'");
    auto cfg = config("pg-listen-refused");
    cfg.primary.set_option("user", role);
    cfg.primary.set_option("password", role_password);
    cfg.connection_timeout = 2s;
    cfg.reconnect_backoff_max = 200ms;
    db::Database pool(config("pg-listen-refused-pool"));
    {
        db::Listener listener(cfg);
        listener.listen("refused");
        const int pid = listener.backend_pid();
        cluster().psql(Node::primary, "ALTER ROLE " + role + " NOLOGIN");
        REQUIRE(cluster().psql(Node::primary,
                               "SELECT pg_terminate_backend(" + std::to_string(pid) + ")") == "t");
        // Disconnected and refused: wait() throws instead of passing for a quiet timeout.
        bool refused = false;
        for (int i = 0; i < 50 && !refused; ++i) {
            try {
                auto n = listener.wait(300ms);
                CHECK_FALSE((n && n->gap()));  // no gap before a new session listens
            } catch (const db::ConnectionError& e) {
                refused = true;
                const std::string what = e.what();
                CHECK_THAT(what, Catch::Contains("not connected"));
                CHECK(what.find(role_password) == std::string::npos);
                CHECK_FALSE(listener.connected());
            }
        }
        REQUIRE(refused);
        // Still refused: the next wait() throws again (with backoff between attempts).
        CHECK_THROWS_AS(listener.wait(100ms), db::ConnectionError);

        cluster().psql(Node::primary, "ALTER ROLE " + role + " LOGIN");
        const auto gap = next(listener);
        CHECK(gap.gap());
        CHECK(listener.connected());
        pool.notify("refused", "back");
        CHECK(next(listener).payload == "back");
    }
    cluster().psql(Node::primary, "DROP ROLE IF EXISTS " + role);
}

TEST_CASE("close() from another thread wakes a blocked wait()", "[listen]") {
    db::Listener listener(config("pg-listen-close"));
    listener.listen("close_me");
    auto waiting = std::async(std::launch::async, [&] { return listener.wait(1h); });
    // The waiter may or may not be asleep yet: close() must end the wait either way.
    listener.close();
    REQUIRE(waiting.wait_for(kWait) == std::future_status::ready);
    CHECK_FALSE(waiting.get().has_value());
    CHECK_FALSE(listener.connected());
    CHECK_THROWS_AS(listener.listen("close_me"), db::PoolClosed);
}

TEST_CASE("listen() from another thread while wait() blocks", "[listen]") {
    db::Database pool(config("pg-listen-concurrent-pool"));
    db::Listener listener(config("pg-listen-concurrent"));
    listener.listen("first");
    auto waiting = std::async(std::launch::async, [&] { return listener.wait(kWait); });
    listener.listen("second");
    pool.notify("second", "2");
    REQUIRE(waiting.wait_for(kWait + 10s) == std::future_status::ready);
    const auto n = waiting.get();
    REQUIRE(n.has_value());
    CHECK(n->channel == "second");
    CHECK(n->payload == "2");
}

TEST_CASE("a listener over TLS and through a host list finds the primary", "[listen]") {
    db::Database pool(config("pg-listen-hosts-pool"));
    SECTION("TLS (sslmode=verify-full)") {
        auto cfg = config("pg-listen-tls");
        cfg.primary = db::Endpoint::parse(cluster().primary_ssl_url);
        db::Listener listener(cfg);
        listener.listen("over_tls");
        REQUIRE(cluster().psql(Node::primary, "SELECT ssl FROM pg_stat_ssl WHERE pid = " +
                                                  std::to_string(listener.backend_pid())) == "t");
        pool.notify("over_tls", "secure");
        CHECK(next(listener).payload == "secure");
    }
    SECTION("a replica listed first is skipped (read-write)") {
        auto cfg = config("pg-listen-hosts");
        cfg.primary =
            db::Endpoint::parse(cluster().multi_host_url({Node::replica1, Node::primary}));
        db::Listener listener(cfg);
        listener.listen("hosts");
        pool.notify("hosts", "found");
        CHECK(next(listener).payload == "found");
    }
}

TEST_CASE("listener errors never show the password", "[listen]") {
    SECTION("nothing listens on the port") {
        auto cfg = config("pg-listen-badport");
        cfg.primary.set_option("port", "1");
        cfg.connection_timeout = 2s;
        db::Listener listener(cfg);
        try {
            listener.listen("x");
            FAIL("connected to port 1");
        } catch (const db::ConnectionError& e) {
            CHECK(no_password(e.what()));
            CHECK_THAT(e.what(), Catch::Contains("listener could not connect"));
        }
        CHECK(listener.channels().empty());
        CHECK_FALSE(listener.connected());
    }
    SECTION("a wrong password") {
        auto cfg = config("pg-listen-badpw");
        const std::string wrong = "Wrong-Pass-word-9";
        cfg.primary.set_option("password", wrong);
        db::Listener listener(cfg);
        try {
            listener.listen("x");
            FAIL("connected with a wrong password");
        } catch (const db::ConnectionError& e) {
            CHECK(std::string(e.what()).find(wrong) == std::string::npos);
            CHECK(no_password(e.what()));
        }
    }
    SECTION("a wrong password that is also the database name") {
        auto cfg = config("pg-listen-samepw");
        cfg.primary.set_option("password", "postgres");
        cfg.primary.set_option("dbname", "postgres");
        db::Listener listener(cfg);
        try {
            listener.listen("x");
            FAIL("connected with a wrong password");
        } catch (const db::ConnectionError& e) {
            const std::string what = e.what();
            INFO(what);
            CHECK(what.find("postgres") == std::string::npos);
            CHECK_THAT(what, Catch::Contains("/****"));
            CHECK(no_password(what));
        }
    }
}
