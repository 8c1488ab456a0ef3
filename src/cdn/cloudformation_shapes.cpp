// CloudFront API shapes to the property shapes of CloudFormation's AWS::CloudFront resources.
//
// The two differ in a regular way: CloudFormation writes `{"Quantity": N, "Items": [...]}` as
// the bare array (except in OriginGroups and a few response headers policy lists, where it
// keeps `Items` or both), drops CallerReference (the stack is the caller), and renames a
// handful of members. Placeholders (`{{Name}}`) are left alone; stack_template() resolves them.

#include <sparc/cdn/cloudformation.hpp>

#include <functional>
#include <utility>

#include <nlohmann/json.hpp>

namespace sparc::cdn::cloudformation {

namespace {

using nlohmann::json;

// `{"Quantity": N, "Items": [...]}` -> `[...]` (an empty array when `Items` is absent).
json items(const json& wrapper) {
    if (wrapper.is_object() && wrapper.contains("Items")) {
        return wrapper.at("Items");
    }
    return json::array();
}

void rename(json& object, std::string_view from, std::string_view to) {
    if (auto it = object.find(from); it != object.end()) {
        json value = std::move(*it);
        object.erase(it);
        object[std::string(to)] = std::move(value);
    }
}

// Replaces a Quantity list member by its items; drops it when empty (CloudFormation's
// absent list is CloudFront's empty one).
void flatten(json& object, std::string_view member, std::string_view to = {}) {
    auto it = object.find(member);
    if (it == object.end()) {
        return;
    }
    json list = items(*it);
    object.erase(it);
    if (!list.empty()) {
        object[std::string(to.empty() ? member : to)] = std::move(list);
    }
}

// Every `{"Quantity", "Items"}` object below `node` becomes its items.
json flatten_all(const json& node) {
    if (node.is_object()) {
        if (node.contains("Quantity") &&
            (node.size() == 1 || (node.size() == 2 && node.contains("Items")))) {
            json out = json::array();
            for (const auto& item : items(node)) {
                out.push_back(flatten_all(item));
            }
            return out;
        }
        json out = json::object();
        for (const auto& [key, value] : node.items()) {
            out[key] = flatten_all(value);
        }
        return out;
    }
    if (node.is_array()) {
        json out = json::array();
        for (const auto& item : node) {
            out.push_back(flatten_all(item));
        }
        return out;
    }
    return node;
}

json behavior(json b) {
    if (auto it = b.find("AllowedMethods"); it != b.end()) {
        json allowed = *it;
        b["AllowedMethods"] = items(allowed);
        if (allowed.contains("CachedMethods")) {
            b["CachedMethods"] = items(allowed.at("CachedMethods"));
        }
    }
    flatten(b, "LambdaFunctionAssociations");
    flatten(b, "FunctionAssociations");
    // Trusted signers / key groups: CloudFormation takes the list alone.
    flatten(b, "TrustedSigners");
    flatten(b, "TrustedKeyGroups");
    if (auto it = b.find("ForwardedValues"); it != b.end()) {
        auto& fv = *it;
        flatten(fv, "Headers");
        flatten(fv, "QueryStringCacheKeys");
        if (auto cookies = fv.find("Cookies"); cookies != fv.end()) {
            flatten(*cookies, "WhitelistedNames");
        }
    }
    return b;
}

json origin(json o) {
    flatten(o, "CustomHeaders", "OriginCustomHeaders");
    if (auto it = o.find("CustomOriginConfig"); it != o.end()) {
        flatten(*it, "OriginSslProtocols", "OriginSSLProtocols");
    }
    return o;
}

}  // namespace

json distribution_config(const json& api) {
    json d = api;
    d.erase("CallerReference");
    flatten(d, "Aliases");
    flatten(d, "CustomErrorResponses");
    json origins = json::array();
    for (const auto& o : items(d.at("Origins"))) {
        origins.push_back(origin(o));
    }
    d["Origins"] = origins;
    if (auto it = d.find("OriginGroups"); it != d.end() && it->value("Quantity", 0) == 0) {
        d.erase(it);  // CloudFormation keeps this list's Quantity/Items form
    }
    d["DefaultCacheBehavior"] = behavior(d.at("DefaultCacheBehavior"));
    if (auto it = d.find("CacheBehaviors"); it != d.end()) {
        json list = json::array();
        for (const auto& b : items(*it)) {
            list.push_back(behavior(b));
        }
        d.erase(it);
        if (!list.empty()) {
            d["CacheBehaviors"] = list;
        }
    }
    if (auto it = d.find("Logging"); it != d.end()) {
        if (!it->value("Enabled", false)) {
            d.erase(it);
        } else {
            it->erase("Enabled");
        }
    }
    rename(d, "IsIPV6Enabled", "IPV6Enabled");
    if (auto it = d.find("ViewerCertificate"); it != d.end()) {
        it->erase("Certificate");
        it->erase("CertificateSource");
        rename(*it, "ACMCertificateArn", "AcmCertificateArn");
        rename(*it, "IAMCertificateId", "IamCertificateId");
        rename(*it, "SSLSupportMethod", "SslSupportMethod");
    }
    if (auto it = d.find("Restrictions"); it != d.end()) {
        auto& geo = it->at("GeoRestriction");
        json locations = items(geo);
        geo.erase("Quantity");
        geo.erase("Items");
        if (!locations.empty()) {
            geo["Locations"] = locations;
        }
    }
    return d;
}

json cache_policy_config(const json& api) { return flatten_all(api); }

json origin_request_policy_config(const json& api) { return flatten_all(api); }

json response_headers_policy_config(const json& api) {
    // Here CloudFormation keeps `Items` and drops only `Quantity`.
    json out = api;
    std::function<void(json&)> drop_quantity = [&](json& node) {
        if (node.is_object()) {
            if (node.contains("Items")) {
                node.erase("Quantity");
            }
            for (auto& [key, value] : node.items()) {
                drop_quantity(value);
            }
        } else if (node.is_array()) {
            for (auto& item : node) {
                drop_quantity(item);
            }
        }
    };
    drop_quantity(out);
    return out;
}

json realtime_log_config(const json& api) {
    json out = api;
    for (auto& end_point : out.at("EndPoints")) {
        auto& kinesis = end_point.at("KinesisStreamConfig");
        rename(kinesis, "RoleARN", "RoleArn");
        rename(kinesis, "StreamARN", "StreamArn");
    }
    return out;
}

}  // namespace sparc::cdn::cloudformation
