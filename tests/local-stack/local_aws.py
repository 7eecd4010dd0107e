"""The fixed local stack `cargo lambda watch` runs against (see each function's
[package.metadata.lambda.env]): a key pair in target/local-keys, trusted by `make emulator` on :8787,
and, once `make moto` answers on :5000, the SSM parameters and buckets template.yaml names for a
contact center called ACME_CC.

    python local_aws.py keys   # writes target/local-keys/{private,public}.pem unless they exist
    python local_aws.py seed   # waits for moto on :5000, then stores the parameters and buckets
"""

import pathlib
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEYS = ROOT / "target" / "local-keys"
ENDPOINT = "http://127.0.0.1:5000"
CALL_CENTER = "ACME_CC"
# The emulator's default connected app (tests/sf-emulator/src/config.rs).
CONSUMER_KEY = "3MVG9-emulator-consumer-key"
BUCKETS = ["acme-cc-local", "acme-cc-ctr-backup-local"]


def keys():
    if (KEYS / "private.pem").exists() and (KEYS / "public.pem").exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    KEYS.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (KEYS / "private.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (KEYS / "public.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    print(f"wrote a local key pair to {KEYS}", file=sys.stderr)


def seed():
    import boto3

    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{ENDPOINT}/moto-api/data.json", timeout=1)
            break
        except OSError:
            if time.time() > deadline:
                sys.exit(f"moto did not answer on {ENDPOINT}")
            time.sleep(0.2)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    ssm = session.client("ssm", endpoint_url=ENDPOINT)
    private = (KEYS / "private.pem").read_text()
    for name, value in [
        (f"{CALL_CENTER}-scrt-jwt-auth-private-key", private),
        (f"{CALL_CENTER}-salesforce-rest-api-auth-private-key", private),
        (f"{CALL_CENTER}-salesforce-rest-api-auth-consumer-key", CONSUMER_KEY),
        (f"{CALL_CENTER}-salesforce-rest-api-access-token", "salesforce-rest-api-access-token"),
        (f"{CALL_CENTER}-salesforce-rest-api-audience", "https://login.salesforce.com/"),
    ]:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    s3 = session.client("s3", endpoint_url=ENDPOINT)
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
    print(f"moto on {ENDPOINT}: the {CALL_CENTER} key parameters and buckets {', '.join(BUCKETS)}", file=sys.stderr)


if __name__ == "__main__":
    {"keys": keys, "seed": seed}[sys.argv[1] if len(sys.argv) > 1 else "seed"]()
