#pragma once
// The video platform's parameters with test keys: for the cdn unit tests (support.hpp) and the
// cdn benchmark.

#include <string>
#include <string_view>

#include <sparc/cdn/presets.hpp>

namespace sparc::cdn::test {

/// RSA 2048 public keys (SubjectPublicKeyInfo PEM) generated with openssl for the tests.
inline constexpr std::string_view kTestPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp5uGafX+de76ranXpOF8
7mcUJrSrZ+F2eIUA3PUFv9kaxwMgBH60LgD8pp5M/3WhXMwnVpjOTjTRIBo4Vl9r
3SAh6kCRLxAR2/VLNSwp8mIFuS1hSwlcpZSJiK4IuwHyVB1kDxtoqChP2bFLJalI
NbsUF1Gw+aW6nsIDz/W+iA3zcxd9NQwYs8TtCBu2zs0t1ZZs4YgnCzl98Ryhvjtf
SiJFpPnxqO4dP5NmjHwSeajrB6lKXpi4uU0l1fasi+07q22bldAnmHD8bv42TtIy
+BUxCFBlWPeHDo555Mz1M/dRNawjGg4NMpWmHCXJJi63JVLVxvi5YUnXu3DmaGYy
nwIDAQAB
-----END PUBLIC KEY-----
)";
inline constexpr std::string_view kOtherTestPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuHyxotWhwKsSlU8L18zm
dOy4ccY/q4GSnbYKdIL3R+eqA1XZ2Vrm9nP3l748B+Kr8Le05yUuwozfnx6CB9s9
+vdlP5WT6goXDAlUUYW0iMd44VAiuFG1BvKXKSTNzXdZwkv9Qtg7Wf9QRcw52gLI
PXOW2daSLkOHFUHmPGr/hhnhdNfS3ncN5Ni3PN0KMRhZRogsiQEMeyapucnCpyq5
42m7Ht8F7ZUT7XcVews0CmeSnokGdNMAmqyBQyy8Xsa+qmKE3EfwRseru7ktkWMH
6sdtPN6a5Yrq0oRwUJIV+ihozAV/2SEgsYdb9QV9PLjkBj0ivAb50v8Tjaa+HBeY
9wIDAQAB
-----END PUBLIC KEY-----
)";

/// Parameters for the video platform preset.
inline presets::VideoPlatformParams video_params() {
    presets::VideoPlatformParams p;
    p.environment = "production";
    p.api_gateway_domain = "api.sparc.io";
    p.video_streaming_domain = "video.sparc.io";
    p.cdn_domain_name = "cdn.sparc.io";
    p.jwt_public_key = std::string(kTestPublicKey);
    p.field_encryption_public_key = std::string(kOtherTestPublicKey);
    p.sns_alert_topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts";
    return p;
}

}  // namespace sparc::cdn::test
