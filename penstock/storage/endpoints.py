"""Where the object stores are, read from the variables their own clients read, so that one
setting points penstock, Beam and TensorFlow at the same store.

- GCS: ``STORAGE_EMULATOR_HOST`` (Google's clients; an emulator, reached anonymously).
- S3: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (the AWS SDKs' variables; an S3-compatible
  server such as MinIO), else tensorflow-io's ``S3_ENDPOINT``; the region from ``AWS_REGION`` or
  ``AWS_DEFAULT_REGION``; credentials stay with each client's own chain (``AWS_ACCESS_KEY_ID``...).

With none of them set, every client talks to the real GCS and S3.
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Settings:
    gcs_emulator: str = ""
    s3_endpoint: str = ""
    aws_region: str = ""

    @property
    def gcs_emulator_host_port(self) -> str:
        return _host_port(self.gcs_emulator)

    @property
    def gcs_emulator_scheme(self) -> str:
        return _scheme(self.gcs_emulator, default="http")

    @property
    def s3_endpoint_host_port(self) -> str:
        return _host_port(self.s3_endpoint)

    @property
    def s3_endpoint_scheme(self) -> str:
        return _scheme(self.s3_endpoint, default="https")


def current() -> Settings:
    env = os.environ
    s3 = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or env.get("S3_ENDPOINT") or ""
    if s3 and "://" not in s3 and env.get("S3_USE_HTTPS") == "0":
        s3 = f"http://{s3}"
    return Settings(
        gcs_emulator=env.get("STORAGE_EMULATOR_HOST", ""),
        s3_endpoint=s3,
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "",
    )


def tensorflow_s3_environment(settings: Settings | None = None) -> dict[str, str]:
    """The variables tensorflow-io's S3 filesystem reads, derived from ``settings``; empty when
    it should talk to AWS itself."""
    settings = settings or current()
    env: dict[str, str] = {}
    if settings.s3_endpoint:
        # With its scheme: the AWS SDK under tensorflow-io otherwise speaks https whatever S3_USE_HTTPS says.
        env["S3_ENDPOINT"] = f"{settings.s3_endpoint_scheme}://{settings.s3_endpoint_host_port}"
        secure = settings.s3_endpoint_scheme == "https"
        env["S3_USE_HTTPS"] = "1" if secure else "0"
        env["S3_VERIFY_SSL"] = "1" if secure else "0"
    if settings.aws_region:
        env["AWS_REGION"] = settings.aws_region
    return env


def beam_arguments(args: list[str], settings: Settings | None = None) -> list[str]:
    """Beam's S3 options for the configured store, added unless the user set them."""
    settings = settings or current()
    extra = []
    if settings.s3_endpoint and not _has(args, "s3_endpoint_url"):
        extra.append(f"--s3_endpoint_url={settings.s3_endpoint_scheme}://{settings.s3_endpoint_host_port}")
    if settings.aws_region and not _has(args, "s3_region_name"):
        extra.append(f"--s3_region_name={settings.aws_region}")
    return [*args, *extra]


def _has(args: list[str], name: str) -> bool:
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in args)


def _host_port(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _scheme(url: str, default: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else default
