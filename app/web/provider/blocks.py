"""The provider's own blocked time and time-off requests: list, add (several days at once),
edit and delete blocks; see requests and decisions, withdraw a pending one, and the visits
inside approved time off, to move them."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.clinic import blocks, time_off
from app.errors import BookwellError
from app.models import AvailabilityException, utcnow
from app.web.dates import parse_day
from app.web.once import new_token, run_once
from app.web.provider import bp
from app.web.staff_actions import form_text


def _today() -> date:
    return utcnow().astimezone(ZoneInfo(blocks.zone_of(current_user.provider))).date()


def _parsed(prefix: str = "") -> tuple[date, date | None, time, time] | str:
    """(first day, last day, from, until) from the form, or the message for what is missing."""
    try:
        first = parse_day(request.form.get(f"{prefix}date", ""))
        last_raw = request.form.get(f"{prefix}last_day") or ""
        last = parse_day(last_raw) if last_raw else None
        start = datetime.strptime(request.form.get(f"{prefix}start_time", ""), "%H:%M").time()
        end = datetime.strptime(request.form.get(f"{prefix}end_time", ""), "%H:%M").time()
    except ValueError:
        return "Give a day and a start and end time like 12:30."
    return first, last, start, end


def _refusal(error: BookwellError) -> str:
    fields = error.details.get("fields", {}) if error.status == 422 else {}
    return next(iter(fields.values()), error.message)


def _blocks_page(status: int = 200):
    provider = current_user.provider
    zone = blocks.zone_of(provider)
    return render_template("provider/blocks.html", provider=provider, tz=zone, today=_today(),
                           items=blocks.upcoming(current_user.organization_id, provider.id),
                           form_token=new_token()), status


@bp.get("/blocks")
def blocks_page():
    return _blocks_page()


def _after(call, done: str):
    try:
        made = call()
    except BookwellError as error:
        flash(_refusal(error), "warning")
    else:
        flash(done, "success")
        made = made if isinstance(made, list) else [made] if isinstance(made, AvailabilityException) else []
        inside = blocks.visits_inside(made)
        if inside:
            zone = ZoneInfo(blocks.zone_of(current_user.provider))
            listed = ", ".join(f"{v.start_at.astimezone(zone):%a %d %b %H:%M} {v.contact_name}" for v in inside[:5])
            more = f" and {len(inside) - 5} more" if len(inside) > 5 else ""
            flash(f"Booked visits inside the blocked time stay booked: {listed}{more}. Move or cancel them from "
                  "the agenda if needed.", "warning")
    return redirect(url_for("provider.blocks_page"), code=303)


@bp.post("/blocks")
def add_blocks():
    parsed = _parsed()
    if isinstance(parsed, str):
        flash(parsed, "warning")
        return redirect(url_for("provider.blocks_page"), code=303)
    first, last, start, end = parsed

    def handler():
        days = ((last or first) - first).days + 1
        return _after(lambda: blocks.add_blocks(
            current_user.organization_id, current_user.provider_id, first_day=first, last_day=last,
            start_time=start, end_time=end, reason=form_text("reason"), created_by_id=current_user.id,
            today=_today()), f"Blocked {start:%H:%M}–{end:%H:%M} on {days} day{'s' if days != 1 else ''}. "
                             "Patients can no longer book it.")

    return run_once(handler)


@bp.post("/blocks/<uuid:block_id>")
def edit_block(block_id):
    parsed = _parsed()
    if isinstance(parsed, str):
        flash(parsed, "warning")
        return redirect(url_for("provider.blocks_page"), code=303)
    day, _, start, end = parsed
    return run_once(lambda: _after(lambda: blocks.update_block(
        current_user.organization_id, current_user.provider_id, block_id, day=day, start_time=start, end_time=end,
        reason=form_text("reason"), today=_today()), "Block saved."))


@bp.post("/blocks/<uuid:block_id>/delete")
def delete_block(block_id):
    return run_once(lambda: _after(lambda: blocks.delete_block(
        current_user.organization_id, current_user.provider_id, block_id),
        "Block removed. Patients can book that time again."))


@bp.get("/time-off")
def time_off_page():
    provider = current_user.provider
    items = time_off.for_provider(current_user.organization_id, provider.id)
    inside = {item.id: time_off.visits_inside(item) for item in items if item.status == "approved"
              and item.end_at > utcnow()}
    return render_template("provider/time_off.html", provider=provider, tz=provider.timezone, items=items,
                           inside=inside, days={item.id: time_off.local_days(item, provider.timezone) for item in items},
                           form_token=new_token())


@bp.post("/time-off/<uuid:time_off_id>/withdraw")
def withdraw_time_off(time_off_id):
    def handler():
        try:
            time_off.withdraw(current_user.organization_id, current_user.provider_id, time_off_id)
        except BookwellError as error:
            flash(error.message, "warning")
        else:
            flash("Request withdrawn.", "success")
        return redirect(url_for("provider.time_off_page"), code=303)

    return run_once(handler)
