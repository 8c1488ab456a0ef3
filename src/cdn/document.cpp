// Checking a document of any kind `sparc-cdn render` writes, tolerating what newer AWS API
// releases added.

#include <sparc/cdn/document.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

#include "detail/json_io.hpp"

namespace sparc::cdn {

namespace {

using nlohmann::json;

// A JsonError's message without its pointer prefix.
std::string message_of(const JsonError& e) {
    std::string_view text = e.what();
    const auto prefix = e.pointer() + ": ";
    if (!e.pointer().empty() && text.starts_with(prefix)) {
        text.remove_prefix(prefix.size());
    }
    return std::string(text);
}

// Reads `doc` (found at `base` in the document) as T. A member or enumeration value the
// library does not know is recorded in `newer` and removed, and reading starts again; an
// unknown value in a required member stays an error (nothing can stand in for it).
template <class T>
T read_tolerant(json doc, const std::string& base, std::vector<Problem>& newer) {
    std::optional<JsonError> removed;
    for (int attempt = 0;; ++attempt) {
        try {
            return doc.get<T>();
        } catch (const JsonError& e) {
            if (removed && e.pointer() == removed->pointer()) {
                throw JsonError(base + removed->pointer(),
                                fmt::format("{} (newer than this library, and required here)",
                                            message_of(*removed)));
            }
            if (e.kind() == JsonError::Kind::shape || attempt > 1000 || e.pointer().empty()) {
                throw JsonError(base + e.pointer(), message_of(e));
            }
            try {
                const json::json_pointer at(e.pointer());
                json& parent = doc.at(at.parent_pointer());
                const auto& last = at.back();
                if (parent.is_object()) {
                    parent.erase(last);
                } else {
                    parent.erase(std::stoul(last));
                    // A CloudFront list: keep Quantity equal to the items left.
                    const auto wrapper = at.parent_pointer().parent_pointer();
                    if (auto& w = doc.at(wrapper); w.is_object() && w.contains("Quantity")) {
                        w["Quantity"] = parent.size();
                    }
                }
            } catch (const std::exception&) {
                // The pointer does not name a removable value: report the error as it is.
                throw JsonError(base + e.pointer(), message_of(e));
            }
            newer.push_back({base + e.pointer(),
                             fmt::format("{} (newer than this library? ignored)", message_of(e))});
            removed = e;
        }
    }
}

// The names `${Name}` and `${Name.Attribute}` of an Fn::Sub string refers to (`${!Literal}`
// is text).
std::vector<std::string> sub_references(std::string_view text) {
    std::vector<std::string> names;
    for (auto start = text.find("${"); start != std::string_view::npos;
         start = text.find("${", start)) {
        const auto end = text.find('}', start + 2);
        if (end == std::string_view::npos) {
            break;
        }
        const auto inside = text.substr(start + 2, end - start - 2);
        if (!inside.empty() && inside.front() != '!') {
            names.emplace_back(inside.substr(0, inside.find('.')));
        }
        start = end + 1;
    }
    return names;
}

// Every Ref / Fn::GetAtt / Fn::Sub / DependsOn target of a template names a resource, a
// parameter or a pseudo parameter (or, in Fn::Sub, one of its own variables).
void check_template(const json& t, std::vector<Problem>& problems) {
    if (!t.contains("Resources") || !t.at("Resources").is_object() || t.at("Resources").empty()) {
        problems.push_back({"/Resources", "a template needs at least one resource"});
        return;
    }
    std::set<std::string> known;
    for (const auto& [id, r] : t.at("Resources").items()) {
        known.insert(id);
        if (!r.is_object() || !r.contains("Type") || !r.at("Type").is_string()) {
            problems.push_back({"/Resources/" + id + "/Type", "every resource needs a Type"});
        }
    }
    if (t.contains("Parameters") && t.at("Parameters").is_object()) {
        for (const auto& [id, p] : t.at("Parameters").items()) {
            known.insert(id);
        }
    }
    const auto check = [&](const std::string& target, const std::string& at,
                           const json* variables = nullptr) {
        if (!target.empty() && !target.starts_with("AWS::") && !known.contains(target) &&
            (variables == nullptr || !variables->contains(target))) {
            problems.push_back(
                {at, fmt::format("refers to \"{}\", which the template does not define", target)});
        }
    };
    std::function<void(const json&, const std::string&)> walk = [&](const json& node,
                                                                    const std::string& path) {
        if (node.is_object()) {
            for (const auto& [key, value] : node.items()) {
                const auto at = path + "/" + key;
                if (key == "Ref" && value.is_string()) {
                    check(value.get<std::string>(), at);
                } else if (key == "Fn::GetAtt" && value.is_array() && !value.empty() &&
                           value.at(0).is_string()) {
                    check(value.at(0).get<std::string>(), at);
                } else if (key == "Fn::GetAtt" && value.is_string()) {
                    const auto& text = value.get_ref<const std::string&>();
                    check(text.substr(0, text.find('.')), at);
                } else if (key == "Fn::Sub" && value.is_string()) {
                    for (const auto& name : sub_references(value.get<std::string>())) {
                        check(name, at);
                    }
                } else if (key == "Fn::Sub" && value.is_array() && !value.empty() &&
                           value.at(0).is_string()) {
                    const auto* variables =
                        value.size() > 1 && value.at(1).is_object() ? &value.at(1) : nullptr;
                    for (const auto& name : sub_references(value.at(0).get<std::string>())) {
                        check(name, at, variables);
                    }
                }
                walk(value, at);
            }
        } else if (node.is_array()) {
            for (std::size_t i = 0; i < node.size(); ++i) {
                walk(node.at(i), fmt::format("{}/{}", path, i));
            }
        }
    };
    for (const auto& [id, r] : t.at("Resources").items()) {
        if (!r.is_object() || !r.contains("DependsOn")) {
            continue;
        }
        const auto& on = r.at("DependsOn");
        const auto at = "/Resources/" + id + "/DependsOn";
        const auto depends_on = [&](const json& name, const std::string& where) {
            if (name.is_string() && !t.at("Resources").contains(name.get<std::string>())) {
                problems.push_back({where, fmt::format("depends on \"{}\", which is not a resource "
                                                       "of the template",
                                                       name.get<std::string>())});
            }
        };
        if (on.is_array()) {
            for (std::size_t i = 0; i < on.size(); ++i) {
                depends_on(on.at(i), fmt::format("{}/{}", at, i));
            }
        } else {
            depends_on(on, at);
        }
    }
    walk(t.at("Resources"), "/Resources");
    if (t.contains("Outputs")) {
        walk(t.at("Outputs"), "/Outputs");
    }
}

// Whether `problem_path` is where a removed value was, or the list it was an item of: a
// problem there (a required member missing, a list left empty) is only the removal's
// consequence, and the unknown value is reported as itself instead.
bool caused_by_removal(const std::string& problem_path, const std::vector<Problem>& removed) {
    for (const auto& r : removed) {
        if (r.path == problem_path) {
            return true;
        }
        if (!r.path.starts_with(problem_path + "/")) {
            continue;
        }
        std::string_view rest = std::string_view(r.path).substr(problem_path.size() + 1);
        if (rest.starts_with("Items/")) {
            rest.remove_prefix(6);
        }
        if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string_view::npos) {
            return true;
        }
    }
    return false;
}

template <class T>
void check_as(const json& doc, const std::string& base, DocumentReport& report, bool validated) {
    const auto value = read_tolerant<T>(doc, base, report.newer);
    if (validated) {
        if constexpr (requires { validate(value); }) {
            for (auto p : validate(value)) {
                p.path = base + p.path;
                if (!caused_by_removal(p.path, report.newer)) {
                    report.problems.push_back(std::move(p));
                }
            }
        }
    }
}

// ---- resources of a CloudFormation template ------------------------------------------------

// A `Ref` or `Fn::*` value stands for whatever CloudFormation computes: a placeholder, which
// the validators accept where a name or ARN goes.
json without_intrinsics(const json& node) {
    if (node.is_object()) {
        if (node.size() == 1) {
            const auto& key = node.begin().key();
            if (key == "Ref" || key.starts_with("Fn::")) {
                return placeholder(key);
            }
        }
        json out = json::object();
        for (const auto& [key, value] : node.items()) {
            out[key] = without_intrinsics(value);
        }
        return out;
    }
    if (node.is_array()) {
        json out = json::array();
        for (const auto& item : node) {
            out.push_back(without_intrinsics(item));
        }
        return out;
    }
    return node;
}

// CloudFormation's member names that differ from the API's.
const std::map<std::string, std::string, std::less<>>& cloudformation_renames() {
    static const std::map<std::string, std::string, std::less<>> renames = {
        {"IPV6Enabled", "IsIPV6Enabled"},
        {"OriginSSLProtocols", "OriginSslProtocols"},
        {"OriginCustomHeaders", "CustomHeaders"},
        {"AcmCertificateArn", "ACMCertificateArn"},
        {"SslSupportMethod", "SSLSupportMethod"},
        {"RoleArn", "RoleARN"},
        {"StreamArn", "StreamARN"},
        {"IamCertificateId", "IAMCertificateId"}};
    return renames;
}

// The API form of a CloudFront resource's CloudFormation properties: renamed members, and
// (with `wrap`) bare arrays as `{"Quantity", "Items"}`; CachedMethods goes back inside
// AllowedMethods.
json api_from_cloudformation(const json& node, bool wrap) {
    if (node.is_array()) {
        json out = json::array();
        for (const auto& item : node) {
            out.push_back(api_from_cloudformation(item, wrap));
        }
        return out;
    }
    if (!node.is_object()) {
        return node;
    }
    json out = json::object();
    for (const auto& [key, value] : node.items()) {
        const auto renamed = cloudformation_renames().find(key);
        const auto name = renamed == cloudformation_renames().end() ? key : renamed->second;
        auto converted = api_from_cloudformation(value, wrap);
        if (wrap && value.is_array() && key != "Items") {
            converted = json{{"Quantity", converted.size()}, {"Items", converted}};
        }
        out[name] = std::move(converted);
    }
    if (!wrap) {
        return out;
    }
    // Lists CloudFormation writes under another name, or leaves out when empty.
    if (auto geo = out.find("GeoRestriction"); geo != out.end() && geo->is_object()) {
        if (auto locations = geo->find("Locations"); locations != geo->end()) {
            json list = *locations;
            geo->erase(locations);
            geo->update(list);
        }
        geo->emplace("Quantity", 0);
    }
    for (const char* name : {"TrustedSigners", "TrustedKeyGroups"}) {
        if (auto it = out.find(name); it != out.end() && it->is_object()) {
            it->emplace("Enabled", it->value("Quantity", 0) > 0);
        }
    }
    if (wrap && out.contains("Items") && out.at("Items").is_array() && !out.contains("Quantity")) {
        out["Quantity"] = out.at("Items").size();
    }
    if (out.contains("CachedMethods") && out.contains("AllowedMethods") &&
        out.at("AllowedMethods").is_object()) {
        out["AllowedMethods"]["CachedMethods"] = out.at("CachedMethods");
        out.erase("CachedMethods");
    }
    return out;
}

// An API pointer as the template writes it: no `Items` level, CloudFormation's names.
std::string cloudformation_pointer(std::string_view api) {
    std::string out;
    std::size_t pos = 0;
    while (pos < api.size()) {
        const auto next = api.find('/', pos + 1);
        auto token = api.substr(pos + 1, next == std::string_view::npos ? next : next - pos - 1);
        pos = next == std::string_view::npos ? api.size() : next;
        if (token == "Items") {
            continue;
        }
        for (const auto& [cfn, api_name] : cloudformation_renames()) {
            if (token == api_name) {
                token = cfn;
            }
        }
        out += '/';
        out += token;
    }
    return out;
}

struct TemplateKind {
    std::string_view type;
    std::string_view property;  // the configuration member; empty: the properties themselves
    enum class Shapes { api, cloudformation, cloudformation_lists } shapes;
    void (*check)(const json&, const std::string&, DocumentReport&);
};

template <class T>
void check_resource_as(const json& doc, const std::string& base, DocumentReport& report) {
    check_as<T>(doc, base, report, true);
}

const std::array<TemplateKind, 12>& template_kinds() {
    using S = TemplateKind::Shapes;
    static const std::array<TemplateKind, 12> kinds{{
        {"AWS::CloudFront::Distribution", "DistributionConfig", S::cloudformation_lists,
         &check_resource_as<DistributionConfig>},
        {"AWS::CloudFront::CachePolicy", "CachePolicyConfig", S::cloudformation_lists,
         &check_resource_as<CachePolicyConfig>},
        {"AWS::CloudFront::OriginRequestPolicy", "OriginRequestPolicyConfig",
         S::cloudformation_lists, &check_resource_as<OriginRequestPolicyConfig>},
        {"AWS::CloudFront::ResponseHeadersPolicy", "ResponseHeadersPolicyConfig",
         S::cloudformation_lists, &check_resource_as<ResponseHeadersPolicyConfig>},
        {"AWS::CloudFront::RealtimeLogConfig", "", S::cloudformation,
         &check_resource_as<RealtimeLogConfig>},
        {"AWS::CloudFront::PublicKey", "PublicKeyConfig", S::api,
         &check_resource_as<PublicKeyConfig>},
        {"AWS::CloudFront::OriginAccessControl", "OriginAccessControlConfig", S::api,
         &check_resource_as<OriginAccessControlConfig>},
        {"Custom::FieldLevelEncryptionProfile", "FieldLevelEncryptionProfileConfig", S::api,
         &check_resource_as<FieldLevelEncryptionProfileConfig>},
        {"Custom::FieldLevelEncryptionConfig", "FieldLevelEncryptionConfig", S::api,
         &check_resource_as<FieldLevelEncryptionConfig>},
        {"AWS::WAFv2::WebACL", "", S::api, &check_resource_as<waf::WebAcl>},
        {"AWS::CloudWatch::Alarm", "", S::api, &check_resource_as<MetricAlarm>},
        {"AWS::Lambda::Function", "", S::api, &check_resource_as<EdgeFunction>},
    }};
    return kinds;
}

// Whether `type` is shaped like a resource type: AWS::Service::Resource (or another vendor's
// three parts, or a module's ::MODULE), or Custom::Name.
bool is_resource_type(const std::string& type) {
    static const std::regex kType(
        R"((Custom::[A-Za-z0-9_@-]{1,60})|([A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+(::MODULE)?))");
    return std::regex_match(type, kType);
}

void check_template_resources(const json& t, DocumentReport& report) {
    if (!t.contains("Resources") || !t.at("Resources").is_object()) {
        return;
    }
    for (const auto& [id, r] : t.at("Resources").items()) {
        if (!r.is_object() || !r.contains("Type") || !r.at("Type").is_string()) {
            continue;
        }
        const auto type = r.at("Type").get<std::string>();
        const auto at = detail::pointer_append("/Resources", id);
        if (!is_resource_type(type)) {
            report.problems.push_back(
                {at + "/Type", fmt::format("\"{}\" is not a resource type: expected "
                                           "AWS::Service::Resource or Custom::Name",
                                           type)});
            continue;
        }
        const auto kind = std::find_if(template_kinds().begin(), template_kinds().end(),
                                       [&](const TemplateKind& k) { return k.type == type; });
        if (kind == template_kinds().end()) {
            report.notes.push_back({at, fmt::format("{} not checked (no validator)", type)});
            continue;
        }
        if (!r.contains("Properties") || !r.at("Properties").is_object()) {
            report.problems.push_back({at + "/Properties", "a " + type + " needs Properties"});
            continue;
        }
        json doc = r.at("Properties");
        std::string base = at + "/Properties";
        if (!kind->property.empty()) {
            if (!doc.contains(kind->property)) {
                report.problems.push_back(
                    {base, fmt::format("a {} needs {}", type, kind->property)});
                continue;
            }
            doc = json(doc.at(kind->property));
            base = detail::pointer_append(base, kind->property);
        } else {
            doc.erase("Tags");  // CloudFormation's own, checked by it
        }
        // What CloudFormation fills in itself: generated names, the uploaded package.
        if (type == "AWS::Lambda::Function") {
            doc["Code"] = {{"S3Bucket", placeholder("package")}, {"S3Key", placeholder("package")}};
            if (!doc.contains("FunctionName")) {
                doc["FunctionName"] = placeholder("generated");
            }
            doc.emplace("Publish", false);  // an AWS::Lambda::Version publishes
        }
        if (type == "AWS::CloudWatch::Alarm" && !doc.contains("AlarmName")) {
            doc["AlarmName"] = placeholder("generated");
        }
        doc = without_intrinsics(doc);
        const bool cfn = kind->shapes != TemplateKind::Shapes::api;
        if (cfn) {
            doc = api_from_cloudformation(
                doc, kind->shapes == TemplateKind::Shapes::cloudformation_lists);
            if (type == "AWS::CloudFront::Distribution") {
                if (!doc.contains("CallerReference")) {
                    doc["CallerReference"] = placeholder("stack");  // the stack is the caller
                }
                // CloudFormation's Logging is enabled by being there; the rest defaults.
                if (auto it = doc.find("Logging"); it != doc.end() && it->is_object()) {
                    it->emplace("Enabled", true);
                    it->emplace("IncludeCookies", false);
                    it->emplace("Prefix", "");
                }
            }
        }
        const auto problems_before = report.problems.size();
        const auto newer_before = report.newer.size();
        try {
            kind->check(doc, base, report);
        } catch (const JsonError& e) {
            // What the API would require may be optional (defaulted) in CloudFormation.
            report.notes.push_back(
                {cfn ? base + cloudformation_pointer(
                                  std::string_view(e.pointer())
                                      .substr(std::min(base.size(), e.pointer().size())))
                     : e.pointer(),
                 fmt::format("{} not checked: {}", type, message_of(e))});
            continue;
        }
        if (cfn) {
            const auto relocate = [&](std::vector<Problem>& list, std::size_t from) {
                for (auto i = from; i < list.size(); ++i) {
                    auto& path = list[i].path;
                    if (path.starts_with(base)) {
                        path = base +
                               cloudformation_pointer(std::string_view(path).substr(base.size()));
                    }
                }
            };
            relocate(report.problems, problems_before);
            relocate(report.newer, newer_before);
        }
    }
}

// DependsOn on itself, and cycles through DependsOn and references.
void check_template_dependencies(const json& t, std::vector<Problem>& problems) {
    if (!t.contains("Resources") || !t.at("Resources").is_object()) {
        return;
    }
    const auto& resources = t.at("Resources");
    std::map<std::string, std::set<std::string>> edges;
    std::function<void(const json&, std::set<std::string>&)> refs =
        [&](const json& node, std::set<std::string>& out) {
            if (node.is_object()) {
                for (const auto& [key, value] : node.items()) {
                    if (key == "Ref" && value.is_string()) {
                        out.insert(value.get<std::string>());
                    } else if (key == "Fn::GetAtt" && value.is_array() && !value.empty() &&
                               value.at(0).is_string()) {
                        out.insert(value.at(0).get<std::string>());
                    } else if (key == "Fn::GetAtt" && value.is_string()) {
                        const auto& text = value.get_ref<const std::string&>();
                        out.insert(text.substr(0, text.find('.')));
                    } else if (key == "Fn::Sub" &&
                               (value.is_string() ||
                                (value.is_array() && !value.empty() && value.at(0).is_string()))) {
                        const auto& text = value.is_string() ? value : value.at(0);
                        for (const auto& name : sub_references(text.get<std::string>())) {
                            out.insert(name);
                        }
                    }
                    refs(value, out);
                }
            } else if (node.is_array()) {
                for (const auto& item : node) {
                    refs(item, out);
                }
            }
        };
    for (const auto& entry : resources.items()) {
        // Named, not a structured binding: the lambdas below capture it.
        const std::string& id = entry.key();
        const auto& r = entry.value();
        auto& out = edges[id];
        if (!r.is_object()) {
            continue;
        }
        if (r.contains("DependsOn")) {
            const auto& on = r.at("DependsOn");
            const auto add = [&](const json& name, const std::string& where) {
                if (!name.is_string()) {
                    return;
                }
                if (name.get<std::string>() == id) {
                    problems.push_back({where, "a resource cannot depend on itself"});
                } else {
                    out.insert(name.get<std::string>());
                }
            };
            const auto at = detail::pointer_append("/Resources", id) + "/DependsOn";
            if (on.is_array()) {
                for (std::size_t i = 0; i < on.size(); ++i) {
                    add(on.at(i), fmt::format("{}/{}", at, i));
                }
            } else {
                add(on, at);
            }
        }
        std::set<std::string> referenced;
        if (r.contains("Properties")) {
            refs(r.at("Properties"), referenced);
        }
        referenced.erase(id);
        for (const auto& name : referenced) {
            if (resources.contains(name)) {
                out.insert(name);
            }
        }
    }
    // Depth-first search; a back edge closes a cycle, reported once at its first resource.
    std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
    std::vector<std::string> stack;
    std::set<std::set<std::string>> reported;
    std::function<void(const std::string&)> visit = [&](const std::string& id) {
        state[id] = 1;
        stack.push_back(id);
        for (const auto& next : edges[id]) {
            if (!edges.contains(next)) {
                continue;
            }
            if (state[next] == 1) {
                const auto start = std::find(stack.begin(), stack.end(), next);
                std::set<std::string> members(start, stack.end());
                if (reported.insert(members).second) {
                    std::string chain;
                    for (auto it = start; it != stack.end(); ++it) {
                        chain += *it + " -> ";
                    }
                    problems.push_back({detail::pointer_append("/Resources", next),
                                        fmt::format("circular dependency: {}{} (through "
                                                    "DependsOn and references)",
                                                    chain, next)});
                }
            } else if (state[next] == 0) {
                visit(next);
            }
        }
        stack.pop_back();
        state[id] = 2;
    };
    for (const auto& [id, next] : edges) {
        if (state[id] == 0) {
            visit(id);
        }
    }
}

}  // namespace

DistributionConfig read_distribution_config(const json& document, std::vector<Problem>& ignored) {
    if (document.is_object() && document.contains("DistributionConfig")) {
        for (const auto& [key, value] : document.items()) {
            if (key != "DistributionConfig" && key != "ETag") {
                throw JsonError(detail::pointer_append("", key),
                                fmt::format("unknown member \"{}\" next to DistributionConfig; "
                                            "expected only DistributionConfig and ETag",
                                            key));
            }
        }
        return read_tolerant<DistributionConfig>(document.at("DistributionConfig"),
                                                 "/DistributionConfig", ignored);
    }
    if (!document.is_object()) {
        throw JsonError("", "expected a JSON object");
    }
    return read_tolerant<DistributionConfig>(document, "", ignored);
}

DocumentReport check_document(const json& document, bool strict) {
    if (!document.is_object()) {
        throw JsonError("", "expected a JSON object");
    }
    DocumentReport report;
    // `get-*-config` output: {"ETag": ..., "XConfig": {...}}; create-* input: {"XConfig": ...}.
    json body = document;
    body.erase("ETag");
    const auto wrapped = [&](const char* name) { return body.size() == 1 && body.contains(name); };
    const auto has = [&](std::initializer_list<const char*> names) {
        for (const auto* n : names) {
            if (!body.contains(n)) {
                return false;
            }
        }
        return true;
    };
    const auto inner = [&](const char* name) {
        report.kind = name;
        return std::pair<const json&, std::string>(body.at(name), std::string("/") + name);
    };
    if (wrapped("DistributionConfig")) {
        auto [d, base] = inner("DistributionConfig");
        check_as<DistributionConfig>(d, base, report, true);
    } else if (wrapped("CachePolicyConfig")) {
        auto [d, base] = inner("CachePolicyConfig");
        check_as<CachePolicyConfig>(d, base, report, true);
    } else if (wrapped("OriginRequestPolicyConfig")) {
        auto [d, base] = inner("OriginRequestPolicyConfig");
        check_as<OriginRequestPolicyConfig>(d, base, report, true);
    } else if (wrapped("ResponseHeadersPolicyConfig")) {
        auto [d, base] = inner("ResponseHeadersPolicyConfig");
        check_as<ResponseHeadersPolicyConfig>(d, base, report, true);
    } else if (wrapped("OriginAccessControlConfig")) {
        auto [d, base] = inner("OriginAccessControlConfig");
        check_as<OriginAccessControlConfig>(d, base, report, true);
    } else if (wrapped("CloudFrontOriginAccessIdentityConfig")) {
        auto [d, base] = inner("CloudFrontOriginAccessIdentityConfig");
        check_as<OriginAccessIdentityConfig>(d, base, report, false);
    } else if (wrapped("PublicKeyConfig")) {
        auto [d, base] = inner("PublicKeyConfig");
        check_as<PublicKeyConfig>(d, base, report, true);
    } else if (wrapped("FieldLevelEncryptionProfileConfig")) {
        auto [d, base] = inner("FieldLevelEncryptionProfileConfig");
        check_as<FieldLevelEncryptionProfileConfig>(d, base, report, true);
    } else if (wrapped("FieldLevelEncryptionConfig")) {
        auto [d, base] = inner("FieldLevelEncryptionConfig");
        check_as<FieldLevelEncryptionConfig>(d, base, report, true);
    } else if (has({"Resources"}) || has({"AWSTemplateFormatVersion"})) {
        report.kind = "CloudFormation template";
        check_template(body, report.problems);
        check_template_dependencies(body, report.problems);
        check_template_resources(body, report);
    } else if (has({"Origins", "DefaultCacheBehavior"})) {
        report.kind = "DistributionConfig";
        check_as<DistributionConfig>(body, "", report, true);
    } else if (has({"DistributionId", "MonitoringSubscription"})) {
        report.kind = "MonitoringSubscription";
        check_as<MonitoringSubscription>(body, "", report, false);
    } else if (has({"EndPoints", "SamplingRate"})) {
        report.kind = "RealtimeLogConfig";
        check_as<RealtimeLogConfig>(body, "", report, true);
    } else if (has({"Scope", "DefaultAction"})) {
        report.kind = "WebACL";
        check_as<waf::WebAcl>(body, "", report, true);
    } else if (has({"AlarmName"})) {
        report.kind = "MetricAlarm";
        check_as<MetricAlarm>(body, "", report, true);
    } else if (has({"FunctionName", "Code"})) {
        report.kind = "Lambda function";
        check_as<EdgeFunction>(body, "", report, true);
    } else {
        throw JsonError("",
                        "not a document sparc-cdn knows: expected a DistributionConfig, a "
                        "create-* input of a call render writes (CachePolicyConfig, WebACL, "
                        "alarm, ...) or a CloudFormation template");
    }
    if (strict) {
        report.problems.insert(report.problems.end(), report.newer.begin(), report.newer.end());
    }
    return report;
}

}  // namespace sparc::cdn
