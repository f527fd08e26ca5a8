"""Policy numbers from configuration: the design's defaults, ISO 8601 durations, and a clear
refusal naming the variable when a value is bad."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.clock import ScaledClock, SystemClock
from domain.policy import Policy
from domain.time import format_duration, parse_duration
from entrypoints.settings import Settings, SettingsError


def test_without_configuration_the_design_defaults_apply() -> None:
    settings = Settings.from_env({})
    assert settings.policy == Policy()
    assert settings.policy.to_dict() == {
        "free_cancel_window": "P2D",
        "confirm_window": "P1D",
        "min_notice": "P1D",
        "horizon": "P60D",
        "no_show_grace": "PT30M",
        "slot_step": "PT15M",
        "lengths": [30, 45, 60],
        "join_opens_before": "PT15M",
        "provider_late_grace": "PT15M",
        "member_late_grace": "PT15M",
        "min_confirm_time": "PT1H",
        "reminder_lead": "P1D",
    }
    assert settings.database_url.startswith("sqlite:///")


def test_every_policy_number_can_be_configured() -> None:
    policy = Settings.from_env(
        {
            "BOOKING_FREE_CANCEL_WINDOW": "PT72H",
            "BOOKING_CONFIRM_WINDOW": "PT12H",
            "BOOKING_MIN_NOTICE": "PT12H30M",
            "BOOKING_HORIZON": "P2W",
            "BOOKING_NO_SHOW_GRACE": "PT10M",
            "BOOKING_SLOT_STEP": "PT5M",
            "BOOKING_LENGTHS": "20, 50",
            "BOOKING_JOIN_OPENS_BEFORE": "PT5M",
            "BOOKING_PROVIDER_LATE_GRACE": "PT7M",
            "BOOKING_MEMBER_LATE_GRACE": "PT6M",
            "BOOKING_MIN_CONFIRM_TIME": "PT20M",
        }
    ).policy
    assert policy == Policy(
        free_cancel_window=timedelta(hours=72),
        confirm_window=timedelta(hours=12),
        min_notice=timedelta(hours=12, minutes=30),
        horizon=timedelta(days=14),
        no_show_grace=timedelta(minutes=10),
        slot_step=timedelta(minutes=5),
        lengths=(20, 50),
        join_opens_before=timedelta(minutes=5),
        provider_late_grace=timedelta(minutes=7),
        member_late_grace=timedelta(minutes=6),
        min_confirm_time=timedelta(minutes=20),
    )
    assert policy.version != Policy().version


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOOKING_FREE_CANCEL_WINDOW", "48h"),
        ("BOOKING_FREE_CANCEL_WINDOW", "P1M"),  # months have no fixed length
        ("BOOKING_CONFIRM_WINDOW", "PT"),
        ("BOOKING_MIN_NOTICE", "-PT24H"),
        ("BOOKING_HORIZON", "P1Y"),
        ("BOOKING_NO_SHOW_GRACE", "thirty minutes"),
        ("BOOKING_SLOT_STEP", "P"),
        ("BOOKING_LENGTHS", "30;45"),
        ("BOOKING_LENGTHS", "30,,60"),
        ("BOOKING_DATABASE_URL", "mysql://db"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refusal:
        Settings.from_env({variable: value})
    assert variable in str(refusal.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOOKING_MIN_NOTICE", "PT1H"),  # shorter than the confirmation window
        ("BOOKING_CONFIRM_WINDOW", "PT25H"),  # longer than the minimum notice
        ("BOOKING_SLOT_STEP", "PT0S"),
        ("BOOKING_SLOT_STEP", "PT90S"),
        ("BOOKING_LENGTHS", "0"),
        ("BOOKING_LENGTHS", "-30,45"),
        ("BOOKING_MIN_CONFIRM_TIME", "PT0S"),  # a start could leave no time to confirm
        ("BOOKING_PROVIDER_LATE_GRACE", "PT2H"),  # longer than any session and its grace
        ("BOOKING_MEMBER_LATE_GRACE", "PT2H"),  # longer than any session and its grace
        ("BOOKING_MEMBER_LATE_GRACE", "-PT1M"),
        ("BOOKING_MEMBER_LATE_GRACE", "15m"),
    ],
)
def test_a_well_formed_but_unusable_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refusal:
        Settings.from_env({variable: value})
    assert variable in str(refusal.value)


def test_a_policy_that_could_offer_no_confirmable_start_is_refused_naming_every_variable() -> None:
    with pytest.raises(SettingsError) as refusal:
        Settings.from_env(
            {
                "BOOKING_HORIZON": "PT24H",
                "BOOKING_CONFIRM_WINDOW": "PT24H",
                "BOOKING_MIN_CONFIRM_TIME": "PT1H",
            }
        )
    message = str(refusal.value)
    assert all(
        v in message for v in ("BOOKING_HORIZON", "BOOKING_CONFIRM_WINDOW", "BOOKING_MIN_CONFIRM_TIME")
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("PT48H", timedelta(hours=48)),
        ("P60D", timedelta(days=60)),
        ("pt15m", timedelta(minutes=15)),
        ("P1DT30M", timedelta(days=1, minutes=30)),
        ("PT90S", timedelta(seconds=90)),
        ("P2W", timedelta(weeks=2)),
    ],
)
def test_iso_durations_parse_and_render_back(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value
    assert parse_duration(format_duration(value)) == value


def test_the_clock_is_the_system_clock_unless_a_speed_is_set() -> None:
    assert isinstance(Settings.from_env({}).clock(), SystemClock)


def test_a_scaled_clock_runs_speed_times_faster_from_its_origin() -> None:
    origin = datetime.now(UTC) - timedelta(seconds=10)
    settings = Settings.from_env({"BOOKING_CLOCK_SPEED": "60", "BOOKING_CLOCK_ORIGIN": origin.isoformat()})
    clock = settings.clock()
    assert isinstance(clock, ScaledClock)
    ahead = clock.now() - datetime.now(UTC)
    assert timedelta(minutes=9) < ahead < timedelta(minutes=11)  # 10 real seconds read as 10 minutes
    assert clock.real_seconds(timedelta(minutes=1)) == 1.0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BOOKING_CLOCK_SPEED": "fast"}, "BOOKING_CLOCK_SPEED"),
        ({"BOOKING_CLOCK_SPEED": "0"}, "BOOKING_CLOCK_SPEED"),
        ({"BOOKING_CLOCK_SPEED": "10"}, "BOOKING_CLOCK_ORIGIN"),
        ({"BOOKING_CLOCK_SPEED": "10", "BOOKING_CLOCK_ORIGIN": "2026-03-02T09:00"}, "BOOKING_CLOCK_ORIGIN"),
    ],
)
def test_a_bad_clock_setting_is_refused_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_an_unset_member_late_grace_follows_the_configured_provider_late_grace() -> None:
    """A configuration valid before the member's grace existed still starts after the upgrade."""
    short = {"BOOKING_LENGTHS": "1", "BOOKING_NO_SHOW_GRACE": "PT20S", "BOOKING_PROVIDER_LATE_GRACE": "PT10S"}
    assert Settings.from_env(short).policy.member_late_grace == timedelta(seconds=10)
    assert Settings.from_env({}).policy.member_late_grace == timedelta(minutes=15)
    own = Settings.from_env({**short, "BOOKING_MEMBER_LATE_GRACE": "PT5S"}).policy
    assert (own.member_late_grace, own.provider_late_grace) == (timedelta(seconds=5), timedelta(seconds=10))
