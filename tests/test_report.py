from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from jobs.headlines import headline_table
from jobs.report import headline_metrics, label_lifts, write_report


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
    prevalence = page[page.index("<h2>Prevalence</h2>"):page.index("<h2>Pushback</h2>")]
    assert "<td>2.9 %</td>" in prevalence and "<td>1,000</td>" in prevalence
    assert "suppressed_rows" in page and "r1" in page
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
    assert "<td>2.1 %</td>" in prevalence and "PPI++" in prevalence
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
    assert "<td>top level</td>" in topics and "<td>pushback reason mix, mean shift</td>" in topics


SCORES = {"test.use.macro_f1": 0.912, "test.use.n": 277, "test.pushback.f1": 0.793, "test.pushback.precision": 0.855,
          "test.pushback.recall": 0.739, "test.pushback.n": 417}


def _validated(gold, version="m1"):
    """gold with `affective validate`'s scores of the affective use for `version`, and an older version's."""
    rows = [("use_affective", 0.9, 0.8, 0.85, 0.1, 40, version, "v1", "2026-12-01 10:00:00"),
            ("use_affective", 0.1, 0.1, 0.1, 0.9, 40, "older", "v0", "2026-12-02 10:00:00")]
    columns = ["task", "precision", "recall", "f1", "fpr", "support", "model_version", "run_id", "computed_at"]
    return {**gold, "validation_metrics": pd.DataFrame(rows, columns=columns)}


def test_headline_table_sets_the_study_beside_this_run_and_says_how_far_to_trust_each():
    table = headline_table(_validated(_gold()), SCORES, "m1").set_index("Measure")
    affective = table.loc["Affective conversations, share of all conversations"]
    assert (affective["The study"], affective["This run"], affective["95 % interval"], affective["Of (conversations)"],
            affective["Users"]) == ("2.9 %", "2.9 %", "2.0 % to 4.0 %", "1,000", "25")
    assert affective["How far to trust it"] == ("model m1, checked on a human-labelled sample of this data "
                                                "(run v1, 2026-12-01): precision 0.90, recall 0.80 (40 positive)")
    assert affective["Corrected with human labels"].startswith("none: no human-labelled sample")
    pushback = table.loc["Pushback, share of affective conversations"]  # only the `all` row was released
    assert pushback["This run"].startswith("not released: under the release thresholds")
    assert pushback["How far to trust it"] == (
        "not validated on this data; model m1 on the test splits of the public human-labelled sets its model card "
        "names: F1 0.79 (precision 0.85, recall 0.74) on 417 replies")
    shift = table.loc["Sentiment shift, affective conversations with 6+ user messages"]
    assert (shift["This run"], shift["95 % interval"], shift["Of (conversations)"]) == ("+0.200", "+0.100 to +0.300", "40")
    assert shift["How far to trust it"].startswith("not validated: no human-labelled sample of this data, and model m1")
    assert table.loc["Long conversations (50+ user messages), share of all conversations",
                     "How far to trust it"] == "exact: a count of user messages, no model involved"
    assert table.notna().all().all() and (table != "").all().all()


def test_headline_reasons_are_ordered_by_share_over_the_pushback_conversations():
    gold = _gold()
    gold["pushback"] = pd.concat([gold["pushback"], pd.DataFrame([{
        "segment": "affective", "conversations": 300, "users": 200, "pushback_conversations": 20, "rate": 20 / 300,
        "ci_low": 0.04, "ci_high": 0.1}])])
    gold["pushback_reasons"] = pd.DataFrame([("affective", "policy", 5, 5, 0.25), ("affective", "safety", 12, 11, 0.6),
                                             ("affective", "professional", 3, 3, 0.15)],
                                            columns=["segment", "reason", "conversations", "users", "share_of_pushback"])
    reasons = headline_table(gold, {}, "m1").set_index("Measure").loc["Main pushback reasons, affective conversations"]
    assert reasons["This run"] == "safety 60.0 %, policy 25.0 %, professional 15.0 %"
    assert reasons["Of (conversations)"] == "20 that push back"


def test_the_report_opens_on_the_headline_figures_in_a_browser_without_javascript(tmp_path, browser):
    gold = _validated(_gold())
    gold["prevalence"] = gold["prevalence"].assign(
        corrected=[0.021, None], corrected_ci_low=[0.012, None], corrected_ci_high=[0.03, None],
        correction_method=["PPI++", None], labelled_conversations=[400, None])
    page = write_report(gold, tmp_path, {"model version": "m1"}, SCORES, "m1")["index"]
    text = browser(page, tmp_path / "report.png")
    first = text[text.index("Headline figures"):text.index("Prevalence")]
    assert "Affective conversations, share of all conversations 2.9 % 2.9 % 2.0 % to 4.0 % 1,000 25 " \
           "2.1 % (1.2 % to 3.0 %), PPI++ on 400 labelled conversations" in first
    assert "nan" not in text.lower().split() and "NaN" not in text
    image = plt.imread(tmp_path / "report.png")
    assert image.shape[:2] == (2400, 1280) and image.std() > 0.05  # drawn, not a blank page


def test_tables_are_in_the_order_they_describe_with_numbers_formatted(tmp_path):
    gold = _gold()
    gold["pushback_reasons"] = pd.DataFrame(
        [("counseling", "safety", 12, 11, 0.6), ("affective", "policy", 5, 5, 0.25), ("all", "policy", 1500, 900, 0.1),
         ("affective", "safety", 12, 11, 0.6), ("all", "safety", 9000, 4000, 0.9)],
        columns=["segment", "reason", "conversations", "users", "share_of_pushback"])
    page = write_report(gold, tmp_path, {})["index"].read_text()
    reasons = page[page.index("<h3>Reasons</h3>"):page.index("<h2>Referral")]
    rows = [r.split("<td>")[1:3] for r in reasons.split("<tr>")[1:]]
    assert [(s.split("<")[0], r.split("<")[0]) for s, r in rows] == [
        ("all", "safety"), ("all", "policy"), ("affective", "safety"), ("affective", "policy"), ("counseling", "safety")]
    assert "<td>9,000</td>" in reasons and "<td>90.0 %</td>" in reasons
    shift = page[page.index("<h2>Sentiment shift</h2>"):page.index("<h2>Topics</h2>")]
    assert all(f"<td>{v}</td>" in shift for v in ("+0.200", "-0.400", "+0.100", "+0.300"))


def test_topic_map_labels_that_would_overlap_move_apart_and_lone_ones_stay():
    points = pd.DataFrame({"x": [0.0, 0.01, 1.0], "y": [0.0, 0.0, 1.0], "conversations": [50, 80, 10],
                           "name": ["grief / funeral / loss", "exam / stress / sleep", "pet / vet"]})
    assert label_lifts(points) == [1, 0, 0]  # the larger cluster keeps its line


def test_topic_table_lists_affective_first_coarse_before_fine_and_larger_first(tmp_path):
    gold = _gold()
    counseling = {**_cluster("coarse", 0, None, "exam / stress", 90, 70, 0.0, 0.0), "scope": "category:counseling"}
    gold["topic_clusters"] = pd.concat([pd.DataFrame([counseling]), gold["topic_clusters"].iloc[::-1]],
                                       ignore_index=True)
    page = write_report(gold, tmp_path, {})["index"].read_text()
    table = page[page.index("<h2>Topics</h2>"):page.index("<h2>Long conversations</h2>")]
    table = table[table.index("<table"):]
    order = [table.index(f"<td>{name}</td>") for name in
             ("grief / funeral / loss", "funeral / grandmother", "loss / pet", "exam / stress")]
    assert order == sorted(order)
    assert "<td>+0.100</td>" in table
