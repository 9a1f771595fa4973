"""AppTest of the pages: every page runs from the entrypoint, and the behaviours an analyst relies on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import pipeline, store
from analysis.thresholds import Thresholds
from pages.common import i18n, ui

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
PAGES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "pages").glob("*.py"))
TIMEOUT = 120  # the demo load on an empty store takes a few seconds on 2 cores


@pytest.fixture
def db(db_path) -> Path:
    """An empty store file for this test (conftest's db_path: $LOANFLOW_DB set, caches cleared)."""
    return db_path


def tiny_dataset(db: Path) -> str:
    """Store one overdue loan L1 of 1,000.00 into A1 that pays 50.00 to each of 12 accounts B01..B12.

    Hand-worked outcome under any rule: 600.00 leaves to accounts that send nothing (left_dataset),
    400.00 never moves (not_moved); the path graph has 13 accounts.
    """
    payees = [f"B{i:02d}" for i in range(1, 13)]
    frames = {
        "customers": pd.DataFrame({"customer_id": ["C1"], "name": ["Borrower One"], "customer_type": ["individual"]}),
        "accounts": pd.DataFrame({"account_id": ["A1", *payees], "customer_id": ["C1", *[None] * 12]}),
        "loans": pd.DataFrame({"loan_id": ["L1"], "customer_id": ["C1"], "account_id": ["A1"],
                               "principal_cents": [100000], "currency": ["CNY"], "disbursed_at": ["2024-01-01T09:00:00"],
                               "status": ["overdue"], "dpd": [45], "overdue_cents": [20000],
                               "outstanding_cents": [90000]}),
        "transactions": pd.DataFrame({
            "txn_id": [f"T{i:02d}" for i in range(1, 13)], "seq": list(range(1, 13)),
            "ts": [f"2024-01-{i + 1:02d}T10:00:00" for i in range(1, 13)], "from_account": ["A1"] * 12,
            "to_account": payees, "amount_cents": [5000] * 12, "currency": ["CNY"] * 12, "channel": ["transfer"] * 12}),
    }
    return store.save_dataset(frames, name="tiny", path=db)


def app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_every_page_runs_on_the_demo(db, page):
    at = app().run()
    assert not at.exception
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_every_page_runs_on_a_tiny_dataset_after_a_trace(db, page):
    tiny_dataset(db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).click().run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_a_page_opened_without_the_entrypoint_draws_its_own_sidebar(db, page):
    # a deep link on a fresh server runs the page in legacy pages/ mode, without app.py
    tiny_dataset(db)
    at = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.radio(key="_w_lang").value == "en"
    assert at.sidebar.selectbox(key="_w_dataset").value is not None


def test_the_demo_loads_once_into_an_empty_store(db):
    at = app().run()
    assert not at.exception
    listed = store.list_datasets(db)
    assert listed["name"].tolist() == ["demo"]
    assert at.sidebar.selectbox(key="_w_dataset").value == listed.loc[0, "dataset_id"]
    assert store.table_counts(listed.loc[0, "dataset_id"], path=db)["loans"] > 0
    at.run()
    app().run()  # a second session on the same store
    assert len(store.list_datasets(db)) == 1


def test_the_same_upload_twice_is_imported_once(db):
    tiny_dataset(db)
    csv = b'loan_id,account_id,principal,disbursed_at,status\nL9,A9,"1,000.00",2024-01-01,overdue\nL10,A10,250,2024-02-01,current\n'
    at = app().run()
    at.switch_page("pages/data.py").run()
    read = "FormSubmitter:upload_form-" + i18n.EN["data.upload.read"]
    at.file_uploader(key="data_files").set_value([("loans.csv", csv, "text/csv")])
    at.button(key=read).click().run()
    at.file_uploader(key="data_files").set_value([("loans.csv", csv, "text/csv")])
    at.button(key=read).click().run()  # the same file uploaded again
    assert not at.exception and not at.error, texts(at.error)
    at.text_input(key="data_dataset_name").set_value("april")
    at.button(key="data_load").click().run()
    at.button(key="data_load").click().run()  # a second click on load
    assert any("already loaded" in s for s in texts(at.info)), texts(at.info)
    at.sidebar.radio(key="_w_lang").set_value("en").run()  # any other widget
    assert not at.exception and not at.error, texts(at.error)
    listed = store.list_datasets(db)
    assert sorted(listed["name"]) == ["april", "tiny"]
    april = listed.loc[listed["name"] == "april", "dataset_id"].item()
    loans = store.load_frame(april, "loans", path=db)
    assert loans["loan_id"].tolist() == ["L9", "L10"]
    assert loans["principal_cents"].tolist() == [100000, 25000]
    assert at.sidebar.selectbox(key="_w_dataset").value == april  # the new version becomes the current one


@pytest.mark.parametrize("names", [("loans.csv", "loans.csv"), ("loans.csv", "copy.csv")],
                         ids=["same-name", "two-names"])
def test_one_file_picked_twice_in_one_upload_loads_its_rows_once(db, names):
    # regression: both cases crashed the Data page on a duplicate widget key
    tiny_dataset(db)
    csv = b"loan_id,account_id,principal,disbursed_at,status\nL9,A9,100.00,2024-01-01,overdue\n"
    at = app().run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_files").set_value([(n, csv, "text/csv") for n in names])
    at.button(key="FormSubmitter:upload_form-" + i18n.EN["data.upload.read"]).click().run()
    assert not at.exception
    at.text_input(key="data_dataset_name").set_value("twice")
    at.button(key="data_load").click().run()
    assert not at.exception and not at.error, texts(at.error)
    listed = store.list_datasets(db)
    twice = listed.loc[listed["name"] == "twice", "dataset_id"].item()
    assert store.load_frame(twice, "loans", path=db)["loan_id"].tolist() == ["L9"]


def test_a_bad_file_shows_an_error_naming_it(db):
    tiny_dataset(db)
    at = app().run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_files").set_value([("broken.csv", b"\x00\x01\x02binary\x00junk", "text/csv")])
    at.button(key="FormSubmitter:upload_form-" + i18n.EN["data.upload.read"]).click().run()
    assert not at.exception
    assert any("broken.csv" in s for s in texts(at.error)), texts(at.error)
    assert store.list_datasets(db)["name"].tolist() == ["tiny"]


def test_the_run_button_stores_a_trace_and_the_table_shows_the_loans(db):
    dataset_id = tiny_dataset(db)
    store.save_thresholds(Thresholds(max_graph_nodes=10), path=db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    assert any(i18n.EN["flow.no_run"] in s for s in texts(at.info))
    at.slider(key="flow_max_hops").set_value(3)
    at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).click().run()
    assert not at.exception and not at.error, texts(at.error)
    runs = store.list_trace_runs(dataset_id, path=db)
    assert len(runs) == 1
    assert runs.loc[0, "params"]["max_hops"] == 3
    table = next(df.value for df in at.dataframe if "loan_id" in df.value.columns and "principal" in df.value.columns)
    assert table["loan_id"].tolist() == ["L1"]
    assert table[["principal", "not_moved", "left_dataset"]].values.tolist() == [[1000.0, 400.0, 600.0]]
    # 13 accounts in L1's graph, capped at 10 with a message
    assert any("Showing 10 of 13 accounts" in s for s in texts(at.info)), texts(at.info)
    html = at.get("iframe")[0].proto.srcdoc
    assert '"id": "A1"' in html and "cdn.jsdelivr" not in html
    # reopening the page shows the stored run without recomputing
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/fund_flow.py").run()
    assert len(store.list_trace_runs(dataset_id, path=db)) == 1
    assert not any(i18n.EN["flow.no_run"] in s for s in texts(at.info))


def test_the_language_switch_translates_every_page(db):
    tiny_dataset(db)
    at = app().run()
    assert texts(at.title) == [i18n.EN["overview.title"]]
    at.sidebar.radio(key="_w_lang").set_value("zh").run()
    assert texts(at.title) == [i18n.ZH["overview.title"]]
    at.switch_page("pages/data.py").run()
    assert texts(at.title) == [i18n.ZH["data.title"]]
    assert at.sidebar.radio(key="_w_lang").value == "zh"


def test_both_languages_have_every_string():
    assert set(i18n.EN) == set(i18n.ZH)
    assert all(i18n.ZH[k].strip() for k in i18n.ZH)


def test_deleting_a_dataset_needs_confirmation(db):
    dataset_id = tiny_dataset(db)
    at = app().run()
    at.switch_page("pages/data.py").run()
    at.button(key="data_delete").click().run()
    assert any(i18n.EN["data.datasets.confirm_first"] in s for s in texts(at.warning))
    assert store.list_datasets(db)["dataset_id"].tolist() == [dataset_id]
    at.checkbox(key=f"data_confirm_{dataset_id}").check().run()
    at.button(key="data_delete").click().run()
    assert not at.exception
    assert store.list_datasets(db).empty


def test_the_real_data_folder_comes_from_the_environment_and_can_be_edited(db, tmp_path, monkeypatch):
    tiny_dataset(db)
    absent = tmp_path / "nowhere"
    monkeypatch.setenv("LOANFLOW_REAL_DATA", str(absent))
    at = app().run()
    at.switch_page("pages/data.py").run()
    assert at.text_input(key="data_real_dir").value == str(absent)
    assert i18n.EN["data.preset.missing"].format(path=ui.plain(absent)) in texts(at.info), texts(at.info)
    assert not at.exception and not at.error, texts(at.error)
    real = tmp_path / "real"
    (real / "berka").mkdir(parents=True)  # amlworld-hi/ is absent
    at.text_input(key="data_real_dir").set_value(str(real)).run()
    assert not at.exception and not at.error, texts(at.error)
    assert not any("does not exist" in s for s in texts(at.info))
    assert at.button(key="data_preset_berka").label == i18n.EN["data.preset.load"].format(name="berka")
    assert not any(b.key == "data_preset_amlworld" for b in at.button)
    # the path is shown literally (markdown-escaped: the tmp path has underscores)
    assert any(ui.plain(real / "amlworld-hi") in s for s in texts(at.caption)), texts(at.caption)


def test_without_the_variable_the_folder_is_next_to_the_repo(monkeypatch):
    monkeypatch.delenv("LOANFLOW_REAL_DATA", raising=False)
    assert ui.real_data_dir() == REPO.parent / "shared" / "data" / "real"
    monkeypatch.setenv("LOANFLOW_REAL_DATA", "/data/mine")
    assert ui.real_data_dir() == Path("/data/mine")


def test_fund_flow_on_a_dataset_without_loans_explains_instead_of_running(db):
    store.save_dataset({"transactions": pd.DataFrame({
        "txn_id": ["T1"], "seq": [1], "ts": ["2024-01-02T10:00:00"], "from_account": ["A1"], "to_account": ["B1"],
        "amount_cents": [5000], "currency": ["CNY"], "channel": ["transfer"]})}, name="txns only", path=db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    assert not at.exception and not at.error, texts(at.error)
    assert i18n.EN["flow.no_loans"] in texts(at.info)
    assert not any(i18n.EN["flow.no_run"] in s for s in texts(at.info))  # no "press Run trace" advice
    assert at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).disabled


def test_a_run_whose_loans_mostly_moved_nothing_warns_about_the_transaction_dates(db):
    # L1 pays out (tiny dataset); L2 is disbursed in 2025 into A2, after the last transaction (2024-01-13):
    # 1 of 2 loans without any edge = 50%, the warning threshold
    frames = {
        "accounts": pd.DataFrame({"account_id": ["A1", "A2", *[f"B{i:02d}" for i in range(1, 13)]]}),
        "loans": pd.DataFrame({"loan_id": ["L1", "L2"], "account_id": ["A1", "A2"], "principal_cents": [100000, 50000],
                               "currency": ["CNY", "CNY"],
                               "disbursed_at": ["2024-01-01T09:00:00", "2025-03-01T09:00:00"],
                               "status": ["overdue", "overdue"]}),
        "transactions": pd.DataFrame({
            "txn_id": [f"T{i:02d}" for i in range(1, 13)], "seq": list(range(1, 13)),
            "ts": [f"2024-01-{i + 1:02d}T10:00:00" for i in range(1, 13)], "from_account": ["A1"] * 12,
            "to_account": [f"B{i:02d}" for i in range(1, 13)], "amount_cents": [5000] * 12, "currency": ["CNY"] * 12,
            "channel": ["transfer"] * 12}),
    }
    store.save_dataset(frames, name="gap", path=db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    assert not at.warning
    at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert texts(at.warning) == [
        "1 of 2 traced loans have no transfer out of the borrower account in their window; the transactions cover "
        "2024-01-02 – 2024-01-13. Load transactions that cover the loans' disbursement dates."]


def test_the_tiny_run_has_no_coverage_warning(db):
    tiny_dataset(db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).click().run()
    assert not at.exception and not at.warning, texts(at.warning)


def test_long_account_ids_are_shortened_only_on_request():
    assert ui.account_label("1202652136210228628", short=True) == "…228628"
    assert ui.account_label("1202652136210228628") == "1202652136210228628"
    assert ui.account_label("LNL000165", short=True) == "LNL000165"  # 9 characters: not long
    assert ui.account_label("123456789012", short=True) == "123456789012"  # 12: the longest kept whole
    assert ui.account_label(None, short=True) == ""


def test_rule_names_are_translated_but_the_values_stay(db):
    tiny_dataset(db)
    at = app().run()
    at.sidebar.radio(key="_w_lang").set_value("zh").run()
    at.switch_page("pages/fund_flow.py").run()
    rule = at.selectbox(key="flow_rule")
    assert rule.options == ["先进先出", "后进先出", "按比例", "最不利（贷款资金优先）"]
    assert rule.value == "fifo"
    rule.select_index(3)  # (set_value would format the value outside the session: in English)
    at.button(key="FormSubmitter:trace_params-" + i18n.ZH["flow.run"]).click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert store.load_thresholds(path=db).trace_rule == "worst-case"


def test_a_new_session_starts_from_the_saved_thresholds_not_the_last_run(db):
    dataset_id = tiny_dataset(db)
    store.save_thresholds(Thresholds(trace_rule="lifo", max_hops=3, window_days=30), path=db)
    # a later run with other parameters (as the CLI makes) does not change the saved thresholds
    pipeline.run_trace(dataset_id, Thresholds(trace_rule="pro-rata", max_hops=7, window_days=60), path=db)
    at = app().run()
    at.switch_page("pages/fund_flow.py").run()
    assert at.selectbox(key="flow_rule").value == "lifo"
    assert at.slider(key="flow_max_hops").value == 3
    assert at.number_input(key="flow_window_days").value == 30
    at.slider(key="flow_max_hops").set_value(5)
    at.button(key="FormSubmitter:trace_params-" + i18n.EN["flow.run"]).click().run()
    assert not at.exception and not at.error, texts(at.error)
    saved = store.load_thresholds(path=db)
    assert (saved.trace_rule, saved.max_hops, saved.window_days) == ("lifo", 5, 30)
    fresh = app().run()
    fresh.switch_page("pages/fund_flow.py").run()
    assert fresh.slider(key="flow_max_hops").value == 5
