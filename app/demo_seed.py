"""The demo clinic: two locations in different zones, four clinicians, four visit
types, a user for every role and bookings in several states.

Idempotent: the whole clinic is written in one transaction, keyed by the
organization slug, so a second run changes nothing.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import crypto
from app.booking.occupancy import free_room_seat, free_seat
from app.database import write_transaction
from app.extensions import db
from app.models import (
    OCCUPYING_STATUSES, AppointmentType, AvailabilityBreak, AvailabilityRule, Booking, BookingEvent, Location, Organization,
    PatientProfile, Provider, Room, User, utcnow, weekday_mask,
)
from app.passwords import hash_password

DEMO_SLUG = "demo"
DEMO_PASSWORD = "bookwell-demo"
DOMAIN = "riverside.example"  # RFC 2606 reserved: never a real mailbox
DEMO_LOGINS = [
    ("admin", f"admin@{DOMAIN}"),
    ("manager", f"manager@{DOMAIN}"),
    ("frontdesk", f"frontdesk@{DOMAIN}"),
    ("provider", f"weber@{DOMAIN}"),
    ("provider", f"chen@{DOMAIN}"),
    ("patient", f"patient@{DOMAIN}"),
    ("patient", f"olivia@{DOMAIN}"),
]

# provider key: (name, specialty, location key, [(days, start, end, [breaks])])
PROVIDERS = {
    "weber": ("Dr. Anna Weber", "General practice", "berlin",
              [([1, 2, 3, 4, 5], "08:00", "16:00", [("12:00", "13:00")])]),
    "fischer": ("Jonas Fischer", "Physiotherapy", "berlin",
                [([1, 3, 5], "09:00", "17:00", [("12:30", "13:30")]),
                 ([2, 4], "12:00", "20:00", [("15:30", "16:00")])]),
    "chen": ("Dr. Maya Chen", "Dermatology", "nyc",
             [([1, 2, 3, 4], "09:00", "17:00", [("12:00", "13:00")])]),
    "rivera": ("Sam Rivera", "Nutrition counselling", "nyc",
               [([2, 3, 4, 5, 6], "10:00", "18:00", [("13:00", "14:00")])]),
}


def _t(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _user(org: Organization, email: str, role: str, name: str, provider: Provider | None = None) -> User:
    user = User(organization_id=org.id, email=email, email_index=crypto.email_index(email),
                password_hash=hash_password(DEMO_PASSWORD), role=role, full_name=name,
                provider_id=provider.id if provider else None)
    db.session.add(user)
    return user


def seed_demo(now: datetime | None = None) -> bool:
    """Create the demo clinic; False when it already exists."""
    now = now or utcnow()
    with write_transaction():
        if db.session.scalars(select(Organization).where(Organization.slug == DEMO_SLUG)).first():
            return False
        from app.clinic.organization import default_hold_minutes  # (app.accounts imports this module)

        org = Organization(name="Riverside Health", slug=DEMO_SLUG, hold_minutes=default_hold_minutes())
        db.session.add(org)
        locations = {
            "berlin": Location(organization=org, name="Berlin Mitte", timezone="Europe/Berlin",
                               address="Torstraße 101, 10119 Berlin", phone="+49 30 1234567"),
            "nyc": Location(organization=org, name="New York Midtown", timezone="America/New_York",
                            address="350 Fifth Avenue, New York, NY 10118", phone="+1 212 555 0100"),
        }
        db.session.add_all(locations.values())
        db.session.flush()
        rooms = {
            "b1": Room(organization_id=org.id, location=locations["berlin"], name="Room 1"),
            "b2": Room(organization_id=org.id, location=locations["berlin"], name="Room 2"),
            "group": Room(organization_id=org.id, location=locations["berlin"], name="Group studio", capacity=8),
            "n1": Room(organization_id=org.id, location=locations["nyc"], name="Suite A"),
            "n2": Room(organization_id=org.id, location=locations["nyc"], name="Suite B"),
            "video": Room(organization_id=org.id, location=locations["nyc"], name="Video room", is_virtual=True),
        }
        db.session.add_all(rooms.values())

        providers: dict[str, Provider] = {}
        for key, (name, specialty, loc_key, windows) in PROVIDERS.items():
            location = locations[loc_key]
            provider = Provider(organization_id=org.id, display_name=name, specialty=specialty,
                                timezone=location.timezone, locations=[location])
            db.session.add(provider)
            db.session.flush()
            providers[key] = provider
            for days, start, end, breaks in windows:
                db.session.add(AvailabilityRule(
                    organization_id=org.id, provider_id=provider.id, location_id=location.id,
                    weekday_mask=weekday_mask(days), start_time=_t(start), end_time=_t(end),
                    breaks=[AvailabilityBreak(organization_id=org.id, start_time=_t(a), end_time=_t(b))
                            for a, b in breaks],
                ))

        types = {
            "consult": AppointmentType(
                organization_id=org.id, name="General consultation", duration_minutes=30,
                buffer_after_minutes=5, price_cents=6000, currency="EUR", min_notice_minutes=120,
                cancel_notice_minutes=24 * 60, max_reschedules=2,
                description="A first visit or a check-up with a general practitioner.",
                providers=[providers["weber"], providers["chen"]]),
            "physio": AppointmentType(
                organization_id=org.id, name="Physiotherapy session", duration_minutes=45,
                buffer_before_minutes=5, buffer_after_minutes=10, price_cents=8500, currency="EUR",
                requires_approval=True, cancel_notice_minutes=48 * 60,
                description="Assessment and treatment; the clinic confirms each request.",
                providers=[providers["fischer"]], default_location_id=locations["berlin"].id),
            "group": AppointmentType(
                organization_id=org.id, name="Back-care group class", duration_minutes=60, seats=6,
                price_cents=2500, currency="EUR", slot_interval_minutes=60,
                description="A guided exercise class for up to six people.",
                providers=[providers["fischer"]], default_location_id=locations["berlin"].id,
                default_room_id=rooms["group"].id),
            "video": AppointmentType(
                organization_id=org.id, name="Video follow-up", duration_minutes=20, mode="video",
                price_cents=4000, currency="USD", buffer_after_minutes=5,
                description="A short follow-up by video call.",
                providers=[providers["chen"], providers["rivera"], providers["weber"]]),
        }
        db.session.add_all(types.values())

        _user(org, f"admin@{DOMAIN}", "admin", "Alex Admin")
        _user(org, f"manager@{DOMAIN}", "manager", "Morgan Manager")
        _user(org, f"frontdesk@{DOMAIN}", "frontdesk", "Frankie Desk")
        for key, provider in providers.items():
            _user(org, f"{key}@{DOMAIN}", "provider", provider.display_name, provider)
        patient = _user(org, f"patient@{DOMAIN}", "patient", "Paula Patient")
        olivia = _user(org, f"olivia@{DOMAIN}", "patient", "Olivia Park")
        db.session.flush()
        db.session.add_all([
            PatientProfile(organization_id=org.id, user_id=patient.id, phone="+4915112345678",
                           timezone="Europe/Berlin", notify_sms=True),
            PatientProfile(organization_id=org.id, user_id=olivia.id, phone="+12125550123",
                           timezone="America/New_York"),
        ])
        _seed_bookings(org, now, locations, rooms, providers, types, patient, olivia)
    return True


def _on_weekday(now: datetime, tz: str, weekday: int, hhmm: str, weeks: int = 0) -> datetime:
    """The next local ISO `weekday` (strictly after today), shifted by whole weeks, at hh:mm, in UTC."""
    today = now.astimezone(ZoneInfo(tz)).date()
    ahead = (weekday - today.isoweekday()) % 7 or 7
    day: date = today + timedelta(days=ahead + 7 * weeks)
    return datetime.combine(day, _t(hhmm), tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def _today(now: datetime, tz: str, hhmm: str) -> datetime:
    day = now.astimezone(ZoneInfo(tz)).date()
    return datetime.combine(day, _t(hhmm), tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def _seed_bookings(org, now, locations, rooms, providers, types, patient, olivia) -> None:
    berlin, nyc = "Europe/Berlin", "America/New_York"
    rows = [
        # (patient, guest, provider, type, location, room, start, status, extra)
        (patient, None, "weber", "consult", "berlin", "b1", _on_weekday(now, berlin, 2, "09:00"), "confirmed", {}),
        (patient, None, "fischer", "physio", "berlin", "b2", _on_weekday(now, berlin, 3, "10:00"), "pending", {}),
        (None, "Lena Braun", "fischer", "physio", "berlin", "b2", _on_weekday(now, berlin, 5, "14:00"), "pending", {}),
        (None, "Lena Braun", "fischer", "group", "berlin", "group", _on_weekday(now, berlin, 4, "17:00"), "confirmed", {}),
        (patient, None, "fischer", "group", "berlin", "group", _on_weekday(now, berlin, 4, "17:00"), "confirmed", {}),
        (patient, None, "weber", "consult", "berlin", "b1", _on_weekday(now, berlin, 2, "10:00", weeks=-2), "completed", {}),
        (olivia, None, "chen", "consult", "nyc", "n1", _on_weekday(now, nyc, 1, "14:00"), "confirmed", {}),
        (olivia, None, "chen", "video", "nyc", "video", _on_weekday(now, nyc, 4, "11:00"), "cancelled",
         {"cancelled_by": "patient", "cancel_reason": "Feeling better"}),
        (olivia, None, "chen", "consult", "nyc", "n1", _on_weekday(now, nyc, 3, "09:30", weeks=-2), "no_show", {}),
        (olivia, None, "rivera", "video", "nyc", "video", _on_weekday(now, nyc, 2, "15:00"), "declined", {}),
        (olivia, None, "rivera", "video", "nyc", "video", _on_weekday(now, nyc, 3, "16:00"), "expired",
         {"hold_expires_at": now - timedelta(minutes=5)}),
        (None, "Marcus Reed", "rivera", "video", "nyc", "video", _today(now, nyc, "16:00"), "confirmed", {}),
    ]
    for who, guest, prov, type_key, loc, room, start, status, extra in rows:
        kind = types[type_key]
        end = start + timedelta(minutes=kind.duration_minutes)
        booking = Booking(
            organization_id=org.id, patient_id=who.id if who else None, guest_name=guest,
            guest_email=f"{guest.split()[0].lower()}@example.com" if guest else None,
            provider_id=providers[prov].id, appointment_type_id=kind.id, location_id=locations[loc].id,
            room_id=rooms[room].id, start_at=start, end_at=end,
            block_start_at=start - timedelta(minutes=kind.buffer_before_minutes),
            block_end_at=end + timedelta(minutes=kind.buffer_after_minutes),
            status=status, source="staff" if guest else "portal",
            patient_timezone=locations[loc].timezone, provider_timezone=providers[prov].timezone,
            confirmed_at=now if status in ("confirmed", "completed", "no_show") else None,
            **extra,
        )
        if status in OCCUPYING_STATUSES:  # demo bookings hold their places like any other
            booking.seat = free_seat(booking.provider_id, booking.block_start_at, booking.block_end_at)
            booking.room_seat = free_room_seat(booking.room_id, booking.block_start_at, booking.block_end_at)
        db.session.add(booking)
        db.session.flush()
        db.session.add(BookingEvent(
            organization_id=org.id, booking_id=booking.id, actor_role="system", action="seeded",
            to_status=status, data={"source": "demo"}, published_at=now,
        ))


# --- the demo week (issue 12): enough of everything that every staff page shows something real ---

WEEK_MARKER_GUEST = "Tomasz Nowak"  # a guest who calls by phone; his bookings mark the week as seeded
WEEK_PATIENTS = [("jonas.becker", "Jonas Becker", "+4917612345670", "Europe/Berlin"),
                 ("amara.okafor", "Amara Okafor", "+12125550188", "America/New_York")]


def seed_demo_week(now: datetime | None = None) -> bool:
    """Add a busy week to the demo clinic: bookings in every state over the coming days,
    requests awaiting approval for two clinicians (a skin check with Dr. Chen needs approval
    too), a block, approved multi-day time off with a visit inside it, a pending and a
    rejected request, and a guest known only by phone. Idempotent: False when the demo
    clinic is missing or the week is already there."""
    from app.models import AvailabilityException, TimeOff

    now = now or utcnow()
    with write_transaction():
        org = db.session.scalars(select(Organization).where(Organization.slug == DEMO_SLUG)).first()
        if org is None or db.session.scalars(select(Booking.id).where(
                Booking.organization_id == org.id, Booking.guest_name == WEEK_MARKER_GUEST).limit(1)).first():
            return False
        providers = {p.display_name.split()[-1].lower(): p for p in db.session.scalars(
            select(Provider).where(Provider.organization_id == org.id))}
        locations = {loc.timezone: loc for loc in org.locations}
        berlin, nyc = locations["Europe/Berlin"], locations["America/New_York"]
        types = {t.name: t for t in db.session.scalars(select(AppointmentType).where(
            AppointmentType.organization_id == org.id))}
        rooms = {r.name: r for r in db.session.scalars(select(Room).where(Room.organization_id == org.id))}
        skin = AppointmentType(
            organization_id=org.id, name="Skin check", duration_minutes=20, buffer_after_minutes=10,
            price_cents=7000, currency="USD", requires_approval=True, cancel_notice_minutes=24 * 60,
            description="A mole and skin check; the clinic confirms each request.",
            providers=[providers["chen"]], default_location_id=nyc.id)
        db.session.add(skin)
        types["Skin check"] = skin
        secret = hash_password(DEMO_PASSWORD)
        people = {}
        for key, name, phone, zone in WEEK_PATIENTS:
            user = User(organization_id=org.id, email=f"{key}@{DOMAIN}", email_index=crypto.email_index(
                f"{key}@{DOMAIN}"), password_hash=secret, role="patient", full_name=name)
            db.session.add(user)
            db.session.flush()
            db.session.add(PatientProfile(organization_id=org.id, user_id=user.id, phone=phone, timezone=zone))
            people[name] = user
        for email in (f"patient@{DOMAIN}", f"olivia@{DOMAIN}"):
            user = db.session.scalars(select(User).where(User.email_index == crypto.email_index(email))).one()
            people[user.full_name] = user
        _seed_week_bookings(org, now, providers, types, rooms, berlin, nyc, people)

        def day(zone: str, ahead: int, weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)) -> date:
            found, today = 0, now.astimezone(ZoneInfo(zone)).date()
            current = today
            while found < ahead:
                current += timedelta(days=1)
                found += current.isoweekday() in weekdays
            return current

        def local(zone: str, on: date, hhmm: str) -> datetime:
            return datetime.combine(on, _t(hhmm), tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))

        block_day = day(berlin.timezone, 2)
        db.session.add(AvailabilityException(
            organization_id=org.id, provider_id=providers["weber"].id, status="blocked",
            start_at=local(berlin.timezone, block_day, "14:00"), end_at=local(berlin.timezone, block_day, "15:30"),
            reason="Team meeting"))
        # Sam Rivera: three days off next week, approved, with a visit already booked inside
        first_off = now.astimezone(ZoneInfo(nyc.timezone)).date() + timedelta(days=3)
        first_off += timedelta(days=(3 - first_off.isoweekday()) % 7)  # a Wednesday at least 3 days ahead
        off_start, off_end = local(nyc.timezone, first_off, "00:00"), local(nyc.timezone, first_off + timedelta(days=3), "00:00")
        manager = db.session.scalars(select(User).where(User.email_index == crypto.email_index(f"manager@{DOMAIN}"))).one()
        db.session.add_all([
            TimeOff(organization_id=org.id, provider_id=providers["rivera"].id, start_at=off_start, end_at=off_end,
                    reason="Conference in Chicago", status="approved", decided_by_id=manager.id,
                    decided_at=now),
            TimeOff(organization_id=org.id, provider_id=providers["fischer"].id,
                    start_at=local(berlin.timezone, day(berlin.timezone, 15), "00:00"),
                    end_at=local(berlin.timezone, day(berlin.timezone, 17), "00:00"), reason="Family visit"),
            TimeOff(organization_id=org.id, provider_id=providers["weber"].id,
                    start_at=local(berlin.timezone, day(berlin.timezone, 8), "00:00"),
                    end_at=local(berlin.timezone, day(berlin.timezone, 9), "00:00"), reason="Course",
                    status="rejected", decided_by_id=manager.id, decided_at=now),
        ])
        _week_booking(org, now, None, "Amara Okafor", providers["rivera"], types["Video follow-up"], nyc,
                      rooms["Video room"], local(nyc.timezone, first_off + timedelta(days=1), "11:00"), "confirmed",
                      people=people)
    return True


def _week_booking(org, now, guest_phone, who, provider, kind, location, room, start, status, *, people,
                  guest_email=None, **extra) -> Booking:
    end = start + timedelta(minutes=kind.duration_minutes)
    patient = people.get(who)
    booking = Booking(
        organization_id=org.id, patient_id=patient.id if patient else None, guest_name=None if patient else who,
        guest_phone=None if patient else guest_phone, guest_email=None if patient else guest_email,
        provider_id=provider.id, appointment_type_id=kind.id, location_id=location.id,
        room_id=room.id if room else None, start_at=start, end_at=end,
        block_start_at=start - timedelta(minutes=kind.buffer_before_minutes),
        block_end_at=end + timedelta(minutes=kind.buffer_after_minutes), status=status,
        source="portal" if patient else "staff", patient_timezone=location.timezone,
        provider_timezone=provider.timezone,
        confirmed_at=now if status in ("confirmed", "completed", "no_show") else None,
        hold_expires_at=now + timedelta(minutes=org.hold_minutes) if status == "held" else None, **extra)
    if status in OCCUPYING_STATUSES:  # demo bookings hold their places like any other
        booking.seat = free_seat(booking.provider_id, booking.block_start_at, booking.block_end_at)
        booking.room_seat = free_room_seat(booking.room_id, booking.block_start_at, booking.block_end_at)
    db.session.add(booking)
    db.session.flush()
    db.session.add(BookingEvent(organization_id=org.id, booking_id=booking.id, actor_role="system",
                                action="seeded", to_status=status, data={"source": "demo-week"}, published_at=now))
    return booking


def _seed_week_bookings(org, now, providers, types, rooms, berlin, nyc, people) -> None:
    b, n = berlin.timezone, nyc.timezone

    def on(zone: str, offset: int, hhmm: str, weekdays=(1, 2, 3, 4, 5)) -> datetime:
        """The `offset`-th working day from today (0 = today, negative = before), at hh:mm local."""
        today = now.astimezone(ZoneInfo(zone)).date()
        current, step, left = today, (1 if offset >= 0 else -1), abs(offset)
        while left or current.isoweekday() not in weekdays:
            current += timedelta(days=step)
            if current.isoweekday() in weekdays:
                left = max(0, left - 1)
        return datetime.combine(current, _t(hhmm), tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))

    tomasz, phone = WEEK_MARKER_GUEST, "+493012345678"
    consult, physio, video, skin = (types["General consultation"], types["Physiotherapy session"],
                                    types["Video follow-up"], types["Skin check"])
    weber, fischer, chen, rivera = providers["weber"], providers["fischer"], providers["chen"], providers["rivera"]
    tue_thu = (2, 4)
    rows = [
        # Dr. Weber, Berlin: a full-looking week
        ("Jonas Becker", weber, consult, berlin, "Room 1", on(b, 1, "08:00"), "confirmed", {}),
        (tomasz, weber, consult, berlin, "Room 1", on(b, 1, "11:00"), "confirmed", {}),
        ("Paula Patient", weber, consult, berlin, "Room 1", on(b, 2, "11:30"), "confirmed", {}),
        ("Jonas Becker", weber, consult, berlin, "Room 1", on(b, 3, "13:30"), "cancelled",
         {"cancelled_by": "staff", "cancel_reason": "Dr. Weber is at a course"}),
        ("Jonas Becker", weber, consult, berlin, "Room 1", on(b, 4, "10:30"), "confirmed", {}),
        (tomasz, weber, consult, berlin, "Room 1", on(b, -2, "11:00"), "completed", {}),
        ("Jonas Becker", weber, consult, berlin, "Room 1", on(b, -1, "15:00"), "no_show", {}),
        # Jonas Fischer, Berlin: requests waiting for the front desk, one declined
        (tomasz, fischer, physio, berlin, "Room 2", on(b, 2, "11:00", (1, 3, 5)), "pending", {}),
        ("Jonas Becker", fischer, physio, berlin, "Room 2", on(b, 1, "13:00", tue_thu), "confirmed", {}),
        ("Paula Patient", fischer, physio, berlin, "Room 2", on(b, 3, "15:00", (1, 3, 5)), "declined",
         {"cancel_reason": "Please book the group class first"}),
        # Dr. Chen, New York: skin checks need approval too
        ("Olivia Park", chen, skin, nyc, "Suite A", on(n, 1, "11:30", (1, 2, 3, 4)), "pending", {}),
        ("Amara Okafor", chen, skin, nyc, "Suite A", on(n, 2, "15:00", (1, 2, 3, 4)), "pending", {}),
        ("Amara Okafor", chen, consult, nyc, "Suite A", on(n, 3, "10:00", (1, 2, 3, 4)), "confirmed", {}),
        ("Olivia Park", chen, consult, nyc, "Suite B", on(n, -1, "16:00", (1, 2, 3, 4)), "completed", {}),
        # Sam Rivera, New York (video): one time held right now
        ("Amara Okafor", rivera, video, nyc, "Video room", on(n, 2, "11:00", (2, 3, 4, 5, 6)), "confirmed", {}),
        ("Olivia Park", rivera, video, nyc, "Video room", on(n, 3, "15:00", (2, 3, 4, 5, 6)), "held", {}),
    ]
    for who, provider, kind, location, room, start, status, extra in rows:
        _week_booking(org, now, phone if who == tomasz else None, who, provider, kind, location, rooms[room], start,
                      status, people=people, **extra)
