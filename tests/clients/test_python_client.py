"""The bank client as a package of its own (clients/python, `ushk-client`): it signs exactly as
the service verifies, `service.client` is the same code, and it installs into a fresh venv and
imports there with no `service` to be found."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import service.client
import ushk_client
from service.deposits.signing import canonical_confirmation, public_key_b64, verify_signature

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
SEED = bytes(range(32))

leaves = st.text(st.characters(codec="utf-8"), max_size=12)
signed_objects = st.dictionaries(
    st.text(st.characters(codec="utf-8"), max_size=8),
    leaves | st.dictionaries(st.text(max_size=6), leaves, max_size=3),
    max_size=6,
)


@given(signed_objects)
def test_the_client_signs_the_bytes_the_service_verifies(obj):
    assert ushk_client.canonical_message(obj) == canonical_confirmation(obj)
    signature = ushk_client.sign(SEED, obj)
    assert verify_signature(public_key_b64(SEED), canonical_confirmation(obj), signature)


def test_the_client_refuses_what_the_service_refuses():
    for bad in ({"amount": 1}, {"resident": {"id_type": None}}, {"x": ["a"]}):
        with pytest.raises(ValueError):
            ushk_client.canonical_message(bad)
        with pytest.raises(ValueError):
            canonical_confirmation(bad)
    assert ushk_client.public_key_b64(SEED) == public_key_b64(SEED)
    assert ushk_client.load_private_key(SEED.hex()).private_bytes_raw() == SEED


def test_service_client_is_the_package():
    for name in service.client.__all__:
        assert getattr(service.client, name) is getattr(ushk_client, name)


def test_the_package_declares_no_service_dependency():
    text = (CLIENT / "pyproject.toml").read_text()
    assert 'name = "ushk-client"' in text
    sources = "\n".join(p.read_text() for p in (CLIENT / "src").rglob("*.py"))
    assert "import service" not in sources and "from service" not in sources


@pytest.mark.slow
def test_it_installs_into_a_fresh_venv_and_works_without_the_service(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # a real (non-editable) install, with its dependencies from the package index
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(CLIENT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = textwrap.dedent(
        """
        import importlib.util, json, sys
        import ushk_client
        from ushk_client import BankClient, build_confirmation, signed_request
        assert importlib.util.find_spec("service") is None, "service is importable"
        confirmation = build_confirmation(reference="R-1", amount="10.00", value_date="2026-12-04",
            beneficiary="0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", id_type="hkid",
            id_number="A1234567", category="hk", purpose_code="INVS")
        body = signed_request(confirmation, "k1", bytes(range(32)).hex())
        print(json.dumps({"file": ushk_client.__file__, "body": body}))
        """
    )
    run = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert str(venv) in answer["file"]  # the installed copy, not the source tree
    body = answer["body"]
    assert verify_signature(
        public_key_b64(SEED), canonical_confirmation(body["confirmation"]), body["signature"]
    )
