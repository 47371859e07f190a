"""The webhook signature's clock window is exactly 300 s either way (docs/api.md "External calendars")."""
import pytest

from app.calendars.webhooks import TOLERANCE_SECONDS, sign, verify
from app.errors import BookwellError

NOW = 1_800_000_000
BODY = b'{"delivery_id":"d","events":[]}'


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS, 0, TOLERANCE_SECONDS])
def test_a_signature_within_the_window_is_accepted(offset):
    verify("s3cret", sign("s3cret", NOW + offset, BODY), BODY, now=NOW)


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS - 1, TOLERANCE_SECONDS + 1])
def test_a_signature_one_second_outside_the_window_is_401(offset):
    with pytest.raises(BookwellError) as raised:
        verify("s3cret", sign("s3cret", NOW + offset, BODY), BODY, now=NOW)
    assert (raised.value.status, raised.value.code) == (401, "UNAUTHENTICATED")
    assert "5 minutes" in str(raised.value.message)
