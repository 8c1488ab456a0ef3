// Fuzzes replica lists and weights: DATABASE_READ_REPLICAS, DATABASE_READ_REPLICA_WEIGHTS,
// split_replica_urls() and the ReplicaRouter built from the weights.
//
// Input lines:
//   1. the DATABASE_READ_REPLICAS value ("-" alone: unset)
//   2. the DATABASE_READ_REPLICA_WEIGHTS value (absent or "-" alone: unset)
//   3. optional router script, one byte per step: 'd'/'u' + digit marks replica N down/up,
//      'x' + digit excludes replica N from the next pick, 'p' picks, anything else is skipped
//   4. optional raw weights for a ReplicaRouter built directly ("w1,w2,..." any 32-bit values)
//   5. optional secret: {pw} in line 1 is replaced by it, {pwenc} by its percent-encoding
//
// Invariants: split_replica_urls() keeps every byte that is not a separating comma or blank;
// apply_environment() gives replicas with weights in range, no duplicate server and no more than
// a router takes, or throws ConfigError; a router built from the weights picks, over one round of
// total-weight picks with every replica up, each replica exactly its weight in times; pick() never
// returns a replica that is down or excluded, and returns -1 only when none is eligible. Where
// every use of the secret is a password, it shows neither in the message of a refused list nor,
// for an accepted one, in anything displayed about it (labels, redacted forms, metrics text,
// health JSON, sparc-db config's JSON; see fuzz_displays.hpp), as written or percent-encoded.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sparc/db/config.hpp>
#include <sparc/db/errors.hpp>
#include <sparc/db/registry.hpp>
#include <sparc/db/router.hpp>

#include "fuzz_displays.hpp"
#include "fuzz_support.hpp"

namespace {

namespace db = sparc::db;
using namespace std::chrono_literals;
using sparc::fuzz::check;
using sparc::fuzz::fail;

constexpr std::uint64_t kMaxRoundPicks = 20'000;  // longer rounds are sampled, not completed

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string without_blanks_and_commas(std::string_view s) {
    std::string out;
    for (const char c : s) {
        if (!is_blank(c) && c != ',') {
            out += c;
        }
    }
    return out;
}

void check_split(std::string_view value) {
    const auto urls = db::split_replica_urls(value);
    check(!urls.empty(), "split_replica_urls() returned nothing");
    std::string joined;
    for (const auto& url : urls) {
        check(url.empty() || (!is_blank(url.front()) && !is_blank(url.back())),
              "split_replica_urls() left blanks around an entry", url);
        joined += url;
    }
    // Only separators and the blanks around entries are dropped.
    check(without_blanks_and_commas(joined) == without_blanks_and_commas(value),
          "split_replica_urls() lost or invented bytes", std::string(value));
    for (std::size_t i = 1; i < urls.size(); ++i) {
        check(urls[i].starts_with("postgresql://") || urls[i].starts_with("postgres://"),
              "split_replica_urls() split before something that is not a URL", urls[i]);
    }
}

// Steps a router through `script` and checks every pick against its state.
void run_script(db::ReplicaRouter& router, std::string_view script) {
    const auto n = router.size();
    std::uint64_t exclude = 0;
    for (std::size_t i = 0; i < script.size(); ++i) {
        const char op = script[i];
        if (op == 'p') {
            const int picked = router.pick(exclude);
            bool any = false;
            for (std::size_t r = 0; r < n; ++r) {
                any = any || (router.state(r).up && ((exclude >> r) & 1U) == 0);
            }
            if (picked < 0) {
                check(!any, "pick() found nothing while a replica was eligible");
            } else {
                const auto r = static_cast<std::size_t>(picked);
                check(r < n, "pick() returned an index out of range");
                check(router.state(r).up, "pick() chose a replica that is down");
                check(((exclude >> r) & 1U) == 0, "pick() chose an excluded replica");
            }
            exclude = 0;
            continue;
        }
        if (i + 1 >= script.size() || n == 0) {
            continue;
        }
        const auto r = static_cast<std::size_t>(static_cast<unsigned char>(script[i + 1])) % n;
        if (op == 'd') {
            router.mark_down(r, "fuzz");
            ++i;
        } else if (op == 'u') {
            router.mark_up(r, db::HostRole::replica, 0ms, std::nullopt, 0ns);
            ++i;
        } else if (op == 'x') {
            exclude |= std::uint64_t{1} << r;
            ++i;
        }
    }
}

// With every replica up, one round of total-weight picks gives each replica its weight.
void check_round(const std::vector<unsigned>& weights) {
    db::ReplicaRouter router(weights, 10s);
    const auto total = std::accumulate(weights.begin(), weights.end(), std::uint64_t{0});
    std::vector<std::uint64_t> counts(weights.size(), 0);
    const auto picks = std::min(total, kMaxRoundPicks);
    for (std::uint64_t i = 0; i < picks; ++i) {
        const int r = router.pick();
        check(r >= 0 && static_cast<std::size_t>(r) < weights.size(),
              "pick() failed with every replica up");
        ++counts[static_cast<std::size_t>(r)];
    }
    if (picks == total) {
        for (std::size_t i = 0; i < weights.size(); ++i) {
            check(counts[i] == weights[i], "one round of picks does not follow the weights");
        }
    }
}

// Applies a replica list and weights to a default configuration: the result, or the
// ConfigError message.
std::pair<std::optional<db::PoolConfig>, std::string> apply_lists(
    const std::optional<std::string>& replicas, std::optional<std::string_view> weights) {
    std::map<std::string, std::string, std::less<>> env;
    if (replicas) {
        env.emplace("DATABASE_READ_REPLICAS", *replicas);
    }
    if (weights) {
        env.emplace("DATABASE_READ_REPLICA_WEIGHTS", *weights);
    }
    db::PoolConfig config;
    try {
        db::apply_environment(config, db::fixed_environment(env));
    } catch (const db::ConfigError& e) {
        return {std::nullopt, e.what()};
    }
    return {std::move(config), {}};
}

// The secret in the replica list shows nowhere: not in a refusal, not in what is displayed.
void check_secret(std::string_view list, std::string_view secret,
                  std::optional<std::string_view> weights) {
    const auto input = sparc::fuzz::with_secret(list, secret);
    const auto alternative = sparc::fuzz::with_secret(list, sparc::fuzz::other_secret(secret));
    const auto context = sparc::fuzz::with_secret(list, "");
    const auto [config, message] = apply_lists(input, weights);
    const auto [alt_config, alt_message] = apply_lists(alternative, weights);
    if (!config) {
        check(!sparc::fuzz::shows_secret(message, secret, alt_message, context),
              "a ConfigError message shows the password", input + "\n" + message);
        return;
    }
    const auto shown = sparc::fuzz::displays(*config, db::fixed_environment({}));
    const auto other = alt_config ? sparc::fuzz::displays(*alt_config, db::fixed_environment({}))
                                  : std::vector<sparc::fuzz::Display>{};
    sparc::fuzz::check_hidden(shown, other, secret, context, input);
}

std::vector<unsigned> raw_weights(std::string_view line) {
    std::vector<unsigned> out;
    for (const auto item : sparc::fuzz::split(line, ',')) {
        std::uint64_t n = 0;
        for (const char c : item) {
            if (c >= '0' && c <= '9') {
                n = (n * 10 + static_cast<std::uint64_t>(c - '0')) & 0xFFFF'FFFFU;
            }
        }
        out.push_back(static_cast<unsigned>(n));
        if (out.size() > 2 * db::ReplicaRouter::kMaxReplicas) {
            break;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto lines = sparc::fuzz::split(sparc::fuzz::as_text(data, size), '\n');
    const auto field = [&](std::size_t i) -> std::optional<std::string_view> {
        if (i >= lines.size() || lines[i] == "-") {
            return std::nullopt;
        }
        return lines[i];
    };
    const auto replicas = field(0);
    const auto weights = field(1);
    const std::string_view script = lines.size() > 2 ? lines[2] : std::string_view();

    if (replicas) {
        check_split(*replicas);
    }
    if (replicas && lines.size() > 4) {
        const auto secret = lines[4];
        if (sparc::fuzz::only_passwords_use_secret(*replicas, secret)) {
            check_secret(*replicas, secret, weights);
        }
    }

    std::map<std::string, std::string, std::less<>> env;
    if (replicas) {
        env.emplace("DATABASE_READ_REPLICAS", *replicas);
    }
    if (weights) {
        env.emplace("DATABASE_READ_REPLICA_WEIGHTS", *weights);
    }
    db::PoolConfig config;
    try {
        db::apply_environment(config, db::fixed_environment(env));
    } catch (const db::ConfigError&) {
        config.replicas.clear();
    }
    if (!config.replicas.empty()) {
        std::vector<unsigned> w;
        for (std::size_t i = 0; i < config.replicas.size(); ++i) {
            const auto& r = config.replicas[i];
            check(r.weight >= 1 && r.weight <= db::kMaxReplicaWeight, "weight out of range");
            for (std::size_t j = 0; j < i; ++j) {
                check(config.replicas[j].endpoint.label() != r.endpoint.label(),
                      "two replicas name the same server", r.endpoint.label());
            }
            w.push_back(r.weight);
        }
        // A configuration that validates is one a pool can be built from.
        check(w.size() <= db::ReplicaRouter::kMaxReplicas,
              "a valid configuration has more replicas than a pool can route");
        check_round(w);
        db::ReplicaRouter router(w, config.max_replica_lag);
        run_script(router, script);
    }

    if (lines.size() > 3) {
        const auto w = raw_weights(lines[3]);
        std::optional<db::ReplicaRouter> router;
        try {
            router.emplace(w, 10s);
        } catch (const db::ConfigError&) {
            return 0;
        }
        for (const auto weight : w) {
            check(weight > 0, "ReplicaRouter accepted a zero weight");
        }
        check(w.size() <= db::ReplicaRouter::kMaxReplicas, "ReplicaRouter accepted too many");
        run_script(*router, script);
        check_round(w);
    }
    return 0;
}
