"""The stack's `.env` file: write it with fresh secrets, and check that it is complete and secret.

`make dotenv` writes `.env` from .env.example (`write_dotenv`); `check_env` refuses a file that
lacks a setting or keeps a value anyone has (the example's placeholder, a retired secret).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from dotenv import dotenv_values

# The value .env.example gives every secret, key and password; `make dotenv` replaces each with a
# fresh one when it writes .env, and check_env refuses it.
PLACEHOLDER = "make-dotenv-generates-this"
# Secrets an earlier .env.example shipped in clear: anyone has them, so check_env refuses them.
RETIRED_SECRETS = {
    "AIRFLOW_JWT_SECRET": "b7822ccf60bd1e470b90d23a53100db23b69718c6cd9f779968e07594369f23c",
    "AIRFLOW_API_SECRET_KEY": "91fa750cd044e723cc5cf2770a1c550bc4c53f36e56a8d3e520ef1a3533a3bb1",
    "AIRFLOW_FERNET_KEY": "axHIfKRh-wEkxu9HGDsnkbWaWDCUvr8rZ7Iq_qokz5w=",
}


def check_env(env_file: Path, example_file: Path) -> tuple[bool, str]:
    """`.env` exists, defines every key of .env.example and holds no example secret."""
    if not env_file.exists():
        return False, (
            f"{env_file.name} is missing. Fix: `make dotenv` writes it from {example_file.name} "
            "with freshly generated secrets."
        )
    wanted = dotenv_values(example_file, interpolate=False)
    found = dotenv_values(env_file, interpolate=False)
    missing = [key for key in wanted if key not in found]
    if missing:
        return False, (
            f"{env_file.name} lacks {', '.join(missing)}. Fix: copy those lines from "
            f"{example_file.name} into {env_file.name} (a {PLACEHOLDER} value needs a secret: "
            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`)."
        )
    empty = [key for key in wanted if wanted[key] and not found[key]]
    if empty:
        return False, (
            f"{env_file.name} leaves {', '.join(empty)} empty. Fix: give each the value from "
            f"{example_file.name}."
        )
    placeholders = [key for key, value in found.items() if value == PLACEHOLDER]
    if placeholders:
        return False, (
            f"{env_file.name} keeps the example value of {', '.join(placeholders)}, which is no "
            f"secret. Fix: `mv {env_file.name} {env_file.name}.old && make dotenv` writes one "
            "with fresh secrets; copy your own changes over from the old file."
        )
    retired = [key for key, value in RETIRED_SECRETS.items() if found.get(key) == value]
    if retired:
        # Only these keys: new database passwords would not match a stack that already has data.
        return False, (
            f"{env_file.name} keeps the example value of {', '.join(retired)}, which is no "
            f"secret (an earlier .env.example shipped it). Fix: give each a fresh value in "
            f'{env_file.name} (AIRFLOW_FERNET_KEY: `python -c "import base64, os; '
            'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`; the others: '
            "`python -c 'import secrets; print(secrets.token_hex(32))'`), then "
            "`make down && make up`."
        )
    fernet = found.get("AIRFLOW_FERNET_KEY")
    if fernet is not None and not is_fernet_key(fernet):
        return False, (
            f"AIRFLOW_FERNET_KEY={fernet!r} in {env_file.name} is not a Fernet key (32 bytes, "
            'URL-safe base64). Fix: set it to the output of `python -c "import base64, os; '
            'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`.'
        )
    return True, f"{env_file.name} defines all {len(wanted)} settings of {example_file.name}"


def is_fernet_key(value: str) -> bool:
    """A Fernet key is 32 random bytes in URL-safe base64 (44 characters)."""
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == 32 and len(value) == 44
    except (binascii.Error, ValueError):
        return False


def new_secret(name: str) -> str:
    """A fresh value for the setting `name`: a Fernet key, a 256-bit hex secret or a password."""
    if "FERNET" in name:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name.endswith(("_SECRET", "SECRET_KEY")) and name.startswith("AIRFLOW_"):
        return secrets.token_hex(32)
    # Letters, digits, - and _: safe inside URLs (WAREHOUSE_URL), YAML and shell.
    return secrets.token_urlsafe(24)


def write_dotenv(env_file: Path, example_file: Path) -> tuple[bool, str]:
    """Write `.env` from .env.example with a fresh value for every placeholder; never overwrite."""
    if env_file.exists():
        return True, f"{env_file.name} exists; kept as it is (delete it to generate a new one)"
    lines, generated = [], []
    for line in example_file.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            name = name.strip()
            line = f"{name}={new_secret(name)}"
            generated.append(name)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    # Created readable by you only: it holds passwords.
    descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return True, (
        f"wrote {env_file.name} from {example_file.name} with {len(generated)} fresh secrets "
        f"({', '.join(generated)})"
    )
