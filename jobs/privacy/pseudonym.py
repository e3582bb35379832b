"""Pseudonymise user ids with a keyed HMAC, and every rule about that key: where it comes from (environment,
mounted secret file, or a generated local key) and when a generated key may be used at all.

Ingest calls `pseudonymize` inside a pandas UDF on Spark executors, so this module imports only the
standard library and the config's error type.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from jobs.config import ConfigError

__all__ = ["MissingSecretError", "key_for_run", "pseudonymize", "resolve_pseudonym_key"]

KEY_FILE_NAME = "pseudonym.key"
_KEY_CONFIG_NAME = "privacy.key_file"
_MIN_HEX_KEY_CHARS = 32
_MIN_TEXT_KEY_CHARS = 16


def pseudonymize(user_id: str, key: bytes) -> str:
    """Keyed pseudonym of a user id: stable for one key, unlinkable without it.

    Args:
        user_id: the raw user id.
        key: the secret from `resolve_pseudonym_key`.

    Returns:
        "u_" followed by the 64 lowercase hex digits of HMAC-SHA256(key, user_id).
    """
    if not key:
        raise ValueError("pseudonym key is empty")
    return "u_" + hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


class MissingSecretError(RuntimeError):
    """No pseudonym key is configured and this profile may not generate one."""


def _parse_key(raw: str, source: str) -> bytes:
    """A hex key of at least 32 hex digits, else the UTF-8 bytes of a passphrase of 16+ characters."""
    value = raw.strip()
    if len(value) >= _MIN_HEX_KEY_CHARS and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass  # not hex: a passphrase
    if len(value) >= _MIN_TEXT_KEY_CHARS:
        return value.encode("utf-8")
    raise ValueError(f"pseudonym key from {source} is too short: use at least {_MIN_HEX_KEY_CHARS} hex "
                     f"digits (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`) "
                     f"or a passphrase of at least {_MIN_TEXT_KEY_CHARS} characters")


def _read_key_file(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MissingSecretError(f"pseudonym key file {path} is missing or unreadable: "
                                 f"{exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"pseudonym key file {path} must hold a hex key or a text passphrase") from None
    return _parse_key(text, f"file {path}")


def _local_key(state_dir: Path) -> bytes:
    """The local profile's key: created once (0600, atomically), then reused."""
    path = state_dir / KEY_FILE_NAME
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".pseudonym-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_bytes(32).hex() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # atomic create-once: a concurrent creator's key wins and is reused
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return _read_key_file(path)


def resolve_pseudonym_key(*, env_var: str = "AFFECTIVE_PSEUDONYM_KEY", key_file: str | None = None,
                          state_dir: str | None = None, allow_generate: bool = False) -> bytes:
    """Find the pseudonym key: environment, then mounted secret file, then (local only) local state.

    A key is either at least 32 hex digits (decoded) or a passphrase of at least 16 characters
    (its UTF-8 bytes). The key is never logged or put in an error message.

    Args:
        env_var: environment variable holding the key; empty or unset means not configured.
        key_file: path of a mounted secret file holding the key (config `privacy.key_file`).
        state_dir: local state folder where the local profile keeps a generated `pseudonym.key`.
        allow_generate: whether a key may be generated in state_dir (local profile only).

    Returns:
        The key bytes.

    Raises:
        ValueError: a configured key is too short, or allow_generate is set without state_dir.
        MissingSecretError: no key is configured (or key_file is missing) and none may be generated.
    """
    raw = os.environ.get(env_var, "")
    if raw.strip():
        return _parse_key(raw, f"environment variable {env_var}")
    if key_file:
        return _read_key_file(Path(key_file).expanduser())
    if allow_generate:
        if not state_dir:
            raise ValueError("allow_generate needs state_dir to keep the generated pseudonym key")
        return _local_key(Path(state_dir).expanduser())
    raise MissingSecretError(f"no pseudonym key: set the environment variable {env_var} (at least "
                             f"{_MIN_HEX_KEY_CHARS} hex digits) or {_KEY_CONFIG_NAME} to a mounted secret "
                             f"file; only the local profile may generate one")


def key_for_run(privacy_cfg: dict[str, Any], state_dir: Path, master: str) -> bytes:
    """The key a run pseudonymises with, under the `privacy` config, for a Spark session on `master`.

    A generated key lives on the driver's disk: on a cluster each driver host would pseudonymise the same
    user differently and the release rule would count one person several times, so only a `local`
    master may use one.

    Raises:
        ConfigError: a configured key is unusable.
        MissingSecretError: no key is configured and none may be generated here.
    """
    generate = privacy_cfg["generate_local_key"] and master.startswith("local")
    try:
        return resolve_pseudonym_key(env_var=privacy_cfg["key_env"], key_file=privacy_cfg["key_file"] or None,
                                     state_dir=str(state_dir), allow_generate=generate)
    except ValueError as exc:  # a key that is there but unusable is a config problem, not a crash
        raise ConfigError(str(exc)) from exc
    except MissingSecretError as exc:
        if privacy_cfg["generate_local_key"] and not generate:
            raise MissingSecretError(f"{exc} (a generated key is never used with a cluster master, "
                                     f"here {master})") from None
        raise
