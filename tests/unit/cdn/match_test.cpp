// match(): CloudFront's choice of cache behaviour for a request path.

#include "support.hpp"

namespace cdn = sparc::cdn;

namespace {

cdn::DistributionConfig with_patterns(std::initializer_list<const char*> patterns) {
    auto d = sparc::cdn::test::minimal_config();
    const auto prototype = d.cache_behaviors[0];
    d.cache_behaviors.clear();
    for (const char* p : patterns) {
        auto b = prototype;
        b.path_pattern = p;
        d.cache_behaviors.push_back(b);
    }
    return d;
}

}  // namespace

TEST_CASE("path_matches follows CloudFront's wildcards", "[cdn][match]") {
    CHECK(cdn::path_matches("/images/*.jpg", "/images/cat.jpg"));
    CHECK(cdn::path_matches("/images/*.jpg", "/images/2024/05/cat.jpg"));  // '*' crosses '/'
    CHECK_FALSE(cdn::path_matches("/images/*.jpg", "/images/cat.JPG"));    // case-sensitive
    CHECK_FALSE(cdn::path_matches("/images/*.jpg", "/images/cat.jpeg"));
    CHECK(cdn::path_matches("/v?/*", "/v2/videos"));
    CHECK_FALSE(cdn::path_matches("/v?/*", "/v10/videos"));  // '?' is one character
    CHECK(cdn::path_matches("images/*", "/images/a.png"));   // leading '/' implied
    CHECK(cdn::path_matches("/images/*", "images/a.png"));
    CHECK(cdn::path_matches("*.m3u8", "/video/abc/master.m3u8"));
    CHECK(cdn::path_matches("/api/*", "/api/v1/videos?page=2&q=*"));  // query string ignored
    CHECK_FALSE(cdn::path_matches("/api/*", "/apiv1"));
    CHECK(cdn::path_matches("/api*", "/apiv1"));
    CHECK(cdn::path_matches("/exact.html", "/exact.html"));
    CHECK_FALSE(cdn::path_matches("/exact.html", "/exact.html/more"));
    CHECK(cdn::path_matches("*", "/anything"));
    CHECK(cdn::path_matches("/.hidden/*", "/.hidden/x"));  // no special treatment of dots
}

TEST_CASE("match takes the first ordered behaviour that matches", "[cdn][match]") {
    const auto d = with_patterns({"/video/*.m3u8", "/video/*", "/api/*", "*.js"});
    auto m = cdn::match(d, "/video/abc/master.m3u8");
    CHECK(m.path_pattern == "/video/*.m3u8");
    REQUIRE(m.index);
    CHECK(*m.index == 0);
    CHECK(m.behavior == &d.cache_behaviors[0]);
    CHECK_FALSE(m.is_default());

    m = cdn::match(d, "/video/abc/segment-1.ts");
    CHECK(m.path_pattern == "/video/*");
    CHECK(*m.index == 1);

    // Order, not specificity, decides: /api/app.js matches /api/* before *.js.
    CHECK(cdn::match(d, "/api/app.js").path_pattern == "/api/*");
    CHECK(cdn::match(d, "/static/app.js").path_pattern == "*.js");
}

TEST_CASE("match falls back to the default behaviour", "[cdn][match]") {
    const auto d = with_patterns({"/video/*", "/api/*"});
    const auto m = cdn::match(d, "/index.html");
    CHECK(m.is_default());
    CHECK(m.path_pattern == "*");
    CHECK_FALSE(m.index);
    CHECK(m.behavior == nullptr);
    CHECK(cdn::match(d, "/VIDEO/a.ts").is_default());
    CHECK(cdn::match(d, "/").is_default());
    CHECK(cdn::match(with_patterns({}), "/video/x").is_default());
}

TEST_CASE("the video platform routes as designed", "[cdn][match]") {
    const auto stack = cdn::presets::video_platform(sparc::cdn::test::video_params());
    const auto& d = stack.distribution;
    CHECK(cdn::match(d, "/video/123/720p/seg-00042.ts").path_pattern == "/video/*");
    CHECK(cdn::match(d, "/api/v1/videos").path_pattern == "/api/*");
    CHECK(cdn::match(d, "/ws/notifications").path_pattern == "/ws/*");
    CHECK(cdn::match(d, "/assets/app.css").path_pattern == "*");
    CHECK(cdn::match(d, "/videos").is_default());
}
