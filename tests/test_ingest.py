"""Ingestion (issue 2 §3): encodings, delimiters, header aliases, value forms, quality report, statements."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import IngestError
from analysis.ingest import (
    combine_reports,
    detect_encoding,
    guess_table,
    load_files,
    normalise,
    parse_dates,
    parse_money,
    read_table,
    statement_to_edges,
    suggest_mapping,
)
from analysis.schema import TABLES

REAL = Path(__file__).resolve().parents[1].parent / "shared/data/real"
TODAY = date(2024, 1, 31)

STATEMENT_ZH = (
    "交易日期,账号,借贷标志,交易金额,余额,对方账号,对方户名,摘要\n"
    "2023-05-01,6222000011,借,1000.00,500.00,6222000022,张三,转账\n"
    "2023-05-02,6222000011,贷,250.00,750.00,6222000033,李四,货款\n"
)


def rows(frame: pd.DataFrame, *cols: str) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in rec) for rec in frame[list(cols)].itertuples(index=False)]


# --------------------------------------------------------------------------------------------- encodings
def test_gbk_file_with_chinese_headers_decodes_and_maps():
    data = STATEMENT_ZH.encode("gbk")
    raw = read_table(data, file="流水.csv")
    assert raw.encoding == "gbk"
    assert "utf-8" not in raw.encoding_candidates
    assert list(raw.frame.columns) == ["交易日期", "账号", "借贷标志", "交易金额", "余额", "对方账号", "对方户名", "摘要"]
    assert raw.frame.loc[2, "对方户名"] == "张三"
    assert guess_table(list(raw.frame.columns)) == "statements"
    assert suggest_mapping(list(raw.frame.columns), "statements") == {
        "交易日期": "ts",
        "账号": "account",
        "借贷标志": "direction",
        "交易金额": "amount",
        "余额": "balance",
        "对方账号": "counterparty_account",
        "对方户名": "counterparty_name",
        "摘要": "memo",
    }


def test_gb18030_file_with_a_character_outside_gbk():
    with pytest.raises(UnicodeEncodeError):
        "𠀀".encode("gbk")  # the premise: GBK cannot hold it, GB18030 can
    text = "客户号,姓名,地址\nC001,𠀀明,北京\n"
    raw = read_table(text.encode("gb18030"), file="c.csv")
    assert raw.encoding == "gb18030"
    assert raw.frame.loc[2, "姓名"] == "𠀀明"
    assert suggest_mapping(list(raw.frame.columns), "customers") == {"客户号": "customer_id", "姓名": "name", "地址": "address"}


def test_utf8_bom_file_with_chinese_headers():
    data = "\ufeff".encode("utf-8") + STATEMENT_ZH.encode("utf-8")
    raw = read_table(data, file="bom.csv")
    assert raw.encoding == "utf-8-sig"
    assert raw.frame.columns[0] == "交易日期"  # no BOM glued to the first header
    assert raw.frame.loc[3, "对方户名"] == "李四"


def test_mostly_ascii_gbk_file_with_one_chinese_word_is_gbk():
    lines = ["txn_id,ts,from_account,to_account,amount,memo"]
    lines += [f"T{i},2023-05-01 10:00:00,A{i},B{i},{i}.50,salary" for i in range(1, 200)]
    lines.append("T200,2023-05-01 10:00:00,A200,B200,1.00,工资")
    raw = read_table("\n".join(lines).encode("gbk"), file="mostly_ascii.csv")
    assert raw.encoding == "gbk"
    assert raw.frame.loc[201, "memo"] == "工资"


def test_utf8_chinese_is_never_decoded_as_gbk():
    data = "账号,金额,摘要\nA1,100,中文\n".encode("utf-8")
    assert data.decode("gb18030") != data.decode("utf-8")  # the trap: also valid GB18030, as mojibake
    chosen, candidates = detect_encoding(data)
    assert chosen == "utf-8" and "gb18030" in candidates
    assert read_table(data, file="u.csv").frame.loc[2, "摘要"] == "中文"


def test_encoding_override_that_does_not_fit_names_file_and_offset():
    data = STATEMENT_ZH.encode("gbk")
    with pytest.raises(IngestError) as err:
        read_table(data, file="流水.csv", encoding="utf-8")
    assert err.value.file == "流水.csv"
    assert "byte offset 0" in err.value.reason  # the very first byte (交 in GBK) is invalid UTF-8


def test_encoding_override_that_fits_is_used():
    data = "名称\n中文\n".encode("gbk")
    assert read_table(data, file="x.csv", encoding="gb18030").encoding == "gb18030"


# --------------------------------------------------------------------------------------------- text layout
EDGES = "txn_id,ts,from_account,to_account,amount\nT1,2023-05-01 10:00:00,A,B,10.00\nT2,2023-05-02 11:00:00,B,C,5.25\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR-only"])
def test_line_endings(newline):
    raw = read_table(EDGES.replace("\n", newline).encode(), file="e.csv")
    assert list(raw.frame.columns) == ["txn_id", "ts", "from_account", "to_account", "amount"]
    assert list(raw.frame.index) == [2, 3]
    assert raw.frame.loc[3, "amount"] == "5.25"


@pytest.mark.parametrize("delim", ["\t", ";", "|", ","], ids=["tab", "semicolon", "pipe", "comma"])
def test_delimiters(delim):
    raw = read_table(EDGES.replace(",", delim).encode(), file="e.txt")
    assert raw.delimiter == delim
    assert raw.frame.loc[2, "to_account"] == "B"


def test_quoted_fields_with_delimiters_inside():
    data = 'txn_id,ts,from_account,to_account,amount,memo\nT1,2023-05-01,A,B,"1,234.50","rent, May"\n'.encode()
    frame, report = normalise(read_table(data, file="q.csv"), table="transactions",
                              mapping=suggest_mapping(["txn_id", "ts", "from_account", "to_account", "amount", "memo"], "transactions"),
                              today=TODAY)
    assert rows(frame, "amount_cents", "memo") == [(123450, "rent, May")]


def test_title_lines_above_the_header_keep_file_row_numbers():
    text = "某某银行账户交易明细\n查询日期:2023-06-01\n交易日期,账号,交易金额\n20230501,001,100\n20230502,001,-50\n"
    raw = read_table(text.encode("gbk"), file="t.csv")
    assert list(raw.frame.columns) == ["交易日期", "账号", "交易金额"]
    assert raw.first_data_row == 4
    assert list(raw.frame.index) == [4, 5]


def test_xlsx_cells_read_as_text(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "贷款"
    sheet.append(["借据号", "账号", "放款金额", "放款日期", "逾期天数"])
    sheet.append(["L001", 12345.0, 50000.5, datetime(2023, 5, 1), 31])
    sheet.append(["L002", "0012", 1000, datetime(2023, 5, 2, 9, 30), 0])
    sheet.append(["L003", 6222021234567890123, 1000, datetime(2023, 5, 3), 0])
    path = tmp_path / "loans.xlsx"
    book.save(path)
    raw = read_table(path.read_bytes(), file="loans.xlsx")
    assert raw.sheet == "贷款" and raw.delimiter is None
    assert raw.frame.loc[2, "账号"] == "12345"  # not 12345.0
    assert raw.frame.loc[2, "放款日期"] == "2023-05-01"
    assert raw.frame.loc[3, "账号"] == "0012"
    assert raw.frame.loc[4, "账号"] == "6.22202123456789E+18"  # beyond float precision: shown as Excel does
    mapping = suggest_mapping(list(raw.frame.columns), "loans")
    assert mapping == {"借据号": "loan_id", "账号": "account_id", "放款金额": "principal", "放款日期": "disbursed_at", "逾期天数": "dpd"}
    frame, report = normalise(raw, table="loans", mapping=mapping, today=TODAY)
    assert rows(frame, "loan_id", "account_id", "principal_cents", "disbursed_at", "dpd", "status") == [
        ("L001", "12345", 5000050, "2023-05-01T00:00:00", 31, "overdue"),
        ("L002", "0012", 100000, "2023-05-02T09:30:00", 0, "current"),
    ]
    assert rows(report.rejected, "row", "column") == [(4, "账号")]
    assert "scientific notation" in report.rejected["reason"].iloc[0]


# --------------------------------------------------------------------------------------------- headers
def test_duplicate_account_headers_take_the_side_of_the_bank_before_them():
    text = (
        "Timestamp,From Bank,Account,To Bank,Account,Amount Received,Receiving Currency,Amount Paid,Payment Currency,Payment Format\n"
        "2022/09/01 00:08,010,8000A,0020,8000B,10.00,US Dollar,10.00,US Dollar,ACH\n"
        "2022/09/01 00:09,0020,8000B,030,8000C,9.00,Euro,10.00,US Dollar,Wire\n"
    )
    raw = read_table(text.encode(), file="Trans.csv")
    assert raw.original_columns[2] == raw.original_columns[4] == "Account"
    assert list(raw.frame.columns)[2:5] == ["Account", "To Bank", "Account_2"]
    mapping = suggest_mapping(list(raw.frame.columns), "transactions")
    assert mapping["From Bank"] == "from_bank" and mapping["Account"] == "from_account"
    assert mapping["To Bank"] == "to_bank" and mapping["Account_2"] == "to_account"
    assert mapping["Amount Paid"] == "amount" and mapping["Payment Currency"] == "currency"
    frame, _ = normalise(raw, table="transactions", mapping=mapping, today=TODAY)
    assert rows(frame, "ts", "from_account", "to_account", "amount_cents", "currency", "received_cents", "received_currency", "channel") == [
        ("2022-09-01T00:08:00", "010:8000A", "0020:8000B", 1000, "USD", None, None, "transfer"),
        ("2022-09-01T00:09:00", "0020:8000B", "030:8000C", 1000, "USD", 900, "EUR", "transfer"),
    ]


@pytest.mark.parametrize(
    "header,target",
    [
        ("Transaction Date", "ts"),
        ("txnDate", "ts"),
        ("From.Account", "from_account"),
        ("to account", "to_account"),
        ("AMOUNT", "amount"),
        ("amount_cents", "amount_cents"),
        ("交易时间", "ts"),
        ("交易金额(元)", "amount"),
        ("付款账号", "from_account"),
        ("收款账号", "to_account"),
        ("流水号", "txn_id"),
        ("冲正标志", "is_reversal"),
        ("币种", "currency"),
        ("交易渠道", "channel"),
        ("附言", "memo"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_transaction_header_aliases(header, target):
    assert suggest_mapping([header], "transactions") == {header: target}


def test_loan_and_customer_mapping_suggestions():
    loans = ["借据号", "客户号", "账号", "贷款金额", "发放日期", "到期日", "贷款状态", "逾期天数", "逾期金额", "贷款余额", "用途"]
    assert guess_table(loans) == "loans"
    assert suggest_mapping(loans, "loans") == {
        "借据号": "loan_id", "客户号": "customer_id", "账号": "account_id", "贷款金额": "principal", "发放日期": "disbursed_at",
        "到期日": "maturity", "贷款状态": "status", "逾期天数": "dpd", "逾期金额": "overdue", "贷款余额": "outstanding",
        "用途": "declared_purpose",
    }
    english = ["Loan ID", "customerId", "account_id", "Principal", "disbursement_date", "Status", "DPD"]
    assert suggest_mapping(english, "loans") == {
        "Loan ID": "loan_id", "customerId": "customer_id", "account_id": "account_id", "Principal": "principal",
        "disbursement_date": "disbursed_at", "Status": "status", "DPD": "dpd",
    }
    customers = ["客户编号", "户名", "证件号码", "手机号", "联系电话", "地址", "法定代表人", "行业", "地区"]
    assert guess_table(customers) == "customers"
    assert suggest_mapping(customers, "customers") == {
        "客户编号": "customer_id", "户名": "name", "证件号码": "id_number", "手机号": "phone", "地址": "address",
        "法定代表人": "legal_rep", "行业": "industry", "地区": "region",
    }  # 联系电话 is a second phone column: left for the user


def test_statement_roles_for_debit_credit_columns_and_separate_time():
    cols = ["记账日期", "交易时间", "本方账号", "借方发生额", "贷方发生额", "账户余额", "对手账号", "对手户名", "对方行名", "交易渠道", "交易流水号"]
    assert guess_table(cols) == "statements"
    assert suggest_mapping(cols, "statements") == {
        "记账日期": "ts", "交易时间": "ts_time", "本方账号": "account", "借方发生额": "debit", "贷方发生额": "credit",
        "账户余额": "balance", "对手账号": "counterparty_account", "对手户名": "counterparty_name",
        "对方行名": "counterparty_bank", "交易渠道": "channel", "交易流水号": "txn_id",
    }


def test_edge_list_is_not_taken_for_a_statement():
    assert guess_table(["txn_id", "ts", "from_account", "to_account", "amount", "currency", "channel"]) == "transactions"
    assert guess_table(["foo", "bar"]) is None


# --------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    "text,cents",
    [
        ("1,234.56", 123456),
        ("１２３", 12300),
        ("¥1,000", 100000),
        ("￥1,000.5", 100050),
        ("$12.30", 1230),
        ("€7.5", 750),
        ("RMB 100", 10000),
        ("1.5万", 1500000),
        ("2亿", 20000000000),
        ("(1,234.00)", -123400),
        ("-12.5", -1250),
        ("12.5-", -1250),
        ("0.125", 13),
        ("1000", 100000),
        ("  42.07 ", 4207),
    ],
    ids=["thousands", "full-width", "yen", "full-width-yen", "dollar", "euro", "RMB-code", "wan", "yi", "parentheses",
         "minus", "trailing-minus", "half-up", "integer", "spaces"],
)
def test_amount_forms(text, cents):
    values, bad, comma = parse_money(pd.Series([text], dtype=str))
    assert not bad.any() and comma is False
    assert values.tolist() == [cents]


def test_european_comma_decimals_decided_per_column():
    values, bad, comma = parse_money(pd.Series(["1.234,56", "12,5", "7"], dtype=str))
    assert comma is True and not bad.any()
    assert values.tolist() == [123456, 1250, 700]


def test_unreadable_amount_is_flagged():
    values, bad, _ = parse_money(pd.Series(["12.50", "abc", None], dtype=str))
    assert bad.tolist() == [False, True, False]
    assert values.iloc[0] == 1250 and pd.isna(values.iloc[1]) and pd.isna(values.iloc[2])


@pytest.mark.parametrize(
    "text,iso",
    [
        ("2023-05-01", "2023-05-01T00:00:00"),
        ("2023/5/1", "2023-05-01T00:00:00"),
        ("2023.5.1", "2023-05-01T00:00:00"),
        ("2023年5月1日", "2023-05-01T00:00:00"),
        ("20230501", "2023-05-01T00:00:00"),
        ("930705", "1993-07-05T00:00:00"),
        ("050301", "2005-03-01T00:00:00"),
        ("45047", "2023-05-01T00:00:00"),  # Excel serial: 44927 is 2023-01-01, plus 120 days
        ("45047.5", "2023-05-01T12:00:00"),
        ("2023-05-01 13:45", "2023-05-01T13:45:00"),
        ("2023/05/01 13:45:10", "2023-05-01T13:45:10"),
        ("2023-05-01T13:45:10Z", "2023-05-01T13:45:10"),
        ("2023-05-01T13:45:10+08:00", "2023-05-01T13:45:10"),
        ("2023年5月1日 13:45", "2023-05-01T13:45:00"),
        ("20230501134510", "2023-05-01T13:45:10"),
        ("1 May 2023", "2023-05-01T00:00:00"),
    ],
    ids=["iso", "slashes", "dots", "chinese", "compact", "yymmdd-19xx", "yymmdd-20xx", "excel-serial", "excel-serial-noon",
         "minutes", "seconds", "iso-z", "iso-offset", "chinese-time", "compact-time", "month-name"],
)
def test_date_forms(text, iso):
    values, bad, _ = parse_dates(pd.Series([text], dtype=str))
    assert not bad.any()
    assert values.tolist() == [iso]


def test_ambiguous_day_month_is_day_first_and_said_so():
    values, bad, note = parse_dates(pd.Series(["01/05/2023", "02/05/2023"], dtype=str))
    assert values.tolist() == ["2023-05-01T00:00:00", "2023-05-02T00:00:00"]
    assert "day/month/year" in note


def test_a_day_above_12_in_second_place_makes_the_column_month_first():
    values, bad, note = parse_dates(pd.Series(["05/13/2023", "01/05/2023"], dtype=str))
    assert values.tolist() == ["2023-05-13T00:00:00", "2023-01-05T00:00:00"]
    assert note is None


def test_impossible_dates_are_flagged():
    values, bad, _ = parse_dates(pd.Series(["2023-02-30", "2023-13-01", "hello", "2023-05-01 25:00:00"], dtype=str))
    assert bad.tolist() == [True, True, True, True]


def test_separate_date_and_time_columns_are_combined():
    text = "交易日期,交易时间,付款账号,收款账号,交易金额\n20230501,134510,A,B,1\n2023-05-02,09:05,A,B,2\n"
    raw = read_table(text.encode("gbk"), file="t.csv")
    mapping = suggest_mapping(list(raw.frame.columns), "transactions")
    assert mapping["交易时间"] == "ts_time"
    frame, report = normalise(raw, table="transactions", mapping=mapping, today=TODAY)
    assert frame["ts"].tolist() == ["2023-05-01T13:45:10", "2023-05-02T09:05:00"]


def test_leading_zero_ids_survive_and_are_trimmed():
    text = "txn_id,ts,from_account,to_account,amount\n 00123 ,2023-05-01,0001,'0002,1\n00124,2023-05-01,=\"0003\",0004,2\n"
    result = load_files([("z.csv", text.encode())], today=TODAY)
    assert rows(result.frames["transactions"], "txn_id", "from_account", "to_account") == [
        ("00123", "0001", "0002"),
        ("00124", "0003", "0004"),
    ]


def test_account_number_in_scientific_notation_is_rejected_with_the_reason():
    text = "txn_id,ts,from_account,to_account,amount\nT1,2023-05-01,6.22E+18,6222000011,1\nT2,2023-05-01,6222000011,6222000022,2\n"
    result = load_files([("sci.csv", text.encode())], today=TODAY)
    assert result.frames["transactions"]["txn_id"].tolist() == ["T2"]
    assert rows(result.report.rejected, "file", "row", "column", "value", "reason") == [
        ("sci.csv", 2, "from_account", "6.22E+18",
         "looks like Excel turned the account number into scientific notation (6.22E+18); export the column as text"),
    ]


def test_hex_like_ids_are_not_mistaken_for_scientific_notation():
    text = "txn_id,ts,from_account,to_account,amount\nT1,2023-05-01,812E50,8000E10,1\n"
    result = load_files([("hex.csv", text.encode())], today=TODAY)
    assert rows(result.frames["transactions"], "from_account", "to_account") == [("812E50", "8000E10")]


def test_status_and_channel_values_are_mapped():
    text = "借据号,账号,本金,放款日期,贷款状态\nL1,A,100,2023-01-01,正常\nL2,A,100,2023-01-01,逾期\nL3,A,100,2023-01-01,已结清\nL4,A,100,2023-01-01,核销\nL5,A,100,2023-01-01,Charged Off\nL6,A,100,2023-01-01,???\n"
    result = load_files([("l.csv", text.encode("gbk"))], today=TODAY)
    assert result.frames["loans"]["status"].tolist()[:5] == ["current", "overdue", "closed", "written_off", "written_off"]
    assert pd.isna(result.frames["loans"]["status"].iloc[5])
    assert rows(result.report.warnings, "row", "value") == [(7, "???")]
    text = "ts,from_account,to_account,amount,channel\n" + "".join(
        f"2023-01-01,A,B,1{i},{c}\n" for i, c in enumerate(["现金", "网银转账", "跨境汇款", "支付宝", "POS消费", "贷款放款", "还款"])
    )
    result = load_files([("c.csv", text.encode())], today=TODAY)
    assert result.frames["transactions"]["channel"].tolist() == [
        "cash", "transfer", "cross_border", "third_party", "card", "disbursement", "repayment",
    ]


# --------------------------------------------------------------------------------------------- quality
def test_malformed_rows_are_reported_with_their_row_numbers_and_the_rest_loads():
    text = (
        "txn_id,ts,from_account,to_account,amount\n"
        "T1,2023-05-01,A,B,10\n"
        "T2,2023-05-01,A,B\n"  # row 3: a field missing
        "T3,2023-05-32,A,B,10\n"  # row 4: no 32nd of May
        "T4,2023-05-02,A,B,1.0.0\n"  # row 5: not a number
        "T5,2023-05-02,A,B,0\n"  # row 6: zero amount
        "T6,2023-05-02,A,B,5\n"
    )
    result = load_files([("bad.csv", text.encode())], today=TODAY)
    assert result.frames["transactions"]["txn_id"].tolist() == ["T1", "T6"]
    rejected = result.report.rejected.sort_values("row")
    assert rows(rejected, "row", "column") == [(3, None), (4, "ts"), (5, "amount"), (6, "amount")]
    assert rejected["reason"].tolist() == [
        "row has 4 fields but the header has 5",
        "not a date",
        "not an amount: cannot read the number",
        "zero or negative transfer amount",
    ]
    assert result.report.rows_read == 6 and result.report.rows_loaded == 2


def test_quality_report_duplicates_missing_self_transfer_future():
    text = (
        "ts,from_account,to_account,amount,memo\n"
        "2023-05-01 10:00:00,A,B,10,rent\n"
        "2023-05-01 10:00:00,A,B,10,rent\n"  # exact duplicate of row 2
        "2023-05-01 10:00:00,A,A,10,\n"  # transfer to self: kept, warned
        "2030-01-01 00:00:00,A,B,10,\n"  # future: kept, warned
    )
    result = load_files([("q.csv", text.encode())], today=TODAY)
    rep = result.report
    assert rep.rows_read == 4 and rep.rows_loaded == 3 and rep.duplicates_removed == 1
    assert rows(rep.warnings, "row", "column", "reason") == [
        (4, "to_account", "transfer to self"),
        (5, "ts", "date in the future (after 2024-01-31)"),
    ]
    missing = dict(zip(rep.missing["column"], rep.missing["missing"]))
    assert missing == {"ts": 0, "from_account": 0, "to_account": 0, "amount": 0, "memo": 2}
    assert result.frames["transactions"]["txn_id"].tolist() == ["q.csv#2", "q.csv#4", "q.csv#5"]
    json.dumps(rep.to_dict())
    assert "loaded 3" in rep.summary_text() and "duplicate" in rep.summary_text()


def test_negative_principal_is_rejected():
    text = "loan_id,account_id,principal,disbursed_at\nL1,A,1000,2023-01-01\nL2,B,-5,2023-01-01\n"
    result = load_files([("loans.csv", text.encode())], today=TODAY)
    assert result.frames["loans"]["loan_id"].tolist() == ["L1"]
    assert rows(result.report.rejected, "row", "column", "value", "reason") == [(3, "principal", "-5", "negative principal")]


def test_output_has_exactly_the_canonical_columns_and_types():
    result = load_files([("e.csv", EDGES.encode())], today=TODAY)
    frame = result.frames["transactions"]
    assert list(frame.columns) == list(TABLES["transactions"])
    assert str(frame["amount_cents"].dtype) == "Int64"
    assert frame["amount_cents"].tolist() == [1000, 525]
    assert frame["seq"].tolist() == [0, 1]
    assert frame["ts"].tolist() == ["2023-05-01T10:00:00", "2023-05-02T11:00:00"]
    assert result.plan["e.csv"].table == "transactions" and result.plan["e.csv"].encoding == "utf-8"


def test_same_file_twice_under_two_names_loads_once():
    result = load_files([("a.csv", EDGES.encode()), ("copy of a.csv", EDGES.encode())], today=TODAY)
    assert len(result.frames["transactions"]) == 2
    assert result.report.duplicates_removed == 2


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"\x00\x01\x02binary\x00", "binary file"),
        (b"foo,bar\n1,2\n", "match none of the known column names"),
        (b"txn_id,ts,from_account,to_account,amount\n", "no data rows"),
    ],
    ids=["empty", "blank", "binary", "unknown-headers", "header-only"],
)
def test_unusable_files_raise_ingest_error_naming_the_file(data, reason):
    with pytest.raises(IngestError) as err:
        load_files([("f.csv", data)], today=TODAY)
    assert err.value.file == "f.csv"
    assert reason in err.value.reason


def test_mapping_that_misses_a_required_column_names_it():
    raw = read_table(EDGES.encode(), file="e.csv")
    with pytest.raises(IngestError) as err:
        normalise(raw, table="transactions", mapping={"ts": "ts", "from_account": "from_account", "amount": "amount"})
    assert err.value.column == "to_account"


def test_combine_reports_adds_up():
    a = load_files([("a.csv", EDGES.encode())], today=TODAY).report
    b = load_files([("q.csv", b"ts,from_account,to_account,amount\n2023-01-01,A,B,0\n")], today=TODAY).report
    both = combine_reports(a, b)
    assert (both.rows_read, both.rows_loaded, both.rows_rejected) == (3, 2, 1)
    assert both.encoding == {"a.csv": "utf-8", "q.csv": "utf-8"}


# --------------------------------------------------------------------------------------------- statements
def test_statement_debit_and_credit_become_edges():
    result = load_files([("流水.csv", STATEMENT_ZH.encode("gbk"))], today=TODAY)
    frame = result.frames["transactions"]
    assert rows(frame, "txn_id", "ts", "from_account", "to_account", "amount_cents", "balance_after_cents", "counterparty_name") == [
        ("流水.csv#2", "2023-05-01T00:00:00", "6222000011", "6222000022", 100000, 50000, "张三"),
        ("流水.csv#3", "2023-05-02T00:00:00", "6222000033", "6222000011", 25000, None, "李四"),
    ]
    assert result.plan["流水.csv"].table == "statements"


def test_statement_without_counterparty_goes_to_cash_or_unknown():
    text = "date,account,amount,memo\n2023-05-01,A,-100,ATM withdrawal\n2023-05-02,A,-50,fee\n2023-05-03,A,70,VKLAD\n"
    result = load_files([("s.csv", text.encode())], today=TODAY)
    assert rows(result.frames["transactions"], "from_account", "to_account", "amount_cents") == [
        ("A", "~cash", 10000), ("A", "~unknown", 5000), ("~cash", "A", 7000),
    ]


def test_statement_debit_credit_columns_and_bank_keys():
    text = (
        "date,bank,account,debit,credit,balance,counterparty_bank,counterparty_account\n"
        "2023-05-01,ICBC,001,100.00,,900.00,BOC,777\n"
        "2023-05-01,ICBC,001,,40.00,940.00,,\n"
    )
    result = load_files([("s.csv", text.encode())], today=TODAY)
    assert rows(result.frames["transactions"], "from_account", "to_account", "amount_cents", "balance_after_cents") == [
        ("ICBC:001", "BOC:777", 10000, 90000),
        ("~unknown", "ICBC:001", 4000, None),
    ]


def test_both_sides_of_one_transfer_are_kept_once():
    a_side = "交易时间,账号,借贷标志,交易金额,对方账号,交易流水号\n2023-05-01 10:00:00,A,借,500,B,A-1\n2023-05-03 10:00:00,A,借,500,B,A-2\n"
    b_side = (
        "交易时间,账号,借贷标志,交易金额,对方账号,交易流水号\n"
        "2023-05-01 10:00:05,B,贷,500,A,B-1\n"  # matches A-1 (same amount, 5 s later)
        "2023-05-05 09:00:00,B,贷,500,A,B-2\n"  # 2 days after A-2: a different transfer
        "2023-05-01 12:00:00,B,借,300,C,B-3\n"
    )
    result = load_files([("a.csv", a_side.encode("gbk")), ("b.csv", b_side.encode("gbk"))], today=TODAY)
    frame = result.frames["transactions"]
    assert rows(frame, "txn_id", "from_account", "to_account", "amount_cents") == [
        ("A-1", "A", "B", 50000),
        ("A-2", "A", "B", 50000),
        ("B-2", "A", "B", 50000),
        ("B-3", "B", "C", 30000),
    ]
    assert result.report.pairs_merged == 1
    assert result.report.rows_read == 5 and result.report.rows_loaded == 4


def test_statement_to_edges_directly():
    statement = pd.DataFrame(
        {
            "file": ["s.csv"] * 3,
            "row": [2, 3, 4],
            "ts": ["2023-05-01T00:00:00"] * 3,
            "account": ["A", "A", "A"],
            "direction": ["D", None, "C"],
            "amount_cents": pd.array([100, -30, 0], dtype="Int64"),
            "counterparty_account": ["B", "C", "D"],
        }
    )
    edges, report = statement_to_edges(statement, file="s.csv")
    assert rows(edges, "txn_id", "from_account", "to_account", "amount_cents") == [("s.csv#2", "A", "B", 100), ("s.csv#3", "A", "C", 30)]
    assert rows(report.rejected, "row", "reason") == [(4, "zero amount")]


# --------------------------------------------------------------------------------------------- real data
@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real is absent")
def test_amlworld_transactions_load_with_generic_guessing():
    data = (REAL / "amlworld-hi/transactions.csv").read_bytes()
    result = load_files([("transactions.csv", data)], today=TODAY)
    assert result.plan["transactions.csv"].table == "transactions"
    assert len(result.frames["transactions"]) == 22743
    assert result.report.rows_rejected == 0


@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real is absent")
def test_uci_file_with_cr_line_endings_reads():
    raw = read_table((REAL / "uci-taiwan/UCI_Credit_Card.csv").read_bytes(), file="UCI_Credit_Card.csv")
    assert raw.frame.columns[0] == "ID" and len(raw.frame) == 30000
    assert raw.frame.loc[2, "ID"] == "1"


def test_a_bare_account_column_without_bank_columns_means_a_statement():
    # berka trans.asc layout: own account, then the partner's bank and account
    cols = ["trans_id", "account_id", "date", "type", "operation", "amount", "balance", "k_symbol", "bank", "account"]
    assert guess_table(cols) == "statements"
    assert suggest_mapping(cols, "statements") == {
        "trans_id": "txn_id", "account_id": "account", "date": "ts", "type": "direction", "operation": "channel",
        "amount": "amount", "balance": "balance", "k_symbol": "memo", "bank": "counterparty_bank",
        "account": "counterparty_account",
    }


def test_defaults_fill_a_target_no_column_maps():
    text = "ts,from_account,to_account,amount\n2023-05-01,A,B,1\n"
    result = load_files([("d.csv", text.encode())], defaults={"d.csv": {"currency": "人民币"}}, today=TODAY)
    assert result.frames["transactions"]["currency"].tolist() == ["CNY"]


def test_user_mapping_overrides_the_guess():
    text = "when,payer,payee,sum\n2023-05-01,A,B,7\n"
    mapping = {"when": "ts", "payer": "from_account", "payee": "to_account", "sum": "amount"}
    result = load_files([("m.csv", text.encode())], mappings={"m.csv": ("transactions", mapping)}, today=TODAY)
    assert rows(result.frames["transactions"], "from_account", "to_account", "amount_cents") == [("A", "B", 700)]
    assert result.plan["m.csv"].mapping == mapping


# --------------------------------------------------------------------------------------------- hostile input
TX_HEADER = "txn_id,ts,from_account,to_account,amount\n"


def test_a_20_digit_amount_is_rejected_not_a_crash():
    data = TX_HEADER + "T1,2023-01-01,A,B,12345678901234567890\nT2,2023-01-02,A,B,1E+20\nT3,2023-01-03,A,B,5.00\n"
    result = load_files([("t.csv", data.encode())], today=TODAY)
    assert result.frames["transactions"]["amount_cents"].tolist() == [500]
    assert rows(result.report.rejected, "row", "column", "reason") == [
        (2, "amount", "not an amount: cannot read the number"),
        (3, "amount", "not an amount: cannot read the number"),
    ]


def test_huge_or_infinite_numbers_are_rejected_not_a_crash():
    loans = (
        "loan_id,account_id,principal,disbursed_at,dpd\n"
        "L1,A,100,2023-01-01,99999999999999999999\nL2,A,100,2023-01-01,inf\nL3,A,100,2023-01-01,12\n"
    )
    result = load_files([("loans.csv", loans.encode())], today=TODAY)
    assert result.frames["loans"]["dpd"].tolist() == [12]
    assert rows(result.report.rejected, "row", "column", "reason") == [
        (2, "dpd", "not a whole number (or too large)"),
        (3, "dpd", "not a whole number (or too large)"),
    ]
    rel = load_files([("rel.csv", b"src_id,dst_id,share\nA,B,inf\nA,C,50%\n")], today=TODAY)
    assert rel.frames["relations"]["share"].tolist() == [0.5]
    assert rows(rel.report.rejected, "row", "column", "reason") == [(2, "share", "not a number")]


def test_an_unclosed_quote_rejects_only_its_own_line():
    data = TX_HEADER + 'T1,2023-01-01,A,B,10.00\nT2,2023-01-02,"B,C,5.00\nT3,2023-01-03,C,D,1.00\nT4,2023-01-04,D,E,2.00\n'
    result = load_files([("q.csv", data.encode())], today=TODAY)
    assert result.frames["transactions"]["txn_id"].tolist() == ["T1", "T3", "T4"]
    assert (result.report.rows_read, result.report.rows_loaded) == (4, 3)
    assert rows(result.report.rejected, "row", "value", "reason") == [
        (3, 'T2,2023-01-02,"B,C,5.00', "a field opens a quote that is never closed on this line")]


def test_a_legit_multi_line_field_keeps_the_row_numbers_after_it():
    data = 'txn_id,ts,from_account,to_account,memo\nT1,2023-01-01,A,B,"two\nlines"\nT2,2023-01-02,B,C,x,y\nT3,2023-01-03,C,D,ok\n'
    raw = read_table(data.encode(), file="m.csv")
    assert list(raw.frame.index) == [2, 5]
    assert raw.frame.loc[2, "memo"] == "two\nlines"
    assert rows(raw.rejected, "row", "reason") == [(4, "row has 6 fields but the header has 5")]


def test_padded_title_lines_and_a_total_line_of_a_bank_export():
    # Excel pads every line to the table's width; the header is line 4, data lines 5-6, the total line 7
    text = "账户明细查询,,,,,,,\n账号：6222000011,,,,,,,\n,,,,,,,\n" + STATEMENT_ZH + "合计,,,1250.00,,,,\n"
    result = load_files([("明细.csv", text.encode("gbk"))], today=TODAY)
    assert result.plan["明细.csv"].table == "statements"
    assert result.frames["transactions"]["amount_cents"].tolist() == [100000, 25000]
    assert rows(result.report.rejected, "row", "value", "reason") == [(7, "合计", "a total/summary line, not a data row")]


def test_a_customer_called_total_is_not_a_total_line():
    data = "name,customer_id,phone\nTotal Oil Ltd,C1,13800000000\nTotal,,\n"
    result = load_files([("c.csv", data.encode())], today=TODAY)
    assert result.frames["customers"]["customer_id"].tolist() == ["C1"]
    assert rows(result.report.rejected, "row", "reason") == [(3, "a total/summary line, not a data row")]


def test_blank_lines_padded_with_delimiters_are_skipped():
    data = TX_HEADER + "T1,2023-01-01,A,B,1\n,,,,\nT2,2023-01-02,A,B,2\n,,,,\n"
    result = load_files([("p.csv", data.encode())], today=TODAY)
    assert result.frames["transactions"]["txn_id"].tolist() == ["T1", "T2"]
    assert (result.report.rows_read, result.report.rows_rejected) == (2, 0)


def test_a_utf8_bom_in_front_of_gbk_text():
    raw = read_table(b"\xef\xbb\xbf" + STATEMENT_ZH.encode("gbk"), file="bom.csv")
    assert raw.encoding == "gbk"
    assert list(raw.frame.columns)[:2] == ["交易日期", "账号"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom(codec):
    raw = read_table(STATEMENT_ZH.encode(codec), file="u.csv")
    assert raw.encoding == codec
    assert raw.frame.loc[3, "对方户名"] == "李四"


def test_dos_end_of_file_mark_is_ignored():
    result = load_files([("d.csv", (TX_HEADER + "T1,2023-01-01,A,B,1\n\x1a").encode())], today=TODAY)
    assert result.frames["transactions"]["txn_id"].tolist() == ["T1"]
    assert result.report.rows_rejected == 0


@pytest.mark.parametrize(
    "data,reason",
    [
        (bytes(range(1, 256)) * 20, "binary file"),
        (b"<html><body><table><tr><td>txn_id</td></tr></table></body></html>", "web page or XML file"),
        (b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>', "web page or XML file"),
    ],
    ids=["binary-without-zero-bytes", "html-as-xls", "xml-spreadsheet-2003"],
)
def test_more_unusable_files_are_named(data, reason):
    with pytest.raises(IngestError) as err:
        load_files([("f.xls", data)], today=TODAY)
    assert err.value.file == "f.xls"
    assert reason in err.value.reason


def test_a_zip_that_is_not_a_workbook_says_so():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("transactions.csv", EDGES)
    with pytest.raises(IngestError) as err:
        read_table(buf.getvalue(), file="t.csv")
    assert "ZIP archive" in err.value.reason


def test_a_loans_file_without_principal_names_the_missing_column():
    data = "loan_id,customer_id,account_id,disbursed_at,status\nL1,C1,A,2023-01-01,overdue\n"
    assert guess_table(["loan_id", "customer_id", "account_id", "disbursed_at", "status"]) == "loans"
    with pytest.raises(IngestError) as err:
        load_files([("loans.csv", data.encode())], today=TODAY)
    assert (err.value.file, err.value.column) == ("loans.csv", "principal")


def test_an_edge_list_without_a_receiver_names_to_account():
    with pytest.raises(IngestError) as err:
        load_files([("t.csv", b"txn_id,ts,from_account,amount\nT1,2023-01-01,A,10.00\n")], today=TODAY)
    assert (err.value.file, err.value.column) == ("t.csv", "to_account")


def test_the_same_file_twice_in_one_load_is_read_once():
    result = load_files([("a.csv", EDGES.encode()), ("a.csv", EDGES.encode())], today=TODAY)
    assert len(result.frames["transactions"]) == 2
    assert result.report.rows_read == 2
    assert result.report.notes == ["a.csv was given more than once and was read once"]
    with pytest.raises(IngestError) as err:
        load_files([("a.csv", EDGES.encode()), ("a.csv", TX_HEADER.encode() + b"T9,2023-01-01,A,B,1\n")], today=TODAY)
    assert "two different files have the same name" in err.value.reason


def test_a_posting_with_both_debit_and_credit_names_the_users_columns():
    data = "交易日期,账号,借方发生额,贷方发生额,对方账号\n2023-01-01,A1,10.00,20.00,B1\n2023-01-02,A1,5.00,,B1\n"
    result = load_files([("s.csv", data.encode())], today=TODAY)
    assert result.frames["transactions"]["amount_cents"].tolist() == [500]
    assert rows(result.report.rejected, "row", "column", "value", "reason") == [
        (2, "借方发生额 / 贷方发生额", "10.00 / 20.00", "both a debit and a credit amount on one posting")]


def test_a_huge_rejected_cell_is_cut_in_the_report():
    data = TX_HEADER + "T1,2023-01-01,A,B," + "9" * 1_000_000 + "x\n"
    result = load_files([("h.csv", data.encode())], today=TODAY)
    value = result.report.rejected["value"].iloc[0]
    assert value == "9" * 200 + "… (1,000,001 characters)"


def test_an_unforeseen_failure_still_names_the_file(monkeypatch):
    import analysis.ingest as ingest

    def boom(*args, **kwargs):
        raise OverflowError("something nobody foresaw")

    monkeypatch.setattr(ingest, "normalise", boom)
    with pytest.raises(IngestError) as err:
        load_files([("x.csv", EDGES.encode())], today=TODAY)
    assert err.value.file == "x.csv"
    assert "OverflowError: something nobody foresaw" in err.value.reason


def test_account_keys_follow_the_transactions_when_only_the_accounts_file_names_a_bank():
    # regression: accounts keyed "bank:number" matched no transaction, so related_party was always 0
    accounts = "account_id,customer_id,bank\n001,C1,示范银行\n002,C2,示范银行\n".encode()
    loans = "loan_id,account_id,bank,principal,disbursed_at,status\nL1,001,示范银行,100,2024-01-01,overdue\n".encode()
    txns = b"txn_id,ts,from_account,to_account,amount\nT1,2024-01-02,001,002,50\n"
    result = load_files([("accounts.csv", accounts), ("loans.csv", loans), ("transactions.csv", txns)])
    assert result.frames["accounts"]["account_id"].tolist() == ["001", "002"]
    assert result.frames["loans"]["account_id"].tolist() == ["001"]
    assert any("without their bank" in n for n in result.report.notes)


def test_account_keys_keep_the_bank_when_the_transactions_name_it_too():
    accounts = b"account_id,customer_id,bank\n001,C1,B1\n001,C2,B2\n"
    txns = b"txn_id,ts,from_bank,from_account,to_bank,to_account,amount\nT1,2024-01-02,B1,001,B2,001,50\n"
    result = load_files([("accounts.csv", accounts), ("transactions.csv", txns)])
    assert result.frames["accounts"]["account_id"].tolist() == ["B1:001", "B2:001"]
    assert result.frames["transactions"][["from_account", "to_account"]].values.tolist() == [["B1:001", "B2:001"]]
