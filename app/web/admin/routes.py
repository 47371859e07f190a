from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import JobHeartbeat, Notification, Organization
from app.queries import bookings, clinic
from app.web.admin import bp


@bp.get("/")
def home():
    org_id = current_user.organization_id
    return render_template(
        "admin/home.html",
        org=db.session.get(Organization, org_id),
        locations=clinic.locations(org_id),
        providers=clinic.providers(org_id),
        appointment_types=clinic.appointment_types(org_id),
        users_by_role=clinic.users_by_role(org_id),
        booking_counts=bookings.counts_by_status(org_id),
        heartbeat=db.session.get(JobHeartbeat, "heartbeat"),
        failed_notifications=list(db.session.scalars(
            select(Notification).where(Notification.organization_id == org_id, Notification.status == "failed")
            .order_by(Notification.created_at.desc()).limit(20))),
    )


@bp.get("/time-off")
def time_off():
    from app.models import Provider, TimeOff
    from app.web.once import new_token

    org_id = current_user.organization_id
    rows = db.session.execute(
        select(TimeOff, Provider).join(Provider, Provider.id == TimeOff.provider_id)
        .where(TimeOff.organization_id == org_id).order_by(TimeOff.status != "pending", TimeOff.start_at.desc())
        .limit(100)).all()
    from app.clinic.time_off import visits_inside
    from app.models import utcnow

    inside = {item.id: visits_inside(item) for item, _ in rows if item.status == "approved" and item.end_at > utcnow()}
    return render_template("admin/time_off.html", rows=rows, inside=inside, form_token=new_token())


@bp.post("/time-off/<uuid:time_off_id>/<decision>")
def decide_time_off(time_off_id, decision):
    from flask import abort, flash, redirect, url_for

    from app.clinic import setup
    from app.errors import BookwellError
    from app.web.once import run_once

    if decision not in ("approve", "reject"):
        abort(404)

    def handler():
        try:
            _, conflicts = setup.decide_time_off(current_user.organization_id, time_off_id,
                                                    approve=decision == "approve", decided_by=current_user)
        except BookwellError as error:
            if error.status == 404:
                abort(404)  # another clinic's time off is "not found" like everywhere else
            flash(error.message, "warning")
            return redirect(url_for("admin.time_off"), code=303)
        if decision == "approve" and conflicts:
            from app.web.templating import local_time

            names = ", ".join(f"{b.contact_name} ({local_time(b.start_at, b.provider_timezone, '%a %d %b %H:%M')})"
                              for b in conflicts)
            flash(f"Approved. The time is blocked. These appointments fall inside it and need attention: {names}.",
                  "warning")
        else:
            flash("Approved: the time is blocked for booking." if decision == "approve" else "Rejected.", "success")
        return redirect(url_for("admin.time_off"), code=303)

    return run_once(handler)
