"""User API /api/v1: sign-in and availability reads."""
from __future__ import annotations

from collections import defaultdict
from zoneinfo import ZoneInfo

from flask import g, request
from sqlalchemy import select

from app.accounts import EmailNotConfirmed, authenticate
from app.api import api_v1
from app.api import responses as r
from app.api.auth import api_user, issue_token
from app.api.contract import operation
from app.api.exposure_view import sample_day, viewer_key
from app.api.schemas import (
    AppointmentTypesQuery,
    ProviderAvailabilityQuery,
    ProvidersQuery,
    ScopeQuery,
    TokenRequest,
    appointment_type_out,
    iso,
    provider_out,
)
from app.availability import read_cache, reads
from app.errors import BookwellError, not_found
from app.extensions import db
from app.models import AppointmentType, Location, Organization, Provider
from app.ops.metrics import EXPOSED_SLOTS
from app.tenancy import portal_organization, portal_selector


def _organization() -> Organization:
    """The caller's organization, looked up once per request (every read asks it several times)."""
    if "api_organization" not in g:
        user = api_user()
        g.api_organization = db.session.get(Organization, user.organization_id) if user else portal_organization()
    if g.api_organization is None:
        raise not_found("organization")
    return g.api_organization


def _owned(model, row_id, what):
    row = db.session.get(model, row_id) if row_id else None
    if row is None or row.organization_id != _organization().id:
        raise not_found(what)
    return row


@api_v1.post("/auth/token")
@operation("Sign in and get a bearer token", body=TokenRequest, response=r.Token, auth="none", errors=[401, 404],
           idempotent=False)
def token(body: TokenRequest):
    from app.api.password_routes import organization_scope

    scope = organization_scope(body.organization)
    try:
        user = authenticate(body.email, body.password, scope.id if scope else None)
    except EmailNotConfirmed as pending:
        raise BookwellError(401, "UNAUTHENTICATED", pending.message) from pending
    if user is None:
        raise BookwellError(401, "UNAUTHENTICATED", "Email or password is not correct.")
    return issue_token(user)


@api_v1.get("/providers")
@operation("Active providers", query=ProvidersQuery, response=r.ProviderList, auth="optional", errors=[404])
def providers(query: ProvidersQuery):
    org = _organization()
    location_id, type_id = query.location_id, query.appointment_type_id
    query = select(Provider).where(Provider.organization_id == org.id, Provider.is_active).order_by(Provider.display_name)
    found = list(db.session.scalars(query))
    if location_id:
        _owned(Location, location_id, "location")
        found = [p for p in found if any(loc.id == location_id for loc in p.locations)]
    if type_id:
        kind = _owned(AppointmentType, type_id, "appointment type")
        found = [p for p in found if p in kind.providers]
    return {"providers": [provider_out(p) for p in found]}


@api_v1.get("/appointment-types")
@operation("Bookable appointment types", query=AppointmentTypesQuery, response=r.AppointmentTypeList,
           auth="optional", errors=[404])
def appointment_types(query: AppointmentTypesQuery):
    org = _organization()
    provider_id = query.provider_id
    query = (select(AppointmentType).where(AppointmentType.organization_id == org.id, AppointmentType.is_active)
             .order_by(AppointmentType.name))
    found = list(db.session.scalars(query))
    if provider_id:
        _owned(Provider, provider_id, "provider")
        found = [t for t in found if any(p.id == provider_id for p in t.providers)]
    return {"appointment_types": [appointment_type_out(t) for t in found]}


def _scope(query: ScopeQuery):
    """(type, providers, location, scope, scope key, default zone) from the query string."""
    kind = _owned(AppointmentType, query.appointment_type_id, "appointment type")
    provider_id, location_id = query.provider_id, query.location_id
    if provider_id is not None:
        provider = _owned(Provider, provider_id, "provider")
        return kind, reads.providers_for(provider.organization_id, kind, provider.id, None), None, \
            "provider", str(provider.id), provider.timezone
    location = _owned(Location, location_id, "location")
    return kind, reads.providers_for(location.organization_id, kind, None, location), location, \
        "location", "all", location.timezone


def slot_out(slot: reads.OpenSlot, tz: ZoneInfo) -> dict:
    return {"id": slot.id, "start": iso(slot.start), "end": iso(slot.end),
            "local_start": slot.start.astimezone(tz).isoformat(), "local_end": slot.end.astimezone(tz).isoformat(),
            "provider_id": slot.provider_id, "location_id": slot.location_id, "capacity_left": slot.capacity_left}


@api_v1.get("/dates")
@operation("Dates with availability counts", query=ScopeQuery, response=r.DateCounts, auth="optional",
           errors=[404])
def dates(query: ScopeQuery):
    kind, providers, location, _, _, default_tz = _scope(query)
    tz = ZoneInfo(query.timezone or default_tz)
    first, last = query.span()
    counts = reads.date_counts(kind, providers, first, last, tz, location.id if location else None)
    return {"dates": counts, "timezone": tz.key}


@api_v1.get("/slots")
@operation("Exposed slots (a sample; header X-Exposure-Variant: all shows every slot)", query=ScopeQuery,
           response=r.SlotPage, auth="optional", errors=[404])
def slots(query: ScopeQuery):
    # The whole answer is kept per process while the providers' slot versions, the setup and
    # the clock allow (app/availability/read_cache.py): a repeat costs one Redis round trip.
    variant = request.headers.get("X-Exposure-Variant", "").lower() == "all"
    scope_key = ("api-slots", _selector(), request.script_root, request.query_string, variant)

    def providers() -> tuple[str, ...]:
        return tuple(str(p.id) for p in _scope(query)[1])

    def per_request() -> tuple:
        # Only a sampled answer is the viewer's own (the sample is sticky per viewer).
        return (viewer_key(),) if not variant else ()

    page = read_cache.serve(scope_key, providers, per_request, lambda: _slot_page(query, variant))
    EXPOSED_SLOTS.observe(len(page["slots"]))
    return page


def _selector() -> str:
    """Which organization answers, without reading it: the caller's own, else the addressed one."""
    user = api_user()
    if user is not None:
        return f"org:{user.organization_id}"
    return portal_selector()


def _slot_page(query: ScopeQuery, variant: bool) -> dict:
    kind, providers, location, scope, scope_key, default_tz = _scope(query)
    tz = ZoneInfo(query.timezone or default_tz)
    first, last = query.span()
    found = reads.open_slots(kind, providers, first, last, tz, location.id if location else None)
    show_all = variant or not _organization().slot_exposure_enabled
    if show_all:
        return {"slots": [slot_out(s, tz) for s in found], "total": len(found), "has_more": False,
                "timezone": tz.key}
    by_day = defaultdict(list)
    for slot in found:
        by_day[slot.start.astimezone(tz).date()].append(slot)
    shown, total, more = [], 0, False
    for day in sorted(by_day):
        picked, day_total, day_more = sample_day(by_day[day], day, scope, scope_key, str(kind.id), tz)
        shown += picked
        total += day_total
        more = more or day_more
    return {"slots": [slot_out(s, tz) for s in shown], "total": total, "has_more": more, "timezone": tz.key}


@api_v1.get("/providers/<uuid:provider_id>/availability")
@operation("Every open slot of a provider in a range", query=ProviderAvailabilityQuery, response=r.ProviderSlots,
           auth="optional")
def provider_availability(provider_id, query: ProviderAvailabilityQuery):
    provider = _owned(Provider, provider_id, "provider")
    tz = ZoneInfo(query.timezone or provider.timezone)
    first, last = query.span()
    type_id = query.appointment_type_id
    kinds = [t for t in db.session.scalars(
        select(AppointmentType).where(AppointmentType.organization_id == provider.organization_id,
                                      AppointmentType.is_active).order_by(AppointmentType.name))
        if provider in t.providers and (type_id is None or t.id == type_id)]
    if type_id is not None and not kinds:
        raise not_found("appointment type")
    out = []
    for kind in kinds:
        for slot in reads.open_slots(kind, [provider], first, last, tz):
            out.append({**slot_out(slot, tz), "appointment_type_id": str(kind.id)})
    out.sort(key=lambda s: (s["start"], s["appointment_type_id"]))
    return {"slots": out, "total": len(out), "timezone": tz.key}
