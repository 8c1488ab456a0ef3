"""Variables for rendering the video platform preset in the cdn checks.

The keys are generated for each run with openssl (scripts/setup.sh installs it), since render
checks that they are real RSA public keys.
"""

import functools
import subprocess


@functools.lru_cache(maxsize=None)
def public_key_pem(name="default"):
    """A fresh RSA 2048 public key in PEM (SubjectPublicKeyInfo); one per name and run."""
    del name  # only distinguishes the cache entries
    private = subprocess.run(["openssl", "genrsa", "2048"], check=True, capture_output=True).stdout
    return subprocess.run(["openssl", "rsa", "-pubout"], input=private, check=True,
                          capture_output=True).stdout.decode()


def sample_vars(**extra):
    return {
        "environment": "dev",
        "api_gateway_domain": "api.dev.sparc.io",
        "video_streaming_domain": "video.dev.sparc.io",
        "cdn_domain_name": "cdn.dev.sparc.io",
        "jwt_public_key": public_key_pem("jwt"),
        "field_encryption_public_key": public_key_pem("fle"),
        "sns_alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
        **extra,
    }
