from __future__ import annotations

import pandas as pd

from jobs.pipeline import headline_metrics
from jobs.report import write_report


def _gold(empty_shift: bool = False):
    shift = pd.DataFrame([{"segment": "affective", "conversations": 40, "users": 30, "mean_start": -0.4,
                           "mean_end": -0.2, "mean_shift": 0.2, "ci_low": 0.1, "ci_high": 0.3}])
    return {
        "prevalence": pd.DataFrame([
            {"measure": "affective", "population": "all conversations", "conversations": 29, "denominator": 1000,
             "share": 0.029, "ci_low": 0.02, "ci_high": 0.04, "users": 25},
            {"measure": "counseling", "population": "affective conversations", "conversations": 9,
             "denominator": 29, "share": 0.31, "ci_low": 0.17, "ci_high": 0.49, "users": 9}]),
        "pushback": pd.DataFrame([{"segment": "all", "conversations": 1000, "users": 600,
                                   "pushback_conversations": 30, "rate": 0.03, "ci_low": 0.02, "ci_high": 0.04}]),
        "pushback_reasons": pd.DataFrame(columns=["segment", "reason", "conversations", "users", "share_of_pushback"]),
        "referral": pd.DataFrame([{"segment": "all", "conversations": 1000, "users": 600,
                                   "referral_conversations": 12, "rate": 0.012, "ci_low": 0.007, "ci_high": 0.02}]),
        "sentiment_shift": shift.iloc[0:0] if empty_shift else shift,
        "suppressed": pd.DataFrame([{"table_name": "pushback", "suppressed_rows": 4}]),
    }


def test_report_is_one_self_contained_page_with_three_plots(tmp_path):
    paths = write_report(_gold(), tmp_path / "report", {"run id": "r1"})
    page = paths["index"].read_text()
    assert page.count("data:image/png;base64,") == 3
    assert all(paths[name].stat().st_size > 1000 for name in ("prevalence", "pushback", "sentiment_shift"))
    assert "0.0290" in page and "suppressed_rows" in page and "r1" in page
    assert "No row passed the release thresholds" in page  # the empty reasons table


def test_report_survives_a_table_with_no_released_rows(tmp_path):
    page = write_report(_gold(empty_shift=True), tmp_path, {})["index"].read_text()
    assert page.count("No row passed the release thresholds") == 2


def test_headline_metrics_take_all_conversation_shares_rates_and_shift():
    assert headline_metrics(_gold()) == {
        "share.affective": 0.029, "pushback.all": 0.03, "referral.all": 0.012, "sentiment_shift.affective": 0.2}
