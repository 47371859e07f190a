from flask import render_template
from flask_login import current_user

from app.extensions import db
from sqlalchemy import select

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
