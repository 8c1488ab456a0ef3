// Placeholder translation unit; replaced by the CDN module's sources.
namespace sparc::cdn {}
