#pragma once
/// @file field_level_encryption.hpp
/// Field-level encryption: public keys, encryption profiles and configurations.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sparc/cdn/json.hpp>

namespace sparc::cdn {

/// A public key uploaded to CloudFront (`PublicKeyConfig`; input of CreatePublicKey).
struct PublicKeyConfig {
    std::string caller_reference;        ///< `CallerReference`
    std::string name;                    ///< `Name`
    std::string encoded_key;             ///< `EncodedKey`: PEM-encoded RSA 2048 public key
    std::optional<std::string> comment;  ///< `Comment`
    bool operator==(const PublicKeyConfig&) const = default;
};

/// Fields encrypted with one public key (`EncryptionEntity`).
struct EncryptionEntity {
    std::string public_key_id;                ///< `PublicKeyId`
    std::string provider_id;                  ///< `ProviderId`: name the origin decrypts with
    std::vector<std::string> field_patterns;  ///< `FieldPatterns`, e.g. "email", "card_*"
    bool operator==(const EncryptionEntity&) const = default;
};

/// An encryption profile (`FieldLevelEncryptionProfileConfig`; input of
/// CreateFieldLevelEncryptionProfile).
struct FieldLevelEncryptionProfileConfig {
    std::string name;                                   ///< `Name`
    std::string caller_reference;                       ///< `CallerReference`
    std::optional<std::string> comment;                 ///< `Comment`
    std::vector<EncryptionEntity> encryption_entities;  ///< `EncryptionEntities`
    bool operator==(const FieldLevelEncryptionProfileConfig&) const = default;
};

/// Profile chosen by a query argument (`QueryArgProfile`).
struct QueryArgProfile {
    std::string query_arg;   ///< `QueryArg`
    std::string profile_id;  ///< `ProfileId`
    bool operator==(const QueryArgProfile&) const = default;
};

/// Profile selection by query argument (`QueryArgProfileConfig`).
struct QueryArgProfileConfig {
    bool forward_when_query_arg_profile_is_unknown =
        false;                                        ///< `ForwardWhenQueryArgProfileIsUnknown`
    std::vector<QueryArgProfile> query_arg_profiles;  ///< `QueryArgProfiles`
    bool operator==(const QueryArgProfileConfig&) const = default;
};

/// Request body format field-level encryption understands (`Format`).
enum class FieldLevelEncryptionFormat { url_encoded };

/// Profile chosen by content type (`ContentTypeProfile`).
struct ContentTypeProfile {
    FieldLevelEncryptionFormat format = FieldLevelEncryptionFormat::url_encoded;  ///< `Format`
    std::optional<std::string> profile_id;                                        ///< `ProfileId`
    std::string content_type = "application/x-www-form-urlencoded";               ///< `ContentType`
    bool operator==(const ContentTypeProfile&) const = default;
};

/// Profile selection by content type (`ContentTypeProfileConfig`).
struct ContentTypeProfileConfig {
    bool forward_when_content_type_is_unknown = false;      ///< `ForwardWhenContentTypeIsUnknown`
    std::vector<ContentTypeProfile> content_type_profiles;  ///< `ContentTypeProfiles`
    bool operator==(const ContentTypeProfileConfig&) const = default;
};

/// A field-level encryption configuration (`FieldLevelEncryptionConfig`; input of
/// CreateFieldLevelEncryptionConfig). Its id goes in a cache behaviour's
/// `FieldLevelEncryptionId`.
struct FieldLevelEncryptionConfig {
    std::string caller_reference;                                   ///< `CallerReference`
    std::optional<std::string> comment;                             ///< `Comment`
    std::optional<QueryArgProfileConfig> query_arg_profile_config;  ///< `QueryArgProfileConfig`
    std::optional<ContentTypeProfileConfig>
        content_type_profile_config;  ///< `ContentTypeProfileConfig`
    bool operator==(const FieldLevelEncryptionConfig&) const = default;
};

/// @name JSON conversion (AWS member names)
///@{
SPARC_CDN_DECLARE_ENUM(FieldLevelEncryptionFormat)
SPARC_CDN_DECLARE_JSON(PublicKeyConfig)
SPARC_CDN_DECLARE_JSON(EncryptionEntity)
SPARC_CDN_DECLARE_JSON(FieldLevelEncryptionProfileConfig)
SPARC_CDN_DECLARE_JSON(QueryArgProfile)
SPARC_CDN_DECLARE_JSON(QueryArgProfileConfig)
SPARC_CDN_DECLARE_JSON(ContentTypeProfile)
SPARC_CDN_DECLARE_JSON(ContentTypeProfileConfig)
SPARC_CDN_DECLARE_JSON(FieldLevelEncryptionConfig)
///@}

}  // namespace sparc::cdn
