// Schema and service rules for CloudFront documents.

#include <sparc/cdn/validate.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "detail/enums.hpp"
#include "detail/json_io.hpp"
#include "detail/preset_params.hpp"
#include "detail/regions.hpp"

namespace sparc::cdn {

namespace {

using detail::pointer_append;

// Collects problems under a JSON pointer prefix.
class Report {
  public:
    explicit Report(std::vector<Problem>& out) : out_(out) {}

    template <class... Args>
    void add(std::string path, fmt::format_string<Args...> format, Args&&... args) {
        out_.push_back({std::move(path), fmt::format(format, std::forward<Args>(args)...)});
    }

  private:
    std::vector<Problem>& out_;
};

// An ARN split into its fields; `valid` is false if the text is not shaped like one.
struct Arn {
    bool valid = false;
    std::string_view partition, service, region, account, resource;
};

Arn parse_arn(std::string_view text) {
    Arn arn;
    std::array<std::string_view, 5> parts{};
    std::size_t start = 0;
    for (auto& part : parts) {
        const auto colon = text.find(':', start);
        if (colon == std::string_view::npos) {
            return arn;
        }
        part = text.substr(start, colon - start);
        start = colon + 1;
    }
    if (parts[0] != "arn") {
        return arn;
    }
    arn.partition = parts[1];
    arn.service = parts[2];
    arn.region = parts[3];
    arn.account = parts[4];
    arn.resource = text.substr(start);
    arn.valid = arn.partition.starts_with("aws") && !arn.service.empty() && !arn.resource.empty();
    return arn;
}

bool is_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// What to add when a rejected name is an IP address: CloudFront takes names only.
std::string ip_note(std::string_view name) {
    const bool ipv6 =
        name.find(':') != std::string_view::npos &&
        name.find_first_not_of("0123456789abcdefABCDEF:.[]") == std::string_view::npos;
    const bool ipv4 =
        !name.empty() && name.find_first_not_of("0123456789.") == std::string_view::npos;
    return ipv4 || ipv6 ? " (an IP address: CloudFront needs a DNS name that resolves to it)" : "";
}

// A DNS name as CloudFront accepts for aliases and origins (a leading "*." wildcard allowed).
bool is_hostname(std::string_view name, bool allow_wildcard) {
    if (allow_wildcard && name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            if (label == 0 || label > 63) {
                return false;
            }
            if (name[i - 1] == '-' || name[i - label] == '-') {
                return false;
            }
            label = 0;
        } else if (is_alnum(name[i]) || name[i] == '-') {
            ++label;
        } else {
            return false;
        }
    }
    // The last label of a DNS name is never all digits: that is an IPv4 address.
    const auto last = name.substr(name.rfind('.') + 1);
    if (is_digits(last)) {
        return false;
    }
    return true;
}

std::string methods_text(const std::vector<Method>& methods) {
    std::string out;
    for (auto m : methods) {
        if (!out.empty()) {
            out += ',';
        }
        out += to_string(m);
    }
    return out.empty() ? "(none)" : out;
}

std::set<Method> method_set(const std::vector<Method>& methods) {
    return {methods.begin(), methods.end()};
}

const std::set<Method> kGetHead{Method::get, Method::head};
const std::set<Method> kGetHeadOptions{Method::get, Method::head, Method::options};
const std::set<Method> kAllMethods{Method::get,   Method::head,    Method::post, Method::put,
                                   Method::patch, Method::options, Method::del};

constexpr std::array<int, 8> kFailoverStatusCodes{400, 403, 404, 416, 500, 502, 503, 504};
constexpr std::array<int, 11> kCustomErrorCodes{400, 403, 404, 405, 414, 416,
                                                500, 501, 502, 503, 504};

// Headers CloudFront refuses as origin custom headers (lower case).
constexpr std::array<std::string_view, 21> kForbiddenOriginHeaders{"cache-control",
                                                                   "connection",
                                                                   "content-length",
                                                                   "cookie",
                                                                   "host",
                                                                   "if-match",
                                                                   "if-modified-since",
                                                                   "if-none-match",
                                                                   "if-range",
                                                                   "if-unmodified-since",
                                                                   "max-forwards",
                                                                   "pragma",
                                                                   "proxy-authorization",
                                                                   "proxy-connection",
                                                                   "range",
                                                                   "request-range",
                                                                   "te",
                                                                   "trailer",
                                                                   "transfer-encoding",
                                                                   "upgrade",
                                                                   "via"};

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    return out;
}

template <std::size_t N, class T>
bool contains(const std::array<T, N>& values, const T& value) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

// Length in characters (code points) of UTF-8 text: AWS counts characters, not bytes.
std::size_t characters(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

// The character at byte `i` of `text` for a message: printable ASCII quoted, anything else
// as its code point (the whole UTF-8 character, never one byte of it) or, if it is not
// UTF-8, as the byte.
std::string describe_character(std::string_view text, std::size_t i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
        return fmt::format("'{}'", text[i]);
    }
    char32_t code_point = 0;
    const auto n = detail::utf8_character(text.substr(i), code_point);
    if (n == 0) {
        return fmt::format("the byte 0x{:02X}, which is not UTF-8", c);
    }
    if (code_point < 0x20 || code_point == 0x7f) {
        return fmt::format("U+{:04X}", static_cast<std::uint32_t>(code_point));
    }
    return fmt::format("'{}' (U+{:04X})", text.substr(i, n),
                       static_cast<std::uint32_t>(code_point));
}

// Characters CloudFront accepts in a path pattern.
bool is_path_pattern_char(char c) {
    return is_alnum(c) || std::string_view(R"(_-.*$/~"'@:+&?)").find(c) != std::string_view::npos;
}

void check_range(Report& report, const std::string& path, std::string_view name,
                 std::optional<int> value, int min, int max, std::string_view note = {}) {
    if (value && (*value < min || *value > max)) {
        report.add(path, "{} is {}; CloudFront accepts {}-{}{}", name, *value, min, max, note);
    }
}

void check_origin(Report& report, const std::string& path, const Origin& origin) {
    if (origin.id.empty()) {
        report.add(pointer_append(path, "Id"), "origin Id must not be empty");
    }
    if (origin.id.size() > 128) {
        report.add(pointer_append(path, "Id"), "origin Id is {} characters; the limit is 128",
                   origin.id.size());
    }
    if (origin.domain_name.empty()) {
        report.add(pointer_append(path, "DomainName"),
                   "DomainName must name the origin server or S3 bucket");
    } else if (!has_placeholder(origin.domain_name) && !is_hostname(origin.domain_name, false)) {
        report.add(pointer_append(path, "DomainName"),
                   "\"{}\" is not a DNS name; give the host only, without scheme, port or path"
                   "{}",
                   origin.domain_name, ip_note(origin.domain_name));
    }
    if (origin.origin_path) {
        const auto& p = *origin.origin_path;
        if (!p.empty() && (p.front() != '/' || p.back() == '/')) {
            report.add(pointer_append(path, "OriginPath"),
                       "OriginPath \"{}\" must start with '/' and must not end with '/'", p);
        }
    }
    const bool s3 = origin.s3_origin_config.has_value();
    const bool custom = origin.custom_origin_config.has_value();
    const bool vpc = origin.vpc_origin_config.has_value();
    if (int{s3} + int{custom} + int{vpc} != 1) {
        report.add(path,
                   "set exactly one of S3OriginConfig (S3 bucket REST endpoint), "
                   "CustomOriginConfig (any other origin, including S3 website endpoints) and "
                   "VpcOriginConfig (a private origin reached through a VPC origin)");
    }
    if (vpc) {
        const auto& v = *origin.vpc_origin_config;
        const auto at = pointer_append(path, "VpcOriginConfig");
        if (v.vpc_origin_id.empty()) {
            report.add(pointer_append(at, "VpcOriginId"), "VpcOriginId must not be empty");
        }
        check_range(report, pointer_append(at, "OriginReadTimeout"), "OriginReadTimeout",
                    v.origin_read_timeout, 1, 180, " seconds");
        check_range(report, pointer_append(at, "OriginKeepaliveTimeout"), "OriginKeepaliveTimeout",
                    v.origin_keepalive_timeout, 1, 180, " seconds");
    }
    const bool has_oac =
        origin.origin_access_control_id && !origin.origin_access_control_id->empty();
    if (s3) {
        const auto& oai = origin.s3_origin_config->origin_access_identity;
        const auto oai_path =
            pointer_append(pointer_append(path, "S3OriginConfig"), "OriginAccessIdentity");
        if (!oai.empty() && has_oac) {
            report.add(oai_path,
                       "an origin uses an origin access identity or an origin access control, "
                       "not both; set OriginAccessIdentity to \"\" when using OAC");
        }
        if (!oai.empty() && !has_placeholder(oai) &&
            !oai.starts_with("origin-access-identity/cloudfront/")) {
            report.add(oai_path,
                       "OriginAccessIdentity must be \"origin-access-identity/cloudfront/ID\" "
                       "(or \"\" for none), not \"{}\"",
                       oai);
        }
    }
    // Besides S3, OACs sign requests to MediaStore, MediaPackage v2 and Lambda function URL
    // origins, which are custom origins; any other custom origin cannot use one.
    const auto signable_custom = [](std::string_view domain) {
        const auto has = [&](std::string_view part) {
            return domain.find(part) != std::string_view::npos;
        };
        return (has(".lambda-url.") && domain.ends_with(".on.aws")) || has(".mediapackagev2.") ||
               has(".mediastore.");
    };
    if (custom && has_oac && !signable_custom(origin.domain_name)) {
        report.add(pointer_append(path, "OriginAccessControlId"),
                   "origin access controls apply to S3OriginConfig origins and to MediaStore, "
                   "MediaPackage v2 and Lambda function URL origins only");
    }
    if (custom) {
        const auto& c = *origin.custom_origin_config;
        const auto cpath = pointer_append(path, "CustomOriginConfig");
        for (auto [name, port] : {std::pair<const char*, int>{"HTTPPort", c.http_port},
                                  std::pair<const char*, int>{"HTTPSPort", c.https_port}}) {
            if (port != 80 && port != 443 && (port < 1024 || port > 65535)) {
                report.add(pointer_append(cpath, name),
                           "{} is {}; CloudFront connects to port 80, 443 or 1024-65535 only "
                           "(other ports below 1024 are reserved)",
                           name, port);
            }
        }
        check_range(report, pointer_append(cpath, "OriginReadTimeout"), "OriginReadTimeout",
                    c.origin_read_timeout, 1, 180,
                    " seconds (default 30; above 60 needs a quota increase)");
        check_range(report, pointer_append(cpath, "OriginKeepaliveTimeout"),
                    "OriginKeepaliveTimeout", c.origin_keepalive_timeout, 1, 180,
                    " seconds (default 5; above 60 needs a quota increase)");
        if (c.origin_protocol_policy != OriginProtocolPolicy::http_only &&
            c.origin_ssl_protocols.empty()) {
            report.add(pointer_append(cpath, "OriginSslProtocols"),
                       "OriginSslProtocols is empty but CloudFront may use HTTPS to this origin; "
                       "list the protocols, e.g. TLSv1.2");
        }
        std::set<SslProtocol> seen;
        for (std::size_t i = 0; i < c.origin_ssl_protocols.size(); ++i) {
            if (!seen.insert(c.origin_ssl_protocols[i]).second) {
                report.add(
                    pointer_append(
                        pointer_append(pointer_append(cpath, "OriginSslProtocols"), "Items"), i),
                    "{} is listed twice", to_string(c.origin_ssl_protocols[i]));
            }
        }
    }
    check_range(report, pointer_append(path, "ConnectionAttempts"), "ConnectionAttempts",
                origin.connection_attempts, 1, 3);
    check_range(report, pointer_append(path, "ConnectionTimeout"), "ConnectionTimeout",
                origin.connection_timeout, 1, 10, " seconds");
    if (origin.origin_shield && origin.origin_shield->enabled) {
        const auto spath = pointer_append(path, "OriginShield");
        const auto& region = origin.origin_shield->origin_shield_region;
        if (!region || region->empty()) {
            report.add(pointer_append(spath, "OriginShieldRegion"),
                       "Origin Shield is enabled without OriginShieldRegion; pick the Origin "
                       "Shield region closest to the origin, e.g. us-east-1");
        } else if (!has_placeholder(*region) &&
                   !contains(detail::kOriginShieldRegions, std::string_view(*region))) {
            report.add(pointer_append(spath, "OriginShieldRegion"),
                       "\"{}\" is not an Origin Shield region; use one of us-east-1, us-east-2, "
                       "us-west-2, ap-south-1, ap-northeast-1, ap-northeast-2, ap-southeast-1, "
                       "ap-southeast-2, eu-central-1, eu-west-1, eu-west-2, sa-east-1",
                       *region);
        }
    }
    std::set<std::string> header_names;
    const auto hpath = pointer_append(path, "CustomHeaders");
    if (origin.custom_headers.size() > 10) {
        report.add(hpath, "{} custom headers; CloudFront allows at most 10 per origin",
                   origin.custom_headers.size());
    }
    for (std::size_t i = 0; i < origin.custom_headers.size(); ++i) {
        const auto& h = origin.custom_headers[i];
        const auto ipath = pointer_append(pointer_append(hpath, "Items"), i);
        const auto name = lower(h.header_name);
        if (name.empty()) {
            report.add(pointer_append(ipath, "HeaderName"), "HeaderName must not be empty");
            continue;
        }
        if (contains(kForbiddenOriginHeaders, std::string_view(name)) ||
            name.starts_with("x-amz-") || name.starts_with("x-edge-")) {
            report.add(pointer_append(ipath, "HeaderName"),
                       "CloudFront does not let origin custom headers set \"{}\"", h.header_name);
        }
        if (!header_names.insert(name).second) {
            report.add(pointer_append(ipath, "HeaderName"), "header \"{}\" is set twice",
                       h.header_name);
        }
    }
}

struct OriginIndex {
    std::set<std::string> origins;
    std::set<std::string> groups;
};

template <class Behavior>
void check_behavior(Report& report, const std::string& path, const Behavior& b,
                    const OriginIndex& index) {
    // Target origin.
    const auto tpath = pointer_append(path, "TargetOriginId");
    const bool targets_group = index.groups.contains(b.target_origin_id);
    if (b.target_origin_id.empty()) {
        report.add(tpath, "TargetOriginId must name an origin or origin group");
    } else if (!index.origins.contains(b.target_origin_id) && !targets_group) {
        report.add(tpath, "TargetOriginId \"{}\" is not the Id of any origin or origin group",
                   b.target_origin_id);
    }

    // Methods.
    const AllowedMethods allowed = b.allowed_methods.value_or(AllowedMethods{});
    const auto allowed_set = method_set(allowed.items);
    const auto mpath = pointer_append(path, "AllowedMethods");
    if (b.allowed_methods) {
        if (allowed_set.size() != allowed.items.size()) {
            report.add(pointer_append(mpath, "Items"), "a method is listed twice in {}",
                       methods_text(allowed.items));
        }
        if (allowed_set != kGetHead && allowed_set != kGetHeadOptions &&
            allowed_set != kAllMethods) {
            report.add(pointer_append(mpath, "Items"),
                       "CloudFront allows exactly GET,HEAD or GET,HEAD,OPTIONS or all seven "
                       "methods (GET,HEAD,OPTIONS,PUT,PATCH,POST,DELETE), not {}",
                       methods_text(allowed.items));
        }
        if (!allowed.cached_methods.empty()) {
            const auto cached = method_set(allowed.cached_methods);
            const auto cpath = pointer_append(pointer_append(mpath, "CachedMethods"), "Items");
            if (cached != kGetHead && cached != kGetHeadOptions) {
                report.add(cpath, "CachedMethods must be GET,HEAD or GET,HEAD,OPTIONS, not {}",
                           methods_text(allowed.cached_methods));
            } else if (!std::includes(allowed_set.begin(), allowed_set.end(), cached.begin(),
                                      cached.end())) {
                report.add(cpath, "CachedMethods {} are not all in AllowedMethods {}",
                           methods_text(allowed.cached_methods), methods_text(allowed.items));
            }
        }
    }
    if (targets_group && allowed_set != kGetHead && allowed_set != kGetHeadOptions) {
        report.add(mpath,
                   "origin group \"{}\" fails over only GET, HEAD and OPTIONS requests; allow "
                   "GET,HEAD or GET,HEAD,OPTIONS, or target a single origin",
                   b.target_origin_id);
    }

    // Cache key: a cache policy or legacy forwarded values, not both.
    const bool has_policy = b.cache_policy_id && !b.cache_policy_id->empty();
    const bool has_forwarded = b.forwarded_values.has_value();
    if (has_policy == has_forwarded) {
        report.add(path,
                   "set exactly one of CachePolicyId (recommended; e.g. the managed "
                   "CachingOptimized policy) and the legacy ForwardedValues");
    }
    if (has_policy) {
        for (auto [name, ttl] :
             {std::pair{"MinTTL", b.min_ttl}, std::pair{"DefaultTTL", b.default_ttl},
              std::pair{"MaxTTL", b.max_ttl}}) {
            if (ttl) {
                report.add(pointer_append(path, name),
                           "{} belongs to legacy ForwardedValues; with a cache policy set TTLs "
                           "in the policy and omit {} here",
                           name, name);
            }
        }
    }
    if (b.origin_request_policy_id && has_forwarded) {
        report.add(pointer_append(path, "OriginRequestPolicyId"),
                   "an origin request policy needs a cache policy; it cannot be combined with "
                   "ForwardedValues");
    }
    if (has_forwarded) {
        if (!b.min_ttl) {
            report.add(pointer_append(path, "MinTTL"),
                       "MinTTL is required with ForwardedValues (use 0 to honour the origin)");
        }
        const auto& fv = *b.forwarded_values;
        const auto cookies_path =
            pointer_append(pointer_append(path, "ForwardedValues"), "Cookies");
        if (fv.cookies.forward == ItemSelection::whitelist &&
            fv.cookies.whitelisted_names.empty()) {
            report.add(pointer_append(cookies_path, "WhitelistedNames"),
                       "Forward is whitelist but WhitelistedNames is empty; list the cookies");
        }
        if (fv.cookies.forward != ItemSelection::whitelist &&
            !fv.cookies.whitelisted_names.empty()) {
            report.add(pointer_append(cookies_path, "WhitelistedNames"),
                       "WhitelistedNames is used only when Forward is whitelist");
        }
    }
    for (auto ttl : {std::pair{"MinTTL", b.min_ttl}, std::pair{"DefaultTTL", b.default_ttl},
                     std::pair{"MaxTTL", b.max_ttl}}) {
        if (ttl.second && *ttl.second < 0) {
            report.add(pointer_append(path, ttl.first), "{} must not be negative", ttl.first);
        }
    }
    if (b.min_ttl && b.default_ttl && *b.min_ttl > *b.default_ttl) {
        report.add(pointer_append(path, "DefaultTTL"), "DefaultTTL {} is below MinTTL {}",
                   *b.default_ttl, *b.min_ttl);
    }
    if (b.default_ttl && b.max_ttl && *b.default_ttl > *b.max_ttl) {
        report.add(pointer_append(path, "MaxTTL"), "MaxTTL {} is below DefaultTTL {}", *b.max_ttl,
                   *b.default_ttl);
    }
    if (b.min_ttl && b.max_ttl && *b.min_ttl > *b.max_ttl) {
        report.add(pointer_append(path, "MaxTTL"), "MaxTTL {} is below MinTTL {}", *b.max_ttl,
                   *b.min_ttl);
    }

    // Lambda@Edge.
    const auto lpath = pointer_append(pointer_append(path, "LambdaFunctionAssociations"), "Items");
    std::set<EventType> lambda_events;
    for (std::size_t i = 0; i < b.lambda_function_associations.size(); ++i) {
        const auto& a = b.lambda_function_associations[i];
        const auto ipath = pointer_append(lpath, i);
        const auto apath = pointer_append(ipath, "LambdaFunctionARN");
        const auto arn = parse_arn(a.lambda_function_arn);
        // A value known only at deploy time (a template's Ref of the version) is not checked.
        const bool deploy_time = a.lambda_function_arn.starts_with("{{") &&
                                 a.lambda_function_arn.ends_with("}}") &&
                                 a.lambda_function_arn.find("{{", 2) == std::string::npos;
        if (deploy_time) {
            // nothing to check before deployment
        } else if (!arn.valid || arn.service != "lambda" ||
                   !arn.resource.starts_with("function:")) {
            report.add(apath,
                       "\"{}\" is not a Lambda function ARN "
                       "(arn:aws:lambda:us-east-1:ACCOUNT:function:NAME:VERSION)",
                       a.lambda_function_arn);
        } else {
            if (arn.region != "us-east-1") {
                report.add(apath,
                           "Lambda@Edge functions must be created in us-east-1; \"{}\" is in {}",
                           a.lambda_function_arn, arn.region);
            }
            const auto rest = arn.resource.substr(std::string_view("function:").size());
            const auto colon = rest.find(':');
            const auto version =
                colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
            if (!has_placeholder(version) && !is_digits(version)) {
                report.add(apath,
                           "Lambda@Edge needs a published version number at the end of the ARN "
                           "(…:function:NAME:3); \"{}\" is unversioned, $LATEST or an alias",
                           a.lambda_function_arn);
            }
        }
        if (!lambda_events.insert(a.event_type).second) {
            report.add(pointer_append(ipath, "EventType"),
                       "two Lambda@Edge functions on {}; CloudFront runs one per event type",
                       to_string(a.event_type));
        }
        if (a.include_body && *a.include_body && a.event_type != EventType::viewer_request &&
            a.event_type != EventType::origin_request) {
            report.add(pointer_append(ipath, "IncludeBody"),
                       "IncludeBody applies only to viewer-request and origin-request events");
        }
    }
    if (b.lambda_function_associations.size() > 4) {
        report.add(pointer_append(path, "LambdaFunctionAssociations"),
                   "at most 4 Lambda@Edge associations (one per event type)");
    }

    // CloudFront Functions.
    const auto fpath = pointer_append(pointer_append(path, "FunctionAssociations"), "Items");
    std::set<EventType> function_events;
    for (std::size_t i = 0; i < b.function_associations.size(); ++i) {
        const auto& a = b.function_associations[i];
        const auto ipath = pointer_append(fpath, i);
        if (a.event_type != EventType::viewer_request &&
            a.event_type != EventType::viewer_response) {
            report.add(pointer_append(ipath, "EventType"),
                       "CloudFront Functions run on viewer-request or viewer-response only, not "
                       "{}; use Lambda@Edge for origin events",
                       to_string(a.event_type));
        }
        const auto arn = parse_arn(a.function_arn);
        if (!has_placeholder(a.function_arn) &&
            (!arn.valid || arn.service != "cloudfront" || !arn.region.empty() ||
             !arn.resource.starts_with("function/"))) {
            report.add(pointer_append(ipath, "FunctionARN"),
                       "\"{}\" is not a CloudFront Function ARN "
                       "(arn:aws:cloudfront::ACCOUNT:function/NAME)",
                       a.function_arn);
        }
        if (!function_events.insert(a.event_type).second) {
            report.add(pointer_append(ipath, "EventType"),
                       "two CloudFront Functions on {}; one per event type",
                       to_string(a.event_type));
        }
        if (lambda_events.contains(a.event_type)) {
            report.add(pointer_append(ipath, "EventType"),
                       "{} already has a Lambda@Edge function; an event takes a CloudFront "
                       "Function or a Lambda@Edge function, not both",
                       to_string(a.event_type));
        }
    }

    // Field-level encryption.
    if (b.field_level_encryption_id && !b.field_level_encryption_id->empty()) {
        const auto epath = pointer_append(path, "FieldLevelEncryptionId");
        if (b.viewer_protocol_policy == ViewerProtocolPolicy::allow_all) {
            report.add(pointer_append(path, "ViewerProtocolPolicy"),
                       "field-level encryption needs ViewerProtocolPolicy https-only or "
                       "redirect-to-https");
        }
        if (!allowed_set.contains(Method::post)) {
            report.add(epath,
                       "field-level encryption applies to POST requests; allow all seven methods "
                       "(GET,HEAD,OPTIONS,PUT,PATCH,POST,DELETE)");
        }
    }

    // Real-time logs.
    if (b.realtime_log_config_arn && !has_placeholder(*b.realtime_log_config_arn)) {
        const auto arn = parse_arn(*b.realtime_log_config_arn);
        if (!arn.valid || arn.service != "cloudfront" ||
            !arn.resource.starts_with("realtime-log-config/")) {
            report.add(pointer_append(path, "RealtimeLogConfigArn"),
                       "\"{}\" is not a real-time log configuration ARN "
                       "(arn:aws:cloudfront::ACCOUNT:realtime-log-config/NAME)",
                       *b.realtime_log_config_arn);
        }
    }

    // Signed URLs.
    for (auto [name, list] : {std::pair{"TrustedKeyGroups", &b.trusted_key_groups},
                              std::pair{"TrustedSigners", &b.trusted_signers}}) {
        if (*list && (*list)->enabled != !(*list)->items.empty()) {
            report.add(pointer_append(pointer_append(path, name), "Enabled"),
                       "{}.Enabled must be true exactly when Items is non-empty", name);
        }
    }
}

void check_path_pattern(Report& report, const std::string& path, const std::string& pattern) {
    if (pattern.empty()) {
        report.add(path, "PathPattern must not be empty");
        return;
    }
    if (pattern.size() > kMaxPathPatternLength) {
        report.add(path, "PathPattern is {} characters; the limit is {}", pattern.size(),
                   kMaxPathPatternLength);
    }
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (!is_path_pattern_char(pattern[i])) {
            report.add(path,
                       "PathPattern \"{}\" contains {}; allowed are A-Z a-z 0-9 and "
                       "_ - . * $ / ~ \" ' @ : + & ?",
                       pattern, describe_character(pattern, i));
            break;
        }
    }
    if (pattern == "*" || pattern == "/*") {
        report.add(path,
                   "PathPattern \"{}\" matches every request, which is the default cache "
                   "behaviour's job; edit DefaultCacheBehavior instead",
                   pattern);
    }
}

void check_certificate(Report& report, const DistributionConfig& config) {
    const auto path = std::string("/ViewerCertificate");
    const ViewerCertificate cert = config.viewer_certificate.value_or(ViewerCertificate{});
    const bool uses_default =
        !config.viewer_certificate || cert.cloudfront_default_certificate.value_or(false);
    const bool has_acm = cert.acm_certificate_arn.has_value();
    const bool has_iam = cert.iam_certificate_id.has_value();
    const int sources = (cert.cloudfront_default_certificate.value_or(false) ? 1 : 0) +
                        (has_acm ? 1 : 0) + (has_iam ? 1 : 0);
    if (config.viewer_certificate && sources != 1) {
        report.add(path,
                   "set exactly one of CloudFrontDefaultCertificate=true, ACMCertificateArn and "
                   "IAMCertificateId");
    }
    if (has_acm && !has_placeholder(*cert.acm_certificate_arn)) {
        const auto arn = parse_arn(*cert.acm_certificate_arn);
        const auto apath = pointer_append(path, "ACMCertificateArn");
        if (!arn.valid || arn.service != "acm" || !arn.resource.starts_with("certificate/")) {
            report.add(apath, "\"{}\" is not an ACM certificate ARN", *cert.acm_certificate_arn);
        } else if (arn.region != "us-east-1") {
            report.add(apath,
                       "CloudFront uses ACM certificates from us-east-1 only; \"{}\" is in {}; "
                       "request or import the certificate in us-east-1",
                       *cert.acm_certificate_arn, arn.region);
        }
    }
    if ((has_acm || has_iam) && !cert.ssl_support_method) {
        report.add(pointer_append(path, "SSLSupportMethod"),
                   "SSLSupportMethod is required with a custom certificate; use sni-only");
    }
    if (cert.minimum_protocol_version) {
        const auto v = *cert.minimum_protocol_version;
        const auto ppath = pointer_append(path, "MinimumProtocolVersion");
        if (uses_default && v != MinimumProtocolVersion::tlsv1) {
            report.add(ppath,
                       "with the CloudFront default certificate the minimum protocol is always "
                       "TLSv1; use a custom certificate to require {}",
                       to_string(v));
        }
        if (v == MinimumProtocolVersion::sslv3 &&
            cert.ssl_support_method == SslSupportMethod::sni_only) {
            report.add(ppath, "SSLv3 is not available with sni-only; use TLSv1.2_2021");
        }
    }
    if (!config.aliases.empty() && uses_default && !has_acm && !has_iam) {
        report.add(
            "/Aliases",
            "alternate domain names need a certificate covering them: set "
            "ViewerCertificate.ACMCertificateArn (us-east-1) with SSLSupportMethod sni-only");
    }
}

}  // namespace

std::vector<Problem> validate(const DistributionConfig& config) {
    std::vector<Problem> problems;
    Report report(problems);

    if (config.caller_reference.empty()) {
        report.add("/CallerReference", "CallerReference must be a unique, non-empty string");
    }
    if (characters(config.comment) > kMaxCommentLength) {
        report.add("/Comment", "Comment is {} characters; CloudFront allows at most {}",
                   characters(config.comment), kMaxCommentLength);
    }

    // Aliases.
    std::set<std::string> aliases;
    if (config.aliases.size() > kMaxAliases) {
        report.add("/Aliases", "{} aliases; the default quota is {}", config.aliases.size(),
                   kMaxAliases);
    }
    for (std::size_t i = 0; i < config.aliases.size(); ++i) {
        const auto& alias = config.aliases[i];
        const auto apath = pointer_append("/Aliases/Items", i);
        if (!has_placeholder(alias) && !is_hostname(alias, true)) {
            report.add(apath, "\"{}\" is not a domain name{}", alias, ip_note(alias));
        }
        if (!aliases.insert(lower(alias)).second) {
            report.add(apath, "alias \"{}\" is listed twice", alias);
        }
    }
    if (config.default_root_object) {
        const auto& root = *config.default_root_object;
        if (root.starts_with('/')) {
            report.add("/DefaultRootObject",
                       "DefaultRootObject is an object name such as \"index.html\", without a "
                       "leading '/'");
        }
        if (root.size() > 255) {
            report.add("/DefaultRootObject", "DefaultRootObject is longer than 255 characters");
        }
    }

    // Origins and origin groups.
    OriginIndex index;
    if (config.origins.empty()) {
        report.add("/Origins", "a distribution needs at least one origin");
    }
    if (config.origins.size() > kMaxOrigins) {
        report.add("/Origins", "{} origins; the default quota is {} per distribution",
                   config.origins.size(), kMaxOrigins);
    }
    for (std::size_t i = 0; i < config.origins.size(); ++i) {
        const auto& origin = config.origins[i];
        const auto opath = pointer_append("/Origins/Items", i);
        check_origin(report, opath, origin);
        if (!origin.id.empty() && !index.origins.insert(origin.id).second) {
            report.add(pointer_append(opath, "Id"),
                       "origin Id \"{}\" is used twice; ids must be unique", origin.id);
        }
    }
    if (config.origin_groups.size() > kMaxOriginGroups) {
        report.add("/OriginGroups", "{} origin groups; the default quota is {}",
                   config.origin_groups.size(), kMaxOriginGroups);
    }
    for (std::size_t i = 0; i < config.origin_groups.size(); ++i) {
        const auto& group = config.origin_groups[i];
        const auto gpath = pointer_append("/OriginGroups/Items", i);
        if (group.id.empty()) {
            report.add(pointer_append(gpath, "Id"), "origin group Id must not be empty");
        } else if (index.origins.contains(group.id) || !index.groups.insert(group.id).second) {
            report.add(pointer_append(gpath, "Id"),
                       "Id \"{}\" is already used by another origin or origin group", group.id);
        }
        if (group.member_origin_ids.size() != 2) {
            report.add(pointer_append(gpath, "Members"),
                       "an origin group has exactly two members (primary, then secondary); "
                       "found {}",
                       group.member_origin_ids.size());
        }
        for (std::size_t m = 0; m < group.member_origin_ids.size(); ++m) {
            const auto& member = group.member_origin_ids[m];
            if (!index.origins.contains(member)) {
                report.add(
                    pointer_append(pointer_append("/OriginGroups/Items", i) + "/Members/Items", m) +
                        "/OriginId",
                    "member \"{}\" is not the Id of an origin in this distribution", member);
            }
        }
        if (group.member_origin_ids.size() == 2 &&
            group.member_origin_ids[0] == group.member_origin_ids[1]) {
            report.add(pointer_append(gpath, "Members"),
                       "both members are \"{}\"; fail over to a different origin",
                       group.member_origin_ids[0]);
        }
        const auto spath = gpath + "/FailoverCriteria/StatusCodes";
        if (group.failover_status_codes.empty()) {
            report.add(spath,
                       "list at least one status code that triggers failover, e.g. 500, "
                       "502, 503, 504");
        }
        for (std::size_t s = 0; s < group.failover_status_codes.size(); ++s) {
            const auto code = group.failover_status_codes[s];
            if (!contains(kFailoverStatusCodes, code)) {
                report.add(pointer_append(spath + "/Items", s),
                           "{} cannot trigger failover; use 400, 403, 404, 416, 500, 502, 503 or "
                           "504",
                           code);
            }
        }
    }

    // Behaviours.
    check_behavior(report, "/DefaultCacheBehavior", config.default_cache_behavior, index);
    if (config.cache_behaviors.size() > kMaxCacheBehaviors) {
        report.add("/CacheBehaviors", "{} cache behaviours; the default quota is {}",
                   config.cache_behaviors.size(), kMaxCacheBehaviors);
    }
    std::set<std::string> patterns;
    for (std::size_t i = 0; i < config.cache_behaviors.size(); ++i) {
        const auto& behavior = config.cache_behaviors[i];
        const auto bpath = pointer_append("/CacheBehaviors/Items", i);
        check_path_pattern(report, pointer_append(bpath, "PathPattern"), behavior.path_pattern);
        auto normalized = behavior.path_pattern;
        if (!normalized.starts_with('/')) {
            normalized.insert(0, 1, '/');
        }
        if (!patterns.insert(normalized).second) {
            report.add(pointer_append(bpath, "PathPattern"),
                       "PathPattern \"{}\" is used by an earlier behaviour, so this one never "
                       "matches",
                       behavior.path_pattern);
        }
        check_behavior(report, bpath, behavior, index);
    }

    // Error responses.
    std::set<int> error_codes;
    for (std::size_t i = 0; i < config.custom_error_responses.size(); ++i) {
        const auto& e = config.custom_error_responses[i];
        const auto epath = pointer_append("/CustomErrorResponses/Items", i);
        if (!contains(kCustomErrorCodes, e.error_code)) {
            report.add(pointer_append(epath, "ErrorCode"),
                       "CloudFront customises 400, 403, 404, 405, 414, 416, 500, 501, 502, 503 "
                       "and 504 only, not {}",
                       e.error_code);
        }
        if (!error_codes.insert(e.error_code).second) {
            report.add(pointer_append(epath, "ErrorCode"), "ErrorCode {} is listed twice",
                       e.error_code);
        }
        if (e.response_page_path.has_value() != e.response_code.has_value()) {
            report.add(epath, "set ResponsePagePath and ResponseCode together, or neither");
        }
        if (e.response_page_path && !e.response_page_path->starts_with('/')) {
            report.add(pointer_append(epath, "ResponsePagePath"),
                       "ResponsePagePath must start with '/', e.g. \"/errors/404.html\"");
        }
        if (e.error_caching_min_ttl && *e.error_caching_min_ttl < 0) {
            report.add(pointer_append(epath, "ErrorCachingMinTTL"),
                       "ErrorCachingMinTTL must not be negative");
        }
    }

    // Logging.
    if (config.logging && config.logging->enabled) {
        const auto& bucket = config.logging->bucket;
        if (bucket.empty() ||
            (!has_placeholder(bucket) && !bucket.ends_with(".s3.amazonaws.com"))) {
            report.add(
                "/Logging/Bucket",
                "Bucket must be the bucket's domain name, e.g. \"my-logs.s3.amazonaws.com\", "
                "not \"{}\"",
                bucket);
        }
        if (config.logging->prefix.starts_with('/')) {
            report.add("/Logging/Prefix", "Prefix must not start with '/'");
        }
    }

    check_certificate(report, config);

    // Geo restrictions.
    if (config.restrictions) {
        const auto& geo = config.restrictions->geo_restriction;
        const auto gpath = std::string("/Restrictions/GeoRestriction");
        if (geo.restriction_type == GeoRestrictionType::none && !geo.locations.empty()) {
            report.add(gpath, "RestrictionType none takes no locations");
        }
        if (geo.restriction_type != GeoRestrictionType::none && geo.locations.empty()) {
            report.add(gpath, "RestrictionType {} needs at least one country code",
                       to_string(geo.restriction_type));
        }
        for (std::size_t i = 0; i < geo.locations.size(); ++i) {
            const auto& code = geo.locations[i];
            if (code.size() != 2 || !std::all_of(code.begin(), code.end(),
                                                 [](char c) { return c >= 'A' && c <= 'Z'; })) {
                report.add(pointer_append(gpath + "/Items", i),
                           R"("{}" is not an ISO 3166-1 alpha-2 country code such as "US")", code);
            }
        }
    }

    // Web ACL.
    if (config.web_acl_id && !config.web_acl_id->empty() && !has_placeholder(*config.web_acl_id)) {
        const auto arn = parse_arn(*config.web_acl_id);
        if (arn.valid) {
            if (arn.service != "wafv2" || !arn.resource.starts_with("global/webacl/")) {
                report.add("/WebACLId",
                           "\"{}\" is not a WAFv2 web ACL with scope CLOUDFRONT "
                           "(arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID)",
                           *config.web_acl_id);
            } else if (arn.region != "us-east-1") {
                report.add("/WebACLId", "web ACLs for CloudFront live in us-east-1, not {}",
                           arn.region);
            }
        } else if (config.web_acl_id->size() != 36) {
            report.add("/WebACLId",
                       "WebACLId must be a WAFv2 web ACL ARN (or a WAF Classic web ACL id)");
        }
    }
    return problems;
}

namespace {

void check_policy_name(Report& report, const std::string& name,
                       std::optional<std::string> comment) {
    if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), [](char c) {
            return is_alnum(c) || c == '-' || c == '_';
        })) {
        report.add("/Name", "Name \"{}\" must be 1-128 characters of A-Z a-z 0-9 - _", name);
    }
    if (comment && characters(*comment) > 128) {
        report.add("/Comment", "Comment is {} characters; the limit is 128", characters(*comment));
    }
}

template <class Behavior>
void check_named_list(Report& report, const std::string& path, Behavior behavior,
                      const std::vector<std::string>& items, std::size_t limit,
                      std::string_view what) {
    const auto name = to_string(behavior);
    const bool takes_list =
        name == "whitelist" || name == "allExcept" || name == "allViewerAndWhitelistCloudFront";
    if (takes_list && items.empty()) {
        report.add(path, "behaviour {} needs at least one {}", name, what);
    }
    if (!takes_list && !items.empty()) {
        report.add(path, "behaviour {} takes no list of {}s", name, what);
    }
    if (items.size() > limit) {
        report.add(path, "{} {}s; a policy holds at most {}", items.size(), what, limit);
    }
}

}  // namespace

std::vector<Problem> validate(const CachePolicyConfig& policy) {
    std::vector<Problem> problems;
    Report report(problems);
    check_policy_name(report, policy.name, policy.comment);
    // AWS defaults: DefaultTTL 86400 (or MinTTL if larger), MaxTTL 31536000.
    if (policy.min_ttl < 0) {
        report.add("/MinTTL", "MinTTL must not be negative");
    }
    if (policy.default_ttl && *policy.default_ttl < policy.min_ttl) {
        report.add("/DefaultTTL", "DefaultTTL {} is below MinTTL {}", *policy.default_ttl,
                   policy.min_ttl);
    }
    if (policy.max_ttl && *policy.max_ttl < policy.min_ttl) {
        report.add("/MaxTTL", "MaxTTL {} is below MinTTL {}", *policy.max_ttl, policy.min_ttl);
    }
    if (policy.default_ttl && policy.max_ttl && *policy.default_ttl > *policy.max_ttl) {
        report.add("/MaxTTL", "MaxTTL {} is below DefaultTTL {}", *policy.max_ttl,
                   *policy.default_ttl);
    }
    if (!policy.default_ttl && policy.max_ttl && *policy.max_ttl < 86400) {
        report.add("/DefaultTTL",
                   "DefaultTTL defaults to 86400, above MaxTTL {}; set DefaultTTL explicitly",
                   *policy.max_ttl);
    }
    if (const auto& p = policy.parameters_in_cache_key_and_forwarded_to_origin) {
        const std::string base = "/ParametersInCacheKeyAndForwardedToOrigin";
        check_named_list(report, base + "/HeadersConfig", p->headers_config.header_behavior,
                         p->headers_config.headers, 10, "header");
        check_named_list(report, base + "/CookiesConfig", p->cookies_config.cookie_behavior,
                         p->cookies_config.cookies, 10, "cookie");
        check_named_list(report, base + "/QueryStringsConfig",
                         p->query_strings_config.query_string_behavior,
                         p->query_strings_config.query_strings, 10, "query string");
        const bool caching = policy.max_ttl.value_or(31536000) > 0;
        if (!caching &&
            (p->enable_accept_encoding_gzip || p->enable_accept_encoding_brotli.value_or(false))) {
            report.add(base,
                       "compression settings need caching; with MaxTTL 0 set "
                       "EnableAcceptEncodingGzip and EnableAcceptEncodingBrotli to false");
        }
    } else if (policy.max_ttl.value_or(31536000) > 0) {
        report.add("/ParametersInCacheKeyAndForwardedToOrigin",
                   "a caching policy needs ParametersInCacheKeyAndForwardedToOrigin");
    }
    return problems;
}

std::vector<Problem> validate(const OriginRequestPolicyConfig& policy) {
    std::vector<Problem> problems;
    Report report(problems);
    check_policy_name(report, policy.name, policy.comment);
    check_named_list(report, "/HeadersConfig", policy.headers_config.header_behavior,
                     policy.headers_config.headers, 10, "header");
    check_named_list(report, "/CookiesConfig", policy.cookies_config.cookie_behavior,
                     policy.cookies_config.cookies, 10, "cookie");
    check_named_list(report, "/QueryStringsConfig",
                     policy.query_strings_config.query_string_behavior,
                     policy.query_strings_config.query_strings, 10, "query string");
    for (std::size_t i = 0; i < policy.headers_config.headers.size(); ++i) {
        if (lower(policy.headers_config.headers[i]) == "authorization") {
            report.add(pointer_append("/HeadersConfig/Headers/Items", i),
                       "Authorization cannot be forwarded by an origin request policy; add it to "
                       "the cache policy's headers instead");
        }
    }
    return problems;
}

std::vector<Problem> validate(const ResponseHeadersPolicyConfig& policy) {
    std::vector<Problem> problems;
    Report report(problems);
    check_policy_name(report, policy.name, policy.comment);
    if (const auto& t = policy.server_timing_headers_config;
        t && t->sampling_rate && (*t->sampling_rate < 0 || *t->sampling_rate > 100)) {
        report.add("/ServerTimingHeadersConfig/SamplingRate",
                   "SamplingRate is {}; CloudFront accepts 0-100 (percent)", *t->sampling_rate);
    }
    if (const auto& s = policy.security_headers_config) {
        if (s->strict_transport_security &&
            s->strict_transport_security->access_control_max_age_sec < 0) {
            report.add("/SecurityHeadersConfig/StrictTransportSecurity/AccessControlMaxAgeSec",
                       "max-age must not be negative");
        }
        if (s->content_security_policy) {
            const auto& csp = s->content_security_policy->content_security_policy;
            if (csp.empty() || csp.size() > 1783) {
                report.add("/SecurityHeadersConfig/ContentSecurityPolicy/ContentSecurityPolicy",
                           "the policy must be 1-1783 characters, found {}", csp.size());
            }
        }
        if (s->xss_protection && s->xss_protection->report_uri &&
            s->xss_protection->mode_block.value_or(false)) {
            report.add("/SecurityHeadersConfig/XSSProtection",
                       "ModeBlock and ReportUri cannot be combined");
        }
        if (s->xss_protection && !s->xss_protection->protection &&
            (s->xss_protection->mode_block.value_or(false) || s->xss_protection->report_uri)) {
            report.add("/SecurityHeadersConfig/XSSProtection",
                       "ModeBlock and ReportUri need Protection true");
        }
    }
    if (const auto& c = policy.cors_config) {
        if (c->access_control_allow_origins.empty()) {
            report.add("/CorsConfig/AccessControlAllowOrigins",
                       "list at least one origin or \"*\"");
        }
        if (c->access_control_allow_methods.empty()) {
            report.add("/CorsConfig/AccessControlAllowMethods", "list at least one method or ALL");
        }
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < policy.custom_headers.size(); ++i) {
        if (!names.insert(lower(policy.custom_headers[i].header)).second) {
            report.add(pointer_append("/CustomHeadersConfig/Items", i) + "/Header",
                       "header \"{}\" is set twice", policy.custom_headers[i].header);
        }
    }
    return problems;
}

namespace {

// Names WAF accepts for web ACLs, rules and metrics: letters, digits, '_' and '-'.
bool is_waf_name(std::string_view name, std::size_t max_length) {
    return !name.empty() && name.size() <= max_length &&
           std::all_of(name.begin(), name.end(),
                       [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

void check_visibility(Report& report, const std::string& path, const waf::VisibilityConfig& v) {
    const auto& m = v.metric_name;
    const bool ok = !m.empty() && m.size() <= 255 && std::all_of(m.begin(), m.end(), [](char c) {
        return is_alnum(c) || std::string_view("_#:.-/").find(c) != std::string_view::npos;
    });
    if (!ok) {
        report.add(pointer_append(path, "MetricName"),
                   "MetricName \"{}\" must be 1-255 characters of A-Z a-z 0-9 _ # : . - /", m);
    }
}

}  // namespace

std::vector<Problem> validate(const waf::WebAcl& acl) {
    std::vector<Problem> problems;
    Report report(problems);
    if (!is_waf_name(acl.name, 128)) {
        report.add("/Name", "Name \"{}\" must be 1-128 characters of A-Z a-z 0-9 _ -", acl.name);
    }
    if (acl.default_action != waf::Action::allow && acl.default_action != waf::Action::block) {
        report.add("/DefaultAction", "the default action is Allow or Block, not {}",
                   waf::to_string(acl.default_action));
    }
    check_visibility(report, "/VisibilityConfig", acl.visibility_config);
    std::set<std::string> names;
    std::set<int> priorities;
    for (std::size_t i = 0; i < acl.rules.size(); ++i) {
        const auto& rule = acl.rules[i];
        const auto path = pointer_append("/Rules", i);
        if (!is_waf_name(rule.name, 128)) {
            report.add(pointer_append(path, "Name"),
                       "Name \"{}\" must be 1-128 characters of "
                       "A-Z a-z 0-9 _ -",
                       rule.name);
        }
        if (!names.insert(rule.name).second) {
            report.add(pointer_append(path, "Name"), "rule name \"{}\" is used twice", rule.name);
        }
        if (rule.priority < 0) {
            report.add(pointer_append(path, "Priority"), "Priority must not be negative");
        } else if (!priorities.insert(rule.priority).second) {
            report.add(pointer_append(path, "Priority"),
                       "priority {} is used twice; each rule needs its own", rule.priority);
        }
        const auto& st = rule.statement;
        const int statements =
            (st.rate_based_statement ? 1 : 0) + (st.managed_rule_group_statement ? 1 : 0);
        if (statements != 1) {
            report.add(pointer_append(path, "Statement"), "set exactly one statement per rule");
        }
        if (st.managed_rule_group_statement) {
            const auto& group = *st.managed_rule_group_statement;
            const auto group_path = path + "/Statement/ManagedRuleGroupStatement";
            if (!group.excluded_rules.empty()) {
                report.add(group_path + "/ExcludedRules",
                           "ExcludedRules is deprecated; use RuleActionOverrides with ActionToUse "
                           "Count for each rule to exclude");
            }
            std::set<std::string> overridden;
            for (std::size_t o = 0; o < group.rule_action_overrides.size(); ++o) {
                const auto& name = group.rule_action_overrides[o].name;
                if (name.empty() || !overridden.insert(name).second) {
                    report.add(pointer_append(group_path + "/RuleActionOverrides", o) + "/Name",
                               "each override names a different rule of the group");
                }
            }
            if (group.rule_action_overrides.size() > 100) {
                report.add(group_path + "/RuleActionOverrides",
                           "at most 100 rule action overrides");
            }
            if (rule.action || !rule.override_action) {
                report.add(path,
                           "a rule group statement takes OverrideAction (None to keep the "
                           "group's actions), not Action");
            }
            if (st.managed_rule_group_statement->name.empty() ||
                st.managed_rule_group_statement->vendor_name.empty()) {
                report.add(path + "/Statement/ManagedRuleGroupStatement",
                           "VendorName and Name are required, e.g. AWS and "
                           "AWSManagedRulesSQLiRuleSet");
            }
        } else if (statements == 1 && (!rule.action || rule.override_action)) {
            report.add(path,
                       "a plain statement takes Action (Block, Allow, Count, Captcha or "
                       "Challenge), not OverrideAction");
        }
        if (st.rate_based_statement && (st.rate_based_statement->limit < waf::kMinRateLimit ||
                                        st.rate_based_statement->limit > waf::kMaxRateLimit)) {
            report.add(path + "/Statement/RateBasedStatement/Limit",
                       "Limit {} is outside {}-{} requests per 5 minutes",
                       st.rate_based_statement->limit, waf::kMinRateLimit, waf::kMaxRateLimit);
        }
        check_visibility(report, pointer_append(path, "VisibilityConfig"), rule.visibility_config);
    }
    return problems;
}

std::vector<Problem> validate(const MetricAlarm& alarm) {
    std::vector<Problem> problems;
    Report report(problems);
    if (alarm.alarm_name.empty() || alarm.alarm_name.size() > 255) {
        report.add("/AlarmName", "AlarmName must be 1-255 characters");
    }
    for (auto [name, actions] :
         {std::pair{"OKActions", &alarm.ok_actions},
          std::pair{"AlarmActions", &alarm.alarm_actions},
          std::pair{"InsufficientDataActions", &alarm.insufficient_data_actions}}) {
        if (actions->size() > 5) {
            report.add(std::string("/") + name, "{} has {} actions; CloudWatch allows 5", name,
                       actions->size());
        }
    }
    if (alarm.evaluation_periods < 1) {
        report.add("/EvaluationPeriods", "EvaluationPeriods must be at least 1");
    }
    if (alarm.datapoints_to_alarm &&
        (*alarm.datapoints_to_alarm < 1 || *alarm.datapoints_to_alarm > alarm.evaluation_periods)) {
        report.add("/DatapointsToAlarm", "DatapointsToAlarm {} must be 1-{} (EvaluationPeriods)",
                   *alarm.datapoints_to_alarm, alarm.evaluation_periods);
    }
    if (alarm.statistic.has_value() == alarm.extended_statistic.has_value()) {
        report.add("", "set exactly one of Statistic and ExtendedStatistic (e.g. p90)");
    }
    if (alarm.period) {
        const int p = *alarm.period;
        if (p != 10 && p != 30 && (p < 60 || p % 60 != 0)) {
            report.add("/Period", "Period {} must be 10, 30 or a multiple of 60 seconds", p);
        }
    }
    if (!alarm.threshold) {
        report.add("/Threshold", "a static alarm needs a Threshold");
    }
    if (alarm.dimensions.size() > 30) {
        report.add("/Dimensions", "{} dimensions; CloudWatch allows 30", alarm.dimensions.size());
    }
    if (alarm.metric_namespace == kCloudFrontMetricNamespace) {
        const bool global = std::any_of(
            alarm.dimensions.begin(), alarm.dimensions.end(),
            [](const Dimension& d) { return d.name == "Region" && d.value == "Global"; });
        const bool distribution = std::any_of(
            alarm.dimensions.begin(), alarm.dimensions.end(),
            [](const Dimension& d) { return d.name == "DistributionId" && !d.value.empty(); });
        if (!global || !distribution) {
            report.add("/Dimensions",
                       "CloudFront metrics carry the dimensions DistributionId and Region=Global; "
                       "without both the alarm never sees data");
        }
    }
    return problems;
}

namespace {

// One numeric limit of an AWS model: checked from a table rather than one `if` each.
struct Limit {
    const char* path;  // JSON pointer of the member
    std::optional<std::int64_t> value;
    std::int64_t min;
    std::int64_t max;
};

void check_limits(Report& report, std::initializer_list<Limit> limits) {
    for (const auto& l : limits) {
        if (l.value && (*l.value < l.min || *l.value > l.max)) {
            report.add(l.path, "{} is {}; AWS accepts {}-{}", std::string_view(l.path).substr(1),
                       *l.value, l.min, l.max);
        }
    }
}

// A text member's length in characters, `min`-`max`.
void check_length(Report& report, const std::string& path, std::string_view name,
                  std::string_view text, std::size_t min, std::size_t max) {
    const auto n = characters(text);
    if (n < min || n > max) {
        report.add(path, "{} has {} characters; it must have {}-{}", name, n, min, max);
    }
}

// Names CloudFront gives field-level encryption resources: 1-128 of [A-Za-z0-9_-].
void check_fle_name(Report& report, const std::string& path, std::string_view name,
                    std::string_view text) {
    if (text.empty() || text.size() > 128 || !std::all_of(text.begin(), text.end(), [](char c) {
            return is_alnum(c) || c == '-' || c == '_';
        })) {
        report.add(path, "{} \"{}\" must be 1-128 letters, digits, hyphens and underscores", name,
                   text);
    }
}

// Name, CallerReference and Comment of a field-level encryption profile or public key.
void check_fle_identity(Report& report, std::string_view name, std::string_view caller_reference,
                        const std::optional<std::string>& comment) {
    check_fle_name(report, "/Name", "Name", name);
    check_length(report, "/CallerReference", "CallerReference", caller_reference, 1, 128);
    if (comment) {
        check_length(report, "/Comment", "Comment", *comment, 0, 128);
    }
}

// Whether some field name matches both patterns (a trailing `*` matches any rest).
bool patterns_overlap(std::string_view a, std::string_view b) {
    const bool wild_a = a.ends_with('*');
    const bool wild_b = b.ends_with('*');
    const auto stem_a = wild_a ? a.substr(0, a.size() - 1) : a;
    const auto stem_b = wild_b ? b.substr(0, b.size() - 1) : b;
    if (wild_a && wild_b) {
        return stem_a.starts_with(stem_b) || stem_b.starts_with(stem_a);
    }
    if (wild_a) {
        return b.starts_with(stem_a);
    }
    if (wild_b) {
        return a.starts_with(stem_b);
    }
    return a == b;
}

}  // namespace

std::vector<Problem> validate_field_patterns(const std::vector<std::string>& patterns) {
    std::vector<Problem> problems;
    Report report(problems);
    if (patterns.empty()) {
        report.add("", "name at least one field pattern");
    }
    if (patterns.size() > 10) {
        report.add("", "{} field patterns; CloudFront allows 10 per profile", patterns.size());
    }
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        const auto& f = patterns[i];
        const auto at = fmt::format("/{}", i);
        if (f.empty() || f.size() > 128) {
            report.add(at, "field pattern \"{}\" must be 1-128 characters", f);
        } else if (!std::all_of(f.begin(), f.end(), [](char c) {
                       return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '*';
                   })) {
            report.add(at,
                       "field pattern \"{}\" may hold only letters, digits, '-', '_', '.' "
                       "and a final '*'",
                       f);
        } else if (f.find('*') != std::string::npos && f.find('*') + 1 != f.size()) {
            report.add(at, "field pattern \"{}\": '*' may only end a pattern", f);
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (patterns[j] == f) {
                report.add(at, "field pattern \"{}\" is listed twice (also item {})", f, j);
            } else if (patterns_overlap(patterns[j], f)) {
                report.add(at,
                           "field pattern \"{}\" overlaps \"{}\" (item {}): CloudFront refuses "
                           "patterns that match the same field",
                           f, patterns[j], j);
            }
        }
    }
    return problems;
}

std::vector<Problem> validate(const FieldLevelEncryptionProfileConfig& profile) {
    std::vector<Problem> problems;
    Report report(problems);
    check_fle_identity(report, profile.name, profile.caller_reference, profile.comment);
    if (profile.encryption_entities.empty()) {
        report.add("/EncryptionEntities", "a profile needs at least one encryption entity");
    }
    std::vector<std::string> all;
    std::vector<std::string> where;
    for (std::size_t i = 0; i < profile.encryption_entities.size(); ++i) {
        const auto& e = profile.encryption_entities[i];
        const auto at = fmt::format("/EncryptionEntities/Items/{}", i);
        if (e.public_key_id.empty()) {
            report.add(at + "/PublicKeyId", "PublicKeyId is empty");
        }
        check_fle_name(report, at + "/ProviderId", "ProviderId", e.provider_id);
        if (e.field_patterns.empty()) {
            report.add(at + "/FieldPatterns", "name at least one field pattern");
        }
        for (std::size_t j = 0; j < e.field_patterns.size(); ++j) {
            all.push_back(e.field_patterns[j]);
            where.push_back(fmt::format("{}/FieldPatterns/Items/{}", at, j));
        }
    }
    for (auto p : validate_field_patterns(all)) {
        if (p.path.empty()) {
            if (all.empty()) {
                continue;  // reported per entity
            }
            p.path = "/EncryptionEntities";
        } else {
            p.path = where.at(std::stoul(p.path.substr(1)));
        }
        problems.push_back(std::move(p));
    }
    return problems;
}

std::vector<Problem> validate(const FieldLevelEncryptionConfig& config) {
    std::vector<Problem> problems;
    Report report(problems);
    check_length(report, "/CallerReference", "CallerReference", config.caller_reference, 1, 128);
    if (config.comment) {
        check_length(report, "/Comment", "Comment", *config.comment, 0, 128);
    }
    if (config.query_arg_profile_config) {
        const auto& q = config.query_arg_profile_config->query_arg_profiles;
        if (q.size() > 10) {
            report.add("/QueryArgProfileConfig/QueryArgProfiles",
                       "{} query argument profiles; CloudFront allows 10", q.size());
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < q.size(); ++i) {
            const auto at = fmt::format("/QueryArgProfileConfig/QueryArgProfiles/Items/{}", i);
            if (!seen.insert(q[i].query_arg).second) {
                report.add(at + "/QueryArg", "query argument \"{}\" is listed twice",
                           q[i].query_arg);
            }
            if (q[i].profile_id.empty()) {
                report.add(at + "/ProfileId", "ProfileId is empty");
            }
        }
    }
    if (config.content_type_profile_config) {
        const auto& c = config.content_type_profile_config->content_type_profiles;
        if (c.size() > 10) {
            report.add("/ContentTypeProfileConfig/ContentTypeProfiles",
                       "{} content type profiles; CloudFront allows 10", c.size());
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < c.size(); ++i) {
            if (!seen.insert(lower(c[i].content_type)).second) {
                report.add(
                    fmt::format(
                        "/ContentTypeProfileConfig/ContentTypeProfiles/Items/{}/ContentType", i),
                    "content type \"{}\" is listed twice", c[i].content_type);
            }
        }
    }
    return problems;
}

std::vector<Problem> validate(const PublicKeyConfig& key) {
    std::vector<Problem> problems;
    Report report(problems);
    check_fle_identity(report, key.name, key.caller_reference, key.comment);
    try {
        detail::check_rsa_public_key_pem(key.encoded_key, "EncodedKey", 2048, true);
    } catch (const std::invalid_argument& e) {
        report.add("/EncodedKey", "{} (CloudFront takes an RSA 2048 public key)", e.what());
    }
    return problems;
}

std::vector<Problem> validate(const OriginAccessControlConfig& oac) {
    std::vector<Problem> problems;
    Report report(problems);
    check_length(report, "/Name", "Name", oac.name, 1, 64);
    if (oac.description) {
        check_length(report, "/Description", "Description", *oac.description, 0, 256);
    }
    return problems;
}

std::vector<Problem> validate(const RealtimeLogConfig& config) {
    std::vector<Problem> problems;
    Report report(problems);
    check_length(report, "/Name", "Name", config.name, 1, 128);
    check_limits(report, {{"/SamplingRate", config.sampling_rate, 1, 100}});
    if (config.end_points.size() != 1) {
        report.add("/EndPoints", "a real-time log configuration has exactly one end point, not {}",
                   config.end_points.size());
    }
    if (config.fields.empty()) {
        report.add("/Fields", "name at least one field");
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < config.fields.size(); ++i) {
        if (!seen.insert(config.fields[i]).second) {
            report.add(fmt::format("/Fields/{}", i), "field \"{}\" is listed twice",
                       config.fields[i]);
        }
        const auto& known = realtime_log_fields();
        if (std::find(known.begin(), known.end(), config.fields[i]) == known.end()) {
            report.add(fmt::format("/Fields/{}", i),
                       "\"{}\" is not a field CloudFront's real-time logs have", config.fields[i]);
        }
    }
    return problems;
}

std::vector<Problem> validate(const EdgeFunction& function) {
    std::vector<Problem> problems;
    Report report(problems);
    check_length(report, "/FunctionName", "FunctionName", function.function_name, 1, 140);
    if (function.description) {
        check_length(report, "/Description", "Description", *function.description, 0, 256);
    }
    check_limits(report, {{"/Timeout", function.timeout, 1, 900},
                          {"/MemorySize", function.memory_size, 128, 10240}});
    return problems;
}

}  // namespace sparc::cdn
