// Checking a document of any kind `sparc-cdn render` writes, tolerating what newer AWS API
// releases added.

#include <sparc/cdn/document.hpp>

#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sparc/cdn.hpp>

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

}  // namespace

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
        check_as<OriginAccessControlConfig>(d, base, report, false);
    } else if (wrapped("CloudFrontOriginAccessIdentityConfig")) {
        auto [d, base] = inner("CloudFrontOriginAccessIdentityConfig");
        check_as<OriginAccessIdentityConfig>(d, base, report, false);
    } else if (wrapped("PublicKeyConfig")) {
        auto [d, base] = inner("PublicKeyConfig");
        check_as<PublicKeyConfig>(d, base, report, false);
    } else if (wrapped("FieldLevelEncryptionProfileConfig")) {
        auto [d, base] = inner("FieldLevelEncryptionProfileConfig");
        check_as<FieldLevelEncryptionProfileConfig>(d, base, report, false);
    } else if (wrapped("FieldLevelEncryptionConfig")) {
        auto [d, base] = inner("FieldLevelEncryptionConfig");
        check_as<FieldLevelEncryptionConfig>(d, base, report, false);
    } else if (has({"Resources"}) || has({"AWSTemplateFormatVersion"})) {
        report.kind = "CloudFormation template";
        check_template(body, report.problems);
    } else if (has({"Origins", "DefaultCacheBehavior"})) {
        report.kind = "DistributionConfig";
        check_as<DistributionConfig>(body, "", report, true);
    } else if (has({"DistributionId", "MonitoringSubscription"})) {
        report.kind = "MonitoringSubscription";
        check_as<MonitoringSubscription>(body, "", report, false);
    } else if (has({"EndPoints", "SamplingRate"})) {
        report.kind = "RealtimeLogConfig";
        check_as<RealtimeLogConfig>(body, "", report, false);
    } else if (has({"Scope", "DefaultAction"})) {
        report.kind = "WebACL";
        check_as<waf::WebAcl>(body, "", report, true);
    } else if (has({"AlarmName"})) {
        report.kind = "MetricAlarm";
        check_as<MetricAlarm>(body, "", report, true);
    } else if (has({"FunctionName", "Code"})) {
        report.kind = "Lambda function";
        check_as<EdgeFunction>(body, "", report, false);
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
