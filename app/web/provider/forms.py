"""The weekly hours editor: seven days, each with a window and up to two breaks."""
from __future__ import annotations

from wtforms import BooleanField, Form, FormField, IntegerField, SelectField, TimeField
from wtforms.validators import InputRequired, NumberRange, Optional

from app.clinic.weekly_hours import MAX_PARALLEL_SESSIONS, DayHours
from app.web.guarded_form import GuardedForm

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
BREAKS = (("break1_start", "break1_end"), ("break2_start", "break2_end"))


class DayForm(Form):
    works = BooleanField("Working")
    start = TimeField("From", validators=[Optional()])
    end = TimeField("Until", validators=[Optional()])
    break1_start = TimeField("Break from", validators=[Optional()])
    break1_end = TimeField("Break until", validators=[Optional()])
    break2_start = TimeField("Second break from", validators=[Optional()])
    break2_end = TimeField("Second break until", validators=[Optional()])


class WeeklyHoursForm(GuardedForm):
    """Fields day1 (Monday) .. day7 (Sunday), each a DayForm; inputs are named "day<N>-start"."""
    parallel_sessions = IntegerField(
        "Patients at the same time", default=1,
        validators=[InputRequired("Give a number."), NumberRange(1, MAX_PARALLEL_SESSIONS)])
    appointment_type_id = SelectField("Preview for", validators=[Optional()], validate_choice=False)

    @property
    def days(self) -> list[DayForm]:
        return [self[f"day{number}"] for number in range(1, 8)]

    def fill(self, week: dict[int, DayHours], parallel_sessions: int) -> None:
        """Show the saved hours (a GET)."""
        for number, entry in enumerate(self.days, start=1):
            hours = week.get(number)
            entry.works.data = hours is not None
            if hours is None:
                continue
            entry.start.data, entry.end.data = hours.start, hours.end
            for (a, b), (start, end) in zip(BREAKS, hours.breaks):
                entry[a].data, entry[b].data = start, end
        self.parallel_sessions.data = parallel_sessions

    def week(self) -> dict[int, DayHours] | None:
        """The hours as typed, or None after putting an error on each field that is incomplete."""
        week: dict[int, DayHours] = {}
        complete = True
        for number, entry in enumerate(self.days, start=1):
            if not entry.works.data:
                continue
            if entry.start.data is None or entry.end.data is None:
                missing = entry.start if entry.start.data is None else entry.end
                if not missing.errors:
                    missing.errors = [*missing.errors, "Give a time like 09:00."]
                complete = False
                continue
            breaks = []
            for a, b in BREAKS:
                start, end = entry[a].data, entry[b].data
                if (start is None) != (end is None):
                    entry[a].errors = [*entry[a].errors, "Give both ends of the break, or neither."]
                    complete = False
                elif start is not None:
                    breaks.append((start, end))
            week[number] = DayHours(entry.start.data, entry.end.data, tuple(sorted(breaks)))
        return week if complete else None

    def show_service_errors(self, fields: dict[str, str]) -> None:
        """Put the service's "day<N>.<field>" errors on the matching inputs."""
        names = {"start": "start", "end": "end", "break0": "break1_start", "break1": "break2_start"}
        for key, message in fields.items():
            if key == "parallel_sessions":
                self.parallel_sessions.errors = [*self.parallel_sessions.errors, message]
                continue
            day, _, field = key.partition(".")
            number = int(day.removeprefix("day")) if day.removeprefix("day").isdigit() else 0
            if 1 <= number <= 7 and field in names:
                target = self.days[number - 1][names[field]]
                target.errors = [*target.errors, message]


for _number, _name in enumerate(DAY_NAMES, start=1):
    setattr(WeeklyHoursForm, f"day{_number}", FormField(DayForm, _name))
