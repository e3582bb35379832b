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
        "topic_clusters": pd.DataFrame([
            _cluster("coarse", 0, None, "grief / funeral / loss", 60, 40, 0.0, 0.0),
            _cluster("fine", 1, 0, "funeral / grandmother", 35, 25, -1.0, 0.5),
            _cluster("fine", 2, 0, "loss / pet", 25, 20, 1.0, -0.5)]),
        "topic_hierarchy": pd.DataFrame(),
        "topic_drift": pd.DataFrame([{"from_state": "coaching", "to_state": "companionship", "conversations": 12,
                                      "users": 11}]),
        "user_affective_share": pd.DataFrame([{"week": "2026-01-05", "affective_share": "0", "users": 80,
                                               "conversations": 200}]),
    }


def _cluster(level, cluster, parent, name, conversations, users, x, y):
    return {"scope": "affective", "level": level, "cluster": cluster, "parent": parent, "name": name,
            "conversations": conversations, "users": users, "pushback_rate": 0.1, "referral_rate": 0.05,
            "mean_shift": 0.1, "shift_ci_low": 0.0, "shift_ci_high": 0.2, "withheld": [], "x": x, "y": y}


def test_report_is_one_self_contained_page_with_every_plot(tmp_path):
    paths = write_report(_gold(), tmp_path / "report", {"run id": "r1"})
    page = paths["index"].read_text()
    plots = ("prevalence", "pushback", "sentiment_shift", "topic_map", "drift", "user_share")
    assert page.count("data:image/png;base64,") == len(plots)
    assert all(paths[name].stat().st_size > 1000 for name in plots)
    assert "0.0290" in page and "suppressed_rows" in page and "r1" in page
    assert "No row passed the release thresholds" in page  # the empty reasons table


def test_report_survives_a_table_with_no_released_rows(tmp_path):
    page = write_report(_gold(empty_shift=True), tmp_path, {})["index"].read_text()
    assert page.count("No row passed the release thresholds") == 2


def test_headline_metrics_take_all_conversation_shares_rates_and_shift():
    assert headline_metrics(_gold()) == {
        "share.affective": 0.029, "pushback.all": 0.03, "referral.all": 0.012, "sentiment_shift.affective": 0.2}


def test_topic_tree_opens_each_coarse_topic_on_its_fine_ones(tmp_path):
    page = write_report(_gold(), tmp_path, {})["index"].read_text()
    tree = page[page.index("<details>"):page.index("</details>")]
    assert "grief / funeral / loss (60 conversations, 40 users)" in tree
    assert tree.index("funeral / grandmother (35") < tree.index("loss / pet (25")  # larger first


def test_report_without_topic_tables_says_so(tmp_path):
    gold = {**_gold(), "topic_clusters": pd.DataFrame(), "topic_drift": pd.DataFrame(),
            "user_affective_share": pd.DataFrame()}
    page = write_report(gold, tmp_path, {})["index"].read_text()
    assert "No released topic cluster." in page


def test_a_corrected_figure_is_shown_beside_the_raw_one(tmp_path):
    gold = _gold()
    gold["prevalence"] = gold["prevalence"].assign(
        corrected=[0.021, None], corrected_ci_low=[0.012, None], corrected_ci_high=[0.03, None],
        correction_method=["PPI++", None], labelled_conversations=[400, None])
    page = write_report(gold, tmp_path, {})["index"].read_text()
    prevalence = page[page.index("<h2>Prevalence</h2>"):page.index("<h2>Pushback</h2>")]
    headers = [prevalence.index(f"<th>{column}</th>") for column in ("ci_high", "corrected", "users")]
    assert headers == sorted(headers)
    assert "0.0210" in prevalence and "PPI++" in prevalence
    assert "<th>corrected</th>" not in page[page.index("<h2>Pushback</h2>"):]  # no correction: columns hidden
    assert headline_metrics(gold)["corrected.share.affective"] == 0.021
    assert "corrected.pushback.all" not in headline_metrics(gold)


def test_no_cell_is_nan_an_empty_figure_says_why(tmp_path):
    gold = _gold()
    gold["prevalence"] = gold["prevalence"].assign(
        corrected=[0.021, None], corrected_ci_low=[0.012, None], corrected_ci_high=[0.03, None],
        correction_method=["PPI++", None], labelled_conversations=[400, None])
    withheld = {**_cluster("fine", 3, 0, "pet / vet", 30, 20, 0.5, 0.5), "mean_shift": None,
                "shift_ci_low": None, "shift_ci_high": None, "withheld": ["pushback_reason_mix", "mean_shift"]}
    too_short = {**_cluster("fine", 4, 0, "exam / stress", 30, 20, 0.2, 0.2), "mean_shift": None,
                 "shift_ci_low": None, "shift_ci_high": None}
    gold["topic_clusters"] = pd.concat([gold["topic_clusters"], pd.DataFrame([withheld, too_short])],
                                       ignore_index=True)
    page = write_report(gold, tmp_path, {})["index"].read_text()
    cells = page.replace("<td>", "\n<td>").splitlines()
    assert not [c for c in cells if c.startswith(("<td>NaN", "<td>None", "<td></td>"))]
    prevalence = page[page.index("<h2>Prevalence</h2>"):page.index("<h2>Pushback</h2>")]
    assert prevalence.count("<td>no labelled sample</td>") == 5 and "<td>400</td>" in prevalence
    topics = page[page.index("<h2>Topics</h2>"):page.index("<h2>Long conversations</h2>")]
    assert topics.count("<td>withheld: under the release thresholds</td>") == 3
    assert topics.count("<td>no conversation with 6+ user messages</td>") == 3
    assert "<td>top level</td>" in topics and "<td>pushback_reason_mix, mean_shift</td>" in topics
