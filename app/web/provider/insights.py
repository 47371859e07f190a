"""The provider's insights: four numbers and the demand heatmap."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from app.queries.analytics import provider_insights
from app.web.provider import bp
from app.web.provider.forms import DAY_NAMES


@bp.get("/insights")
def insights():
    provider = current_user.provider
    return render_template("provider/insights.html", provider=provider, day_names=DAY_NAMES,
                           numbers=provider_insights(current_user.organization_id, provider))
