"""The slot exposure sample: determinism, bounds, spread over day parts, rotation, fairness."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling.exposure import (
    Exposure,
    ExposureRequest,
    Scope,
    day_part,
    expose,
    hour_salt,
    sample_bounds,
)
from app.scheduling.types import Slot

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
DAY = date(2027, 3, 14)
SALT = "2027-03-14T10"
VIEWERS = [f"user-{n}" for n in range(200)]


def make_slot(local_start: datetime, minutes: int = 30, sort_key: str = "") -> Slot:
    start = local_start.astimezone(UTC)
    return Slot(
        start=start,
        end=start + timedelta(minutes=minutes),
        location_id="loc-1",
        room_id=None,
        local_date=local_start.date(),
        capacity=1,
        capacity_left=1,
        sort_key=sort_key,
    )


def slots_at(tz: ZoneInfo, *hhmm: str, day: date = DAY) -> list[Slot]:
    """Slots at the given local wall-clock times ("09:30") of `day` in `tz`."""
    return [make_slot(datetime.combine(day, time.fromisoformat(t), tzinfo=tz)) for t in hhmm]


def slot_grid(tz: ZoneInfo, first: str, count: int, every_minutes: int = 30) -> list[Slot]:
    """`count` consecutive slots from local `first`, `every_minutes` apart."""
    start = datetime.combine(DAY, time.fromisoformat(first), tzinfo=tz)
    return [make_slot(start + timedelta(minutes=every_minutes * n)) for n in range(count)]


def make_request(
    viewer: str = "user-1",
    scope: Scope = "provider",
    salt: str = SALT,
    provider: str | None = None,
) -> ExposureRequest:
    provider_key = provider if provider is not None else ("prov-1" if scope == "provider" else "all")
    return ExposureRequest(viewer_key=viewer, day=DAY, provider_key=provider_key, hour_salt=salt, scope=scope)


def parts_of(exposure: Exposure[Slot], tz: ZoneInfo) -> list[str]:
    return [day_part(slot.start.astimezone(tz)) for slot in exposure.slots]


# Three parts: 08:00–11:30 morning (8), 12:00–16:30 afternoon (10), 17:00–19:30 evening (6).
THREE_PART_DAY = slot_grid(BERLIN, "08:00", 24)


# --- determinism -------------------------------------------------------------


def test_the_same_request_twice_gives_the_identical_exposure():
    request = make_request(scope="location")
    assert expose(THREE_PART_DAY, request, BERLIN) == expose(THREE_PART_DAY, request, BERLIN)


# Three rooms share the 09:00 start: only their sort_key orders them.
WITH_TIES = THREE_PART_DAY + [
    make_slot(datetime(2027, 3, 14, 9, tzinfo=BERLIN), sort_key=key) for key in ("loc-1/room-b", "loc-1/room-a")
]


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(WITH_TIES),
    viewer=st.text(max_size=12),
    scope=st.sampled_from(["provider", "location"]),
)
def test_the_input_order_never_changes_the_exposure(order, viewer, scope):
    request = make_request(viewer=viewer, scope=scope)
    assert expose(order, request, BERLIN) == expose(WITH_TIES, request, BERLIN)


def test_equal_starts_are_ordered_by_sort_key_whatever_the_input_order():
    a, b = (make_slot(datetime(2027, 3, 14, 9, tzinfo=BERLIN), sort_key=key) for key in ("room-a", "room-b"))
    assert expose([b, a], make_request(), BERLIN, variant="all").slots == (a, b)


# --- bounds, total, has_more -------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "bounds"),
    [
        ("provider", (1, 3)),  # a named provider: a short list
        ("location", (3, 5)),  # a whole location: a few more to choose from
    ],
)
def test_sample_bounds_per_scope(scope, bounds):
    assert sample_bounds(scope) == bounds


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError):
        sample_bounds("everything")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "open_slots", "fewest", "most"),
    [
        ("provider", 0, 0, 0),  # nothing open: nothing shown
        ("location", 0, 0, 0),  # nothing open, location scope
        ("provider", 1, 1, 1),  # a single open slot is always shown
        ("location", 2, 2, 2),  # fewer open than the location minimum: all of them
        ("location", 3, 3, 3),  # exactly the location minimum
        ("location", 4, 3, 4),  # cap bites on the upper end only
        ("provider", 24, 1, 3),  # a full day, provider scope
        ("location", 24, 3, 5),  # a full day, location scope
    ],
)
def test_pick_count_stays_within_the_scope_bounds_capped_by_open_slots(scope, open_slots, fewest, most):
    slots = THREE_PART_DAY[:open_slots]
    for viewer in VIEWERS[:50]:
        exposure = expose(slots, make_request(viewer=viewer, scope=scope), BERLIN)
        assert fewest <= len(exposure.slots) <= most
        assert exposure.total == open_slots
        assert exposure.has_more == (open_slots > len(exposure.slots))


@pytest.mark.parametrize(
    ("scope", "counts"),
    [
        ("provider", {1, 2, 3}),  # every count in range turns up
        ("location", {3, 4, 5}),
    ],
)
def test_the_pick_count_is_drawn_per_viewer_across_the_whole_range(scope, counts):
    seen = {len(expose(THREE_PART_DAY, make_request(viewer=v, scope=scope), BERLIN).slots) for v in VIEWERS}
    assert seen == counts


@pytest.mark.parametrize(
    ("open_slots", "has_more"),
    [
        (0, False),  # empty day
        (1, False),  # one slot, and it is shown
        (24, True),  # far more open than a provider sample shows
    ],
)
def test_total_counts_every_open_slot_and_has_more_says_some_were_left_out(open_slots, has_more):
    exposure = expose(THREE_PART_DAY[:open_slots], make_request(), BERLIN)
    assert exposure.total == open_slots
    assert exposure.has_more is has_more


local_minutes = st.lists(st.integers(min_value=0, max_value=24 * 60 - 15), unique=True, max_size=40)


@settings(max_examples=200, deadline=None)
@given(minutes=local_minutes, viewer=st.text(max_size=12), scope=st.sampled_from(["provider", "location"]))
def test_any_day_gives_a_bounded_sorted_subset_with_a_true_total(minutes, viewer, scope):
    midnight = datetime.combine(DAY, time(0), tzinfo=BERLIN)
    slots = [make_slot(midnight + timedelta(minutes=m), minutes=15) for m in minutes]
    exposure = expose(slots, make_request(viewer=viewer, scope=scope), BERLIN)

    fewest, most = sample_bounds(scope)
    assert min(fewest, len(slots)) <= len(exposure.slots) <= min(most, len(slots))
    assert set(exposure.slots) <= set(slots)
    assert len(set(exposure.slots)) == len(exposure.slots)
    assert list(exposure.slots) == sorted(exposure.slots, key=lambda s: s.start)
    assert exposure.total == len(slots)
    assert exposure.has_more == (len(slots) > len(exposure.slots))


# --- spread over day parts ---------------------------------------------------


@pytest.mark.parametrize(
    ("local", "part"),
    [
        ("05:59", "other"),  # before the morning
        ("06:00", "morning"),  # morning starts inclusive
        ("11:59", "morning"),  # last minute of the morning
        ("12:00", "afternoon"),  # noon belongs to the afternoon
        ("16:59", "afternoon"),  # last minute of the afternoon
        ("17:00", "evening"),  # evening starts inclusive
        ("21:59", "evening"),  # last minute of the evening
        ("22:00", "other"),  # late night
        ("00:00", "other"),  # midnight
    ],
)
def test_day_part_boundaries_on_the_local_wall_clock(local, part):
    assert day_part(datetime.combine(DAY, time.fromisoformat(local), tzinfo=BERLIN)) == part


@pytest.mark.parametrize(
    ("utc_start", "new_york", "kolkata"),
    [
        (datetime(2027, 3, 14, 14, 0, tzinfo=UTC), "morning", "evening"),  # 10:00 EDT (DST day) / 19:30 IST
        (datetime(2027, 3, 14, 6, 30, tzinfo=UTC), "other", "afternoon"),  # 01:30 EST, just before the DST jump / 12:00 IST
        (datetime(2027, 3, 14, 20, 0, tzinfo=UTC), "afternoon", "other"),  # 16:00 EDT / 01:30 IST next day
    ],
)
def test_the_same_utc_instant_falls_in_the_day_part_of_the_given_zone(utc_start, new_york, kolkata):
    assert day_part(utc_start.astimezone(NEW_YORK)) == new_york
    assert day_part(utc_start.astimezone(KOLKATA)) == kolkata


def test_a_location_sample_shows_every_day_part_to_every_viewer():
    for viewer in VIEWERS:
        exposure = expose(THREE_PART_DAY, make_request(viewer=viewer, scope="location"), BERLIN)
        assert {"morning", "afternoon", "evening"} <= set(parts_of(exposure, BERLIN)), viewer


@pytest.mark.parametrize(
    ("slots", "parts"),
    [
        (THREE_PART_DAY, 3),  # all three parts open: two picks from two of them
        (slots_at(BERLIN, "08:00", "08:30", "09:00", "09:30", "18:00"), 2),  # lopsided: the lone evening slot still shows
        (slots_at(BERLIN, "13:00", "13:30", "14:00", "23:00", "23:30"), 1),  # one part plus "other" hours
    ],
)
def test_two_picks_come_from_different_day_parts_when_there_are_two(slots, parts):
    two_picks = [
        exposure
        for viewer in VIEWERS
        if len((exposure := expose(slots, make_request(viewer=viewer), BERLIN)).slots) == 2
    ]
    assert two_picks  # the seeds do produce two-slot samples
    for exposure in two_picks:
        shown_parts = parts_of(exposure, BERLIN)
        if parts >= 2:
            assert len(set(shown_parts)) == 2
        else:
            assert "afternoon" in shown_parts  # the one real part is always represented


def test_spreading_follows_local_time_not_utc():
    # 14:00–15:30 UTC is New York morning but Kolkata evening;
    # 19:00–20:30 UTC is New York afternoon but Kolkata night ("other").
    slots = [make_slot(datetime(2027, 3, 14, h, m, tzinfo=UTC)) for h in (14, 19) for m in (0, 30)]
    early = {s for s in slots if s.start.hour == 14}

    def samples_with_both_halves(tz: ZoneInfo) -> tuple[int, int]:
        pairs = [e for v in VIEWERS if len((e := expose(slots, make_request(viewer=v), tz)).slots) == 2]
        return sum(len(early & set(e.slots)) == 1 for e in pairs), len(pairs)

    mixed, pairs = samples_with_both_halves(NEW_YORK)
    assert mixed == pairs  # two real parts in New York: always one of each
    mixed, pairs = samples_with_both_halves(KOLKATA)
    assert mixed < pairs  # only one real part in Kolkata: the fill may take two evenings


# --- rotation and fairness ---------------------------------------------------


def test_changing_only_the_hour_salt_rotates_the_sample_for_most_viewers():
    day = slot_grid(BERLIN, "07:00", 30)  # 07:00–21:30
    changed = sum(
        expose(day, make_request(viewer=v, salt="2027-03-14T10"), BERLIN).slots
        != expose(day, make_request(viewer=v, salt="2027-03-14T11"), BERLIN).slots
        for v in VIEWERS
    )
    assert changed > len(VIEWERS) // 2


def test_different_viewers_mostly_see_different_samples():
    day = slot_grid(BERLIN, "07:00", 30)
    samples = {expose(day, make_request(viewer=v, scope="location"), BERLIN).slots for v in VIEWERS}
    assert len(samples) > 0.9 * len(VIEWERS)


@pytest.mark.parametrize(
    "changed",
    [
        {"provider": "prov-2"},  # another provider
        {"scope": "location"},  # the same viewer asking the location ("all")
    ],
)
def test_the_seed_depends_on_the_provider_asked_for(changed):
    day = slot_grid(BERLIN, "07:00", 30)
    differs = sum(
        expose(day, make_request(viewer=v), BERLIN) != expose(day, make_request(viewer=v, **changed), BERLIN)
        for v in VIEWERS
    )
    assert differs > len(VIEWERS) // 2


def test_over_many_viewers_every_slot_is_shown_and_none_is_overexposed():
    viewers = [f"session-{n}" for n in range(500)]
    shown: Counter[Slot] = Counter()
    for viewer in viewers:
        shown.update(expose(THREE_PART_DAY, make_request(viewer=viewer), BERLIN).slots)
    assert set(shown) == set(THREE_PART_DAY)  # nobody is starved
    average = sum(shown.values()) / len(THREE_PART_DAY)
    assert max(shown.values()) <= 4 * average  # spreading favours sparse parts, within reason


# --- variant "all" and ordering ----------------------------------------------


def test_the_all_variant_returns_every_slot_sorted_without_more():
    unsorted = list(THREE_PART_DAY)
    random.Random(7).shuffle(unsorted)
    exposure = expose(unsorted, make_request(scope="location"), BERLIN, variant="all")
    assert exposure == Exposure(slots=tuple(THREE_PART_DAY), total=24, has_more=False)


def test_sampled_slots_come_back_sorted_by_start():
    unsorted = list(reversed(THREE_PART_DAY))
    for viewer in VIEWERS[:50]:
        starts = [s.start for s in expose(unsorted, make_request(viewer=viewer, scope="location"), BERLIN).slots]
        assert starts == sorted(starts)


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError):
        expose(THREE_PART_DAY, make_request(), BERLIN, variant="most")  # type: ignore[arg-type]


def test_any_object_with_start_and_end_can_be_exposed():
    @dataclass(frozen=True)
    class Opening:
        start: datetime
        end: datetime

    openings = [Opening(s.start, s.end) for s in reversed(THREE_PART_DAY)]
    exposure = expose(openings, make_request(scope="location"), BERLIN)
    assert 3 <= len(exposure.slots) <= 5 and exposure.total == 24


# --- hour salt ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "salt"),
    [
        (datetime(2027, 3, 14, 10, 0, tzinfo=UTC), "2027-03-14T10"),  # top of the hour
        (datetime(2027, 3, 14, 10, 59, 59, tzinfo=UTC), "2027-03-14T10"),  # end of the same bucket
        (datetime(2027, 3, 14, 11, 30, tzinfo=BERLIN), "2027-03-14T10"),  # a local clock is converted to UTC
        (datetime(2027, 3, 14, 20, 15, tzinfo=NEW_YORK), "2027-03-15T00"),  # the UTC date can be the next day
    ],
)
def test_hour_salt_is_the_utc_hour_bucket(now, salt):
    assert hour_salt(now) == salt


def test_hour_salt_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        hour_salt(datetime(2027, 3, 14, 10, 0))
