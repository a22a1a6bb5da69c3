"""E-mail links open the dashboard where the problem is: the alert page by rule and scope,
and for every catalog metric with records, the drill-down page with filters that
``app.shaping.drill`` reads back (a dataset the dashboard really has, the scope, the window)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from alerting.links import alert_url, records_of, records_url
from app.access import PAGES
from app.data.datasets import DATASETS
from app.shaping.alerts import from_link
from app.shaping.drill import from_query_params
from metrics.catalog import CATALOG

UNTIL = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(hours=24)
PAGE_PATHS = {p.url_path for p in PAGES}


def _parsed(url: str):
    parts = urlsplit(url)
    return parts.path.lstrip("/"), from_query_params(parse_qs(parts.query))


@pytest.mark.parametrize("metric", sorted(CATALOG))
def test_every_metric_links_to_a_record_set_the_dashboard_has(metric: str) -> None:
    scope = {"facility": "FAC01", "channel": "FAC01_CHG_OUT", "source": "billing"}
    url = records_url("http://dash:8501/", metric, scope, SINCE, UNTIL, {"reason": "no_crosswalk"})
    target = records_of(metric)
    if target is None:
        # the exception queue has its page; DNFB's encounters are listed on Revenue cycle
        # (a stock at the claims horizon that no windowed record filter reproduces)
        assert url == "" and metric in ("open_exceptions", "dnfb_usd", "dnfb_days")
        return
    page, filters = _parsed(url)
    assert page == "drilldown" and page in PAGE_PATHS
    assert filters.dataset == target[0] and target[0] in DATASETS  # not the fallback
    assert (filters.facilities, filters.since, filters.until) == (("FAC01",), SINCE, UNTIL)
    if filters.status:
        assert filters.status in DATASETS[filters.dataset].status_values
    if filters.dataset == "mappings":
        assert filters.status == "no_crosswalk"
    if filters.dataset == "messages":
        assert filters.channel == "FAC01_CHG_OUT"
    if filters.dataset == "api_calls":
        assert filters.channel == "billing"


def test_alert_link_names_the_instance_for_the_alert_page() -> None:
    url = alert_url("http://dash:8501", "nack-rate", {"facility": "FAC01",
                                                       "channel": "FAC01_CHG_OUT"})
    parts = urlsplit(url)
    assert parts.path == "/alerts" and "alerts" in PAGE_PATHS
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    assert params == {"rule": "nack-rate", "facility": "FAC01", "channel": "FAC01_CHG_OUT"}

    row = SimpleNamespace(rule_id="nack-rate", scope={"facility": "FAC01",
                                                      "channel": "FAC01_CHG_OUT"})
    other = SimpleNamespace(rule_id="nack-rate", scope={"facility": "FAC02",
                                                        "channel": "FAC02_OUT"})
    assert from_link([other, row], params) is row  # type: ignore[list-item]


@pytest.mark.parametrize("metric", ["underpaid_lines", "underpayment_usd"])
def test_an_underpayment_link_opens_the_payers_remittance_lines(metric: str) -> None:
    url = records_url("http://dash:8501", metric, {"facility": "FAC01", "payer": "99202"},
                      SINCE, UNTIL)
    page, filters = _parsed(url)
    assert (page, filters.dataset, filters.facilities, filters.channel) == (
        "drilldown", "remittance_lines", ("FAC01",), "99202")
    assert DATASETS["remittance_lines"].channel_column == "payer_id"
