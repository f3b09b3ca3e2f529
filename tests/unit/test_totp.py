"""TOTP: codes of the current step and its neighbours, sealed secrets bound to their account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from teleconsult.identity.totp import TotpBox, matching_step, provisioning_uri, qr_svg

NOW = datetime(2026, 11, 23, 14, 0, 10, tzinfo=UTC)


def test_current_code_matches_its_step() -> None:
    secret = TotpBox.new_secret()
    totp = pyotp.TOTP(secret)
    assert matching_step(secret, totp.at(NOW), NOW) == totp.timecode(NOW)


def test_previous_code_is_accepted_for_clock_drift_but_not_older() -> None:
    secret = TotpBox.new_secret()
    totp = pyotp.TOTP(secret)
    assert matching_step(secret, totp.at(NOW - timedelta(seconds=30)), NOW) is not None
    assert matching_step(secret, totp.at(NOW - timedelta(seconds=90)), NOW) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_never_match(code: str) -> None:
    assert matching_step(TotpBox.new_secret(), code, NOW) is None


def test_spaces_typed_in_the_code_are_ignored() -> None:
    secret = TotpBox.new_secret()
    code = pyotp.TOTP(secret).at(NOW)
    assert matching_step(secret, f"{code[:3]} {code[3:]}", NOW) is not None


def test_sealed_secret_opens_only_for_its_own_account_and_key() -> None:
    box = TotpBox("k" * 40)
    owner, other = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(owner, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" not in sealed
    assert box.open(owner, sealed) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with pytest.raises(ValueError, match="account"):
        box.open(other, sealed)
    with pytest.raises(ValueError, match="account"):
        TotpBox("j" * 40).open(owner, sealed)


def test_enrolment_qr_is_an_inline_svg_of_the_otpauth_uri() -> None:
    uri = provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "anne.demo")
    assert uri.startswith("otpauth://totp/teleconsult:anne.demo?")
    svg = qr_svg(uri)
    assert svg.startswith("<svg") and "<script" not in svg
