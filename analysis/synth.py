"""Seeded demo data: a small Chinese bank's customers, accounts, loans, repayments, relations and
transactions, with planted fund-flow patterns and a ground-truth table (DESIGN.md §7, issue 2 §4).

Everything comes from one ``numpy.random.Generator`` seeded by ``seed``: the same arguments give
identical frames. Benign traffic is generated vectorised, so ``scaled`` reaches millions of rows.

How the planted flows are made unambiguous for the tracer (fifo, 4 hops, 90 days):
- a planted loan pays into its own dedicated borrower account that has no other traffic except
  top-ups from the borrower's main account shortly before each repayment, so at disbursement the
  account holds nothing but the loan and fifo spends the loan money first;
- every account that forwards planted money (mules, shells) is fresh, receives before it sends and
  never sends more than it received, so no implied opening balance is mixed in;
- all planted transfers happen within 60 days of disbursement and within 4 transfers;
- loan disbursements are NOT written as transactions: the tracer books the principal into the
  borrower account at ``disbursed_at`` itself (its ledger must include that credit when it works out
  implied opening balances).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from analysis import schema

PATTERNS: Final[tuple[str, ...]] = (
    "fast_in_out",
    "split_transfers",
    "back_to_borrower",
    "related_party",
    "restricted_sector",
    "loan_repays_loan",
    "common_payee",
    "multi_account_repayment",
    "cross_border",
)

# canonical money column -> column name in the user-facing CSVs (currency units, 2 decimals)
CSV_MONEY_COLUMNS: Final[dict[str, str]] = {
    "principal_cents": "principal",
    "overdue_cents": "overdue_amount",
    "outstanding_cents": "outstanding",
    "amount_cents": "amount",
    "received_cents": "received_amount",
    "balance_after_cents": "balance_after",
    "amount_due_cents": "amount_due",
    "amount_paid_cents": "amount_paid",
    "balance_cents": "balance",
}

DEMO_TABLES: Final[tuple[str, ...]] = (
    "customers", "accounts", "loans", "transactions", "repayments", "relations", "ground_truth",
)

# Split transfers stay just below this reporting threshold (5万元), in cents.
SPLIT_THRESHOLD_CENTS: Final[int] = 5_000_000

OUR_BANK: Final[str] = "示范商业银行"
_OTHER_BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "交通银行", "招商银行",
                "浦发银行", "中信银行", "兴业银行", "平安银行", "民生银行", "光大银行")
_FOREIGN = (  # country, bank, currency
    ("HK", "HSBC Hong Kong", "HKD"), ("HK", "Bank of China (Hong Kong)", "HKD"),
    ("SG", "DBS Bank Singapore", "SGD"), ("SG", "OCBC Singapore", "SGD"),
    ("US", "Citibank N.A. New York", "USD"), ("MO", "Banco Nacional Ultramarino", "MOP"),
    ("AE", "Emirates NBD", "AED"), ("GB", "Barclays London", "GBP"),
)
_FOREIGN_NAMES = ("Pacific Rim Trading Ltd", "Golden Harbour Holdings Ltd", "Asia Bridge Consulting Pte Ltd",
                  "Everbright Capital Ltd", "Lion City Resources Pte Ltd", "Silverline Global Inc",
                  "Orient Pearl Investment Ltd", "Kowloon Star Logistics Ltd", "Desert Falcon General Trading LLC",
                  "Thames Gate Ventures Ltd", "Jade Dragon Enterprises Ltd", "Harbourfront Asset Management Ltd")

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
                 "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彩春菊凤洁梅琳云莲雪荣爱香月瑞凡佳嘉"
              "琼勤珍莉锦青倩婷婉颖露瑶怡丹蓉君琴蕊薇梦岚馨韵悦冰宁欣浩宇轩然博文睿泽豪俊鹏飞志建国庆海峰永斌鑫辉"
              "晨阳昊天宏伟新亮成林彬诚")
_REGIONS = (  # province, city, (district, area code) ...
    ("浙江省", "杭州市", (("西湖区", "330106"), ("拱墅区", "330105"), ("滨江区", "330108"), ("萧山区", "330109"))),
    ("浙江省", "宁波市", (("海曙区", "330203"), ("鄞州区", "330212"))),
    ("浙江省", "温州市", (("鹿城区", "330302"), ("瓯海区", "330304"))),
    ("江苏省", "苏州市", (("姑苏区", "320508"), ("吴中区", "320506"), ("相城区", "320507"))),
    ("江苏省", "南京市", (("玄武区", "320102"), ("鼓楼区", "320106"))),
    ("上海市", "上海市", (("浦东新区", "310115"), ("徐汇区", "310104"), ("闵行区", "310112"))),
    ("广东省", "深圳市", (("南山区", "440305"), ("福田区", "440304"), ("宝安区", "440306"))),
    ("广东省", "广州市", (("天河区", "440106"), ("越秀区", "440104"))),
    ("北京市", "北京市", (("朝阳区", "110105"), ("海淀区", "110108"))),
    ("四川省", "成都市", (("武侯区", "510107"), ("锦江区", "510104"))),
    ("湖北省", "武汉市", (("江汉区", "420103"), ("洪山区", "420111"))),
    ("山东省", "青岛市", (("市南区", "370202"), ("黄岛区", "370211"))),
    ("福建省", "厦门市", (("思明区", "350203"), ("湖里区", "350206"))),
)
_REGION_WEIGHTS = np.array([6, 3, 2, 2, 1.5, 2, 1.5, 1, 1, 1, 1, 1, 1.0])
_ROADS = ("文三路", "解放路", "人民路", "中山路", "建设路", "新华路", "长江路", "黄河路", "和平路", "延安路",
          "滨江大道", "科技路", "学院路", "工业园路", "创业路", "环城北路", "东风路", "金融街", "体育场路", "莫干山路")
_BRANDS = ("恒达", "鑫源", "华创", "永盛", "金泰", "瑞丰", "宏图", "盛世", "汇通", "东升", "天成", "嘉禾", "博远",
           "众诚", "联兴", "新锐", "德隆", "中润", "海纳", "卓越", "安信", "广厦", "锦程", "龙腾", "百川", "通达",
           "富华", "祥和", "合力", "凯旋", "星辰", "明德", "华耀", "泰和", "信达", "宝丰")
_INDUSTRIES = (  # code, weight, name words
    ("manufacturing", 0.25, ("机械制造", "电子科技", "纺织", "塑胶制品", "五金制品")),
    ("wholesale", 0.14, ("贸易", "供应链管理", "商贸")),
    ("retail", 0.12, ("百货", "超市", "商业连锁")),
    ("construction", 0.10, ("建设工程", "建筑劳务", "装饰工程")),
    ("technology", 0.10, ("信息技术", "网络科技", "软件")),
    ("logistics", 0.07, ("物流", "货运代理")),
    ("catering", 0.06, ("餐饮管理", "食品")),
    ("agriculture", 0.05, ("农业开发", "生态农业")),
    ("real_estate", 0.04, ("房地产开发", "置业")),
    ("securities", 0.02, ("证券投资咨询", "资产管理")),
    ("healthcare", 0.03, ("医疗器械", "医药")),
    ("education", 0.02, ("教育科技", "培训")),
)
_RESTRICTED = frozenset({"real_estate", "securities"})
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                    "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183",
                    "185", "186", "187", "188", "189", "191", "198", "199")
_ENT_PRODUCTS = (("流动资金贷款", ("日常经营周转", "采购原材料", "支付货款")),
                 ("固定资产贷款", ("购买设备", "厂房改造")),
                 ("供应链融资", ("支付货款", "采购原材料")),
                 ("小微企业信用贷", ("日常经营周转", "支付工程款")))
_IND_PRODUCTS = (("个人经营性贷款", ("店铺进货", "日常经营周转", "购买设备")),
                 ("个人消费贷款", ("装修", "购车", "教育", "旅游")),
                 ("个人住房装修贷款", ("装修",)))
_MERCHANT_CATS = (("retail", ("联华超市", "永辉超市", "苏宁易购", "国美电器", "银泰百货")),
                  ("catering", ("外婆家餐饮", "海底捞火锅", "肯德基", "星巴克咖啡")),
                  ("home_improvement", ("红星美凯龙家居", "居然之家", "东方雨虹装饰", "业之峰装饰")),
                  ("auto", ("吉利汽车4S店", "比亚迪汽车销售", "大众汽车4S店")),
                  ("education", ("新东方培训学校", "学而思培优")),
                  ("healthcare", ("浙一医院", "老百姓大药房")),
                  ("travel", ("携程旅行", "中国国际航空")))
_UTILITIES = (("国网供电公司", "电费"), ("自来水有限公司", "水费"), ("燃气有限公司", "燃气费"),
              ("中国移动通信", "话费"), ("中国电信", "话费"), ("物业服务有限公司", "物业费"))
_PLATFORMS = ("支付宝(中国)网络技术有限公司", "财付通支付科技有限公司", "银联商务股份有限公司", "网银在线(京东支付)")
_PLATFORM_CATS = ("e_commerce", "retail", "catering", "travel")
_RESTRICTED_PAYEES = (("real_estate", ("绿城房地产开发有限公司", "万科置业有限公司", "融创房地产开发有限公司",
                                       "保利置业有限公司", "碧桂园房地产开发有限公司")),
                      ("securities", ("华泰证券股份有限公司客户交易结算资金", "中信证券股份有限公司客户交易结算资金",
                                      "国泰君安证券客户交易结算资金", "东方财富证券客户交易结算资金")))

_CH = {c: i for i, c in enumerate(schema.CHANNELS)}
_DAY = 86_400
_HOUR = 3_600


class _Vocab:
    """Small string -> code table so transaction rows stay integer arrays until the end."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.codes: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        code = self.codes.get(s)
        if code is None:
            code = self.codes[s] = len(self.items)
            self.items.append(s)
        return code

    def array(self) -> np.ndarray:
        return np.array(self.items + [""], dtype=object)


class _Accounts:
    """Accounts appended in chunks; an account is addressed by its integer index."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("id", "cust", "bank", "name", "type", "country", "currency", "opened", "cat", "memo")
        }
        self.n = 0
        self._used: set[int] = set()  # account-number tails handed out so far: numbers never repeat
        self._single: list[tuple] = []  # accounts added one at a time, flushed as one chunk

    def numbers(self, n: int, prefixes: tuple[str, ...], width: int = 15) -> np.ndarray:
        tails = self.rng.integers(0, 10**width, n)
        for j, t in enumerate(tails.tolist()):
            while t in self._used:
                t = int(self.rng.integers(0, 10**width))
            tails[j] = t
            self._used.add(t)
        pre = np.asarray(prefixes, dtype=object)[self.rng.integers(0, len(prefixes), n)]
        tails_s = np.char.zfill(tails.astype(str), width).astype(object)
        return pre + tails_s

    def number(self, prefixes: tuple[str, ...], width: int = 15) -> str:
        t = int(self.rng.integers(0, 10**width))
        while t in self._used:
            t = int(self.rng.integers(0, 10**width))
        self._used.add(t)
        return prefixes[int(self.rng.integers(0, len(prefixes)))] + str(t).zfill(width)

    def add_one(self, *, id_: str, cust: int, bank: str, name: str, type_: str, opened: float = np.nan) -> int:
        self._single.append((id_, cust, bank, name, type_, opened))
        self.n += 1
        return self.n - 1

    def _flush(self) -> None:
        if self._single:
            rows, self._single = self._single, []
            self.n -= len(rows)
            ids, cust, bank, name, type_, opened = (np.array(c, dtype=object) for c in zip(*rows))
            self.add(ids=ids, cust=cust.astype(np.int64), bank=bank, name=name, type_=type_,
                     opened=opened.astype(np.float64))

    def add(self, *, ids, cust, bank, name, type_, country="CN", currency="CNY", opened=None, cat=None,
            memo=None) -> np.ndarray:
        self._flush()
        ids = np.asarray(ids, dtype=object)
        n = len(ids)

        def full(v, dtype=object):
            if v is None or np.ndim(v) == 0:
                return np.full(n, v, dtype=dtype)
            return np.asarray(v, dtype=dtype)

        self.cols["id"].append(ids)
        self.cols["cust"].append(full(-1 if cust is None else cust, np.int64))
        self.cols["bank"].append(full(bank))
        self.cols["name"].append(full(name))
        self.cols["type"].append(full(type_))
        self.cols["country"].append(full(country))
        self.cols["currency"].append(full(currency))
        self.cols["opened"].append(full(np.nan if opened is None else opened, np.float64))
        self.cols["cat"].append(full(cat))
        self.cols["memo"].append(full(memo))
        idx = np.arange(self.n, self.n + n)
        self.n += n
        return idx

    def column(self, key: str) -> np.ndarray:
        self._flush()
        return np.concatenate(self.cols[key]) if self.cols[key] else np.array([])


def _join_chars(chars: np.ndarray) -> np.ndarray:
    """Row-wise concatenation of a 2-D array of strings (object array of str)."""
    out = chars[:, 0].copy()
    for j in range(1, chars.shape[1]):
        out = out + chars[:, j]
    return out


def _text(values: np.ndarray, codes: np.ndarray) -> pd.Series:
    """`values[codes]` as a text Series, built in Arrow (None in `values` becomes missing)."""
    return pd.Series(pa.array(np.asarray(values, dtype=object), type=pa.large_string()).take(pa.array(codes)),
                     dtype="str")


def _iso_text(secs: np.ndarray, start64: np.datetime64) -> pd.Series:
    """ISO text Series for integer second offsets from start, without formatting every row."""
    day, tod = np.divmod(np.asarray(secs, dtype=np.int64), _DAY)
    d0 = int(day.min()) if len(day) else 0
    n_days = int(day.max()) - d0 + 1 if len(day) else 1
    days = np.datetime_as_string(start64.astype("datetime64[D]") + np.arange(d0, d0 + n_days).astype("timedelta64[D]"),
                                 unit="D").astype(object)
    clock = np.datetime_as_string(np.datetime64("2000-01-01T00:00:00") + np.arange(_DAY).astype("timedelta64[s]"),
                                  unit="s")
    clock = np.char.lstrip(clock, "0123456789-").astype(object)  # 'THH:MM:SS'
    joined = pc.binary_join_element_wise(pa.array(days).take(pa.array(day - d0)), pa.array(clock).take(pa.array(tod)), "")
    return pd.Series(joined, dtype="str")


def _iso(secs: np.ndarray, start64: np.datetime64) -> np.ndarray:
    """ISO text for second offsets from start (object array; NaN offsets become None)."""
    secs = np.asarray(secs, dtype=np.float64)
    ok = ~np.isnan(secs)
    out = np.full(len(secs), None, dtype=object)
    if ok.any():
        out[ok] = np.datetime_as_string(start64 + secs[ok].astype(np.int64).astype("timedelta64[s]"), unit="s")
    return out


def _split_amount(rng: np.random.Generator, total: int, parts: int, *, unit: int = 100) -> list[int]:
    """Random positive parts of `total` cents in multiples of `unit` (their sum may fall short by < unit*parts)."""
    w = rng.uniform(0.5, 1.5, parts)
    amounts = [int(x) // unit * unit for x in total * w / w.sum()]
    return [a for a in amounts if a > 0]


class _Gen:
    """One generation run: holds the rng, the account register and the transaction rows."""

    def __init__(self, *, seed: int, n_customers: int, n_loans: int, n_overdue: int, n_transactions: int | None,
                 start: str, months: int) -> None:
        if months < 6:
            raise ValueError("months must be at least 6 (planted flows need a 90-day window and several instalments)")
        if n_customers < 40 or n_loans < 20:
            raise ValueError("need at least 40 customers and 20 loans")
        if not 0 <= n_overdue <= n_loans:
            raise ValueError("the number of overdue loans must lie between 0 and n_loans")
        self.rng = np.random.default_rng(seed)
        self.n_customers, self.n_loans, self.n_overdue = n_customers, n_loans, n_overdue
        self.n_transactions = n_transactions if n_transactions is not None else 45 * n_customers
        t_start = pd.Timestamp(start)
        if t_start != t_start.normalize():
            raise ValueError("start must be a date (YYYY-MM-DD)")
        self.start64 = np.datetime64(t_start.strftime("%Y-%m-%dT%H:%M:%S"), "s")
        self.days = int(((t_start + pd.DateOffset(months=months)) - t_start).days)
        self.end = self.days * _DAY
        self.acc = _Accounts(self.rng)
        self.memo = _Vocab()
        self.cat = _Vocab()
        # transaction chunks: ts, from, to, amount, channel, memo code, category code (-1 = counterparty's)
        self.tx: list[tuple[np.ndarray, ...]] = []
        self.rows: list[tuple[int, int, int, int, int, int, int]] = []  # planted/loan rows, one tuple each
        self.gt: list[tuple[int, str]] = []
        self.relations: list[tuple[int, int, str, float]] = []

    # ----------------------------------------------------------------- helpers
    def biz(self, day: int | np.ndarray, lo: float = 9, hi: float = 17.5) -> np.ndarray | int:
        """Seconds offset of a random time between lo and hi o'clock on `day`."""
        n = None if np.ndim(day) == 0 else len(day)
        return np.asarray(day) * _DAY + self.rng.integers(int(lo * _HOUR), int(hi * _HOUR), n)

    def emit(self, ts: int, frm: int, to: int, amount: int, channel: str, memo: str, cat: str | None = None) -> None:
        self.rows.append((int(ts), int(frm), int(to), int(amount), _CH[channel], self.memo(memo),
                          -1 if cat is None else self.cat(cat)))

    def add_chunk(self, ts, frm, to, amount, channel: str | np.ndarray, memo, cat=None) -> None:
        n = len(ts)
        ch = np.full(n, _CH[channel]) if isinstance(channel, str) else np.asarray(channel)
        if isinstance(memo, str):
            mc = np.full(n, self.memo(memo))
        else:
            mc = np.asarray(memo)
        cc = np.full(n, -1) if cat is None else np.asarray(cat)
        self.tx.append(tuple(np.asarray(a, dtype=np.int64) for a in (ts, frm, to, amount, ch, mc, cc)))

    def pick(self, seq):
        """A random element of a sequence (cheaper than rng.choice for one draw)."""
        return seq[int(self.rng.integers(0, len(seq)))]

    def memo_codes(self, choices: tuple[str, ...], n: int) -> np.ndarray:
        codes = np.array([self.memo(m) for m in choices])
        return codes[self.rng.integers(0, len(codes), n)]

    def lognormal_cents(self, median_yuan: float, sigma: float, n: int, *, round_to: int = 1) -> np.ndarray:
        yuan = median_yuan * np.exp(self.rng.normal(0, sigma, n))
        cents = np.maximum(np.round(yuan * 100 / round_to), 1) * round_to
        return cents.astype(np.int64)

    # ----------------------------------------------------------------- customers
    def customers(self) -> None:
        rng, n = self.rng, self.n_customers
        n_mule = max(4, round(0.07 * n))
        kind = np.where(rng.random(n) < 0.4, 1, 0)  # 1 = enterprise
        kind[:n_mule] = rng.integers(0, 2, n_mule)
        mule = np.zeros(n, dtype=bool)
        mule[:n_mule] = True
        perm = rng.permutation(n)
        self.ent, self.mule = kind[perm] == 1, mule[perm]

        reg = rng.choice(len(_REGIONS), n, p=_REGION_WEIGHTS / _REGION_WEIGHTS.sum())
        n_dist = np.array([len(r[2]) for r in _REGIONS])
        dist = (rng.random(n) * n_dist[reg]).astype(np.int64)
        self.city = np.array([_REGIONS[r][1] for r in reg], dtype=object)
        prov = np.array([_REGIONS[r][0] for r in reg], dtype=object)
        district = np.array([_REGIONS[r][2][d][0] for r, d in zip(reg, dist)], dtype=object)
        area = np.array([_REGIONS[r][2][d][1] for r, d in zip(reg, dist)], dtype=object)
        place = np.where(prov == self.city, self.city, prov + self.city) + district

        ind_codes = np.array([c for c, _, _ in _INDUSTRIES], dtype=object)
        w = np.array([x for _, x, _ in _INDUSTRIES])
        ind_i = rng.choice(len(_INDUSTRIES), n, p=w / w.sum())
        words = [_INDUSTRIES[i][2] for i in ind_i]
        industry = ind_codes[ind_i]
        mule_words = np.array(["商贸", "贸易", "供应链管理", "企业管理咨询", "投资管理"], dtype=object)
        ent_word = np.array([ws[rng.integers(0, len(ws))] for ws in words], dtype=object)
        mw = rng.integers(0, len(mule_words), n)
        ent_word = np.where(self.mule, mule_words[mw], ent_word)
        industry = np.where(self.mule & self.ent, np.where(mw >= 3, "business_services", "wholesale"), industry)
        brand = np.asarray(_BRANDS, dtype=object)[rng.integers(0, len(_BRANDS), n)]
        city_short = np.array([c[:-1] for c in self.city], dtype=object)
        ent_name = city_short + brand + ent_word + "有限公司"

        self.person_names = self.names(n)
        self.name = np.where(self.ent, ent_name, self.person_names)
        self.industry = np.where(self.ent, industry, None)
        self.ent_industry = industry  # what an enterprise does (used for restricted-payee filtering)

        # 18-char ids: resident ID (GB 11643) for people, unified social credit code for firms
        birth = np.datetime64("1960-01-01") + rng.integers(0, 40 * 365, n).astype("timedelta64[D]")
        birth_s = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "").astype(object)
        seq = np.char.zfill(rng.integers(0, 1000, n).astype(str), 3).astype(object)
        body = area + birth_s + seq
        digits = np.array(list(body.astype("U17")), dtype="U17").view("U1").reshape(n, 17).astype(np.int64)
        wts = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
        check = np.array(list("10X98765432"), dtype=object)[(digits * wts).sum(1) % 11]
        person_id = body + check
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        org = rng.integers(0, 31, (n, 9))
        org[:, :2] = rng.integers(0, 10, (n, 2))
        head = np.concatenate([np.array([[9, 1]] * n), np.array([list(a) for a in area.astype("U6")], dtype=np.int64),
                               org], axis=1)
        uw = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
        cc = (31 - (head * uw).sum(1) % 31) % 31
        alpha = np.array(list(alphabet), dtype=object)
        uscc = _join_chars(alpha[np.concatenate([head, cc[:, None]], axis=1)])
        self.id_number = np.where(self.ent, uscc, person_id)

        self.phone = self.phones(n)
        qq = rng.integers(10**5, 10**10, n).astype(str).astype(object) + "@qq.com"
        dom = np.array(["@163.com", "@126.com", "@sina.com", "@outlook.com"], dtype=object)[rng.integers(0, 4, n)]
        letters = self.letters(n, 5, 9)
        personal = np.where(rng.random(n) < 0.5, qq, letters + rng.integers(10, 99, n).astype(str).astype(object) + dom)
        ent_mail = np.array(["caiwu@", "finance@", "service@", "admin@"], dtype=object)[rng.integers(0, 4, n)] + \
            self.letters(n, 4, 8) + ".com.cn"
        self.email = np.where(self.ent, ent_mail, personal)

        road = np.asarray(_ROADS, dtype=object)[rng.integers(0, len(_ROADS), n)]
        num = rng.integers(1, 999, n).astype(str).astype(object)
        home = road + num + "号" + rng.integers(1, 30, n).astype(str).astype(object) + "栋" + \
            rng.integers(1, 6, n).astype(str).astype(object) + "单元" + \
            (rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)).astype(str).astype(object) + "室"
        office = road + num + "号" + brand + "大厦" + \
            (rng.integers(1, 40, n) * 100 + rng.integers(1, 20, n)).astype(str).astype(object) + "室"
        self.address = place + np.where(self.ent, office, home)
        self.region = self.city.copy()

        reg_day = np.where(self.ent, rng.integers(-24 * 365, -200, n), rng.integers(-16 * 365, -30, n))
        reg_day = np.where(self.mule, rng.integers(-3 * 365, -60, n), reg_day)
        self.registered = reg_day * _DAY + rng.integers(9 * _HOUR, 17 * _HOUR, n)

        # legal representatives: an in-bank individual for about a third of the firms, else an outsider
        self.legal_rep_cust = np.full(n, -1)
        self.legal_rep_name = self.names(n)
        inds = np.flatnonzero(~self.ent & ~self.mule)
        firms = np.flatnonzero(self.ent & ~self.mule)
        pick = firms[rng.random(len(firms)) < 0.33]
        self.legal_rep_cust[pick] = rng.choice(inds, len(pick))
        # group companies: 2-3 firms sharing a legal representative and an address
        groups = rng.permutation(firms)[: max(2, len(firms) // 8)]
        for g in np.array_split(groups, max(1, len(groups) // 3)):
            if len(g) > 1:
                self.legal_rep_cust[g] = self.legal_rep_cust[g[0]]
                self.legal_rep_name[g] = self.legal_rep_name[g[0]]
                self.address[g] = self.address[g[0]]
                for child in g[1:]:
                    self.relations.append((int(g[0]), int(child), "shareholder", round(float(rng.uniform(0.51, 1.0)), 2)))
        # shells: a handful of nominee directors, registered at the same secretarial address, one phone
        mules_ent = np.flatnonzero(self.mule & self.ent)
        for g in np.array_split(rng.permutation(mules_ent), max(1, len(mules_ent) // 3)):
            if len(g):
                self.legal_rep_name[g] = self.legal_rep_name[g[0]]
                self.address[g] = self.address[g[0]]
                self.phone[g] = self.phone[g[0]]
        mules_ind = np.flatnonzero(self.mule & ~self.ent)
        all_mules = np.flatnonzero(self.mule)
        self.mules = {None: all_mules, True: mules_ent if len(mules_ent) else all_mules,
                      False: mules_ind if len(mules_ind) else all_mules}
        if len(mules_ind) and len(mules_ent):
            share = mules_ind[rng.random(len(mules_ind)) < 0.4]
            self.phone[share] = self.phone[rng.choice(mules_ent, len(share))]
        # families share an address
        fam = rng.permutation(inds)[: (len(inds) // 5) * 2].reshape(-1, 2)
        self.family = fam
        self.address[fam[:, 1]] = self.address[fam[:, 0]]
        for a, b in fam:
            self.relations.append((int(a), int(b), "family", float("nan")))

        # employers: size-weighted firms; salaries are paid monthly
        size = np.exp(rng.normal(0, 1, n))
        self.size = size
        p = size[firms] / size[firms].sum()
        self.employed = inds[rng.random(len(inds)) < 0.85]
        self.employer = rng.choice(firms, len(self.employed), p=p)
        self.industry[self.employed] = self.ent_industry[self.employer]
        for e, f in zip(self.employed, self.employer):
            if rng.random() < 0.5:
                self.relations.append((int(e), int(f), "employee", float("nan")))

    def names(self, n: int) -> np.ndarray:
        rng = self.rng
        sur = np.asarray(_SURNAMES, dtype=object)[rng.integers(0, len(_SURNAMES), n)]
        g = np.asarray(_GIVEN, dtype=object)
        two = rng.random(n) < 0.65
        return sur + g[rng.integers(0, len(g), n)] + np.where(two, g[rng.integers(0, len(g), n)], "")

    def phones(self, n: int) -> np.ndarray:
        pre = np.asarray(_MOBILE_PREFIXES, dtype=object)[self.rng.integers(0, len(_MOBILE_PREFIXES), n)]
        return pre + np.char.zfill(self.rng.integers(0, 10**8, n).astype(str), 8).astype(object)

    def letters(self, n: int, lo: int, hi: int) -> np.ndarray:
        abc = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)
        chars = abc[self.rng.integers(0, 26, (n, hi))]
        lens = self.rng.integers(lo, hi + 1, n)
        chars[np.arange(hi)[None, :] >= lens[:, None]] = ""
        return _join_chars(chars)

    # ----------------------------------------------------------------- accounts
    def base_accounts(self) -> None:
        rng, acc, n = self.rng, self.acc, self.n_customers
        opened = (self.registered + rng.integers(0, 200, n) * _DAY).astype(np.float64)
        opened = np.minimum(opened, -rng.integers(1, 60, n) * _DAY + 10 * _HOUR)
        nums = np.where(self.ent, acc.numbers(n, ("0120", "0200", "1202", "3301")),
                        acc.numbers(n, ("6217", "6230", "6228", "6214")))
        self.primary = acc.add(ids=nums, cust=np.arange(n), bank=OUR_BANK, name=self.name,
                               type_=np.where(self.ent, "settlement", "deposit"), opened=opened)
        self.acct_cust = np.arange(n)  # customer -> primary account index is self.primary[c]

        def ext(names, *, cat=None, memo=None, type_="external", bank=None, prefixes=("6222", "6226", "3100", "4402")):
            k = len(names)
            banks = np.asarray(_OTHER_BANKS, dtype=object)[rng.integers(0, len(_OTHER_BANKS), k)] if bank is None else bank
            return acc.add(ids=acc.numbers(k, prefixes), cust=None, bank=banks, name=names, type_=type_, cat=cat,
                           memo=memo)

        brand = lambda k: np.asarray(_BRANDS, dtype=object)[rng.integers(0, len(_BRANDS), k)]  # noqa: E731
        city = lambda k: np.array([_REGIONS[i][1][:-1] for i in rng.integers(0, len(_REGIONS), k)], dtype=object)  # noqa: E731
        k = max(30, n // 6)
        self.ext_payers = ext(city(k) + brand(k) + np.array(["实业", "贸易", "集团", "科技"], dtype=object)[rng.integers(0, 4, k)] + "有限公司")
        k = max(30, n // 6)
        sup_ind = rng.choice(["manufacturing", "wholesale", "logistics", "construction", "agriculture"], k)
        sup_word = {"manufacturing": "制造", "wholesale": "贸易", "logistics": "物流", "construction": "建材",
                    "agriculture": "农产品"}
        self.ext_suppliers = ext(city(k) + brand(k) + np.array([sup_word[s] for s in sup_ind], dtype=object) + "有限公司",
                                 cat=sup_ind)
        mnames, mcats = [], []
        for cat, names in _MERCHANT_CATS:
            for nm in names:
                for c in rng.choice(len(_REGIONS), max(1, n // 120), replace=True):
                    mnames.append(_REGIONS[c][1][:-1] + nm)
                    mcats.append(cat)
        self.merchants = ext(np.array(mnames, dtype=object), cat=np.array(mcats, dtype=object), prefixes=("3100", "1202"))
        self.merchant_cat = np.array(mcats, dtype=object)
        unames, umemo = [], []
        for r in _REGIONS[: max(3, min(len(_REGIONS), n // 60))]:
            for nm, memo in _UTILITIES:
                unames.append(r[1] + nm if not nm.startswith("中国") else nm + r[1][:-1] + "分公司")
                umemo.append(memo)
        self.utilities = ext(np.array(unames, dtype=object), cat="utilities", memo=np.array(umemo, dtype=object))
        self.platforms = acc.add(ids=acc.numbers(len(_PLATFORMS), ("2088",), width=12), cust=None,
                                 bank=np.array(["支付宝备付金", "财付通备付金", "银联商务备付金", "京东支付备付金"], dtype=object),
                                 name=np.array(_PLATFORMS, dtype=object), type_="payment_platform")
        rnames, rcats = [], []
        for cat, names in _RESTRICTED_PAYEES:
            for nm in names:
                for c in rng.choice(len(_REGIONS), max(1, n // 200), replace=True):
                    rnames.append((_REGIONS[c][1][:-1] + nm) if cat == "real_estate" else nm)
                    rcats.append(cat)
        self.restricted = ext(np.array(rnames, dtype=object), cat=np.array(rcats, dtype=object))
        self.restricted_cat = np.array(rcats, dtype=object)

        def foreign(k):
            f = rng.integers(0, len(_FOREIGN), k)
            return acc.add(ids=acc.numbers(k, ("00", "01", "84"), width=12), cust=None,
                           bank=np.array([_FOREIGN[i][1] for i in f], dtype=object),
                           name=np.asarray(_FOREIGN_NAMES, dtype=object)[rng.integers(0, len(_FOREIGN_NAMES), k)],
                           type_="external", country=np.array([_FOREIGN[i][0] for i in f], dtype=object),
                           currency=np.array([_FOREIGN[i][2] for i in f], dtype=object))

        self.foreign_payees = foreign(max(6, n // 30))
        self.foreign_payers = foreign(max(4, n // 60))
        self.foreign_benign = foreign(max(4, n // 60))
        self.cash = acc.add(ids=["CASH"], cust=None, bank=OUR_BANK, name="现金取款(柜面/ATM)", type_="external")[0]

    def new_account(self, cust: int, opened: int) -> int:
        """A fresh in-bank account of customer `cust` (mule/shell or dedicated loan account)."""
        prefixes = ("0120", "0200", "1202") if self.ent[cust] else ("6217", "6230", "6228")
        return self.acc.add_one(id_=self.acc.number(prefixes), cust=int(cust), bank=OUR_BANK, name=self.name[cust],
                                type_="settlement" if self.ent[cust] else "deposit", opened=float(opened))

    def new_external_person(self) -> int:
        """A fresh personal account at another bank (a payee we know nothing more about)."""
        name = self.pick(_SURNAMES) + self.pick(_GIVEN) + (self.pick(_GIVEN) if self.rng.random() < 0.65 else "")
        return self.acc.add_one(id_=self.acc.number(("6222", "6228", "6214", "6212")), cust=-1,
                                bank=self.pick(_OTHER_BANKS), name=name, type_="external")

    def mule_account(self, t: int, *, company: bool | None = None) -> int:
        mules = self.mules[company]
        c = int(mules[self.rng.integers(0, len(mules))])
        return self.new_account(c, t - int(self.rng.integers(10, 400)) * _DAY)

    # ----------------------------------------------------------------- loans
    def loans(self) -> None:
        rng, n = self.rng, self.n_loans
        eligible = np.flatnonzero(~self.mule)
        w = np.where(self.ent[eligible], 1.6, 1.0)
        n_distinct = min(len(eligible), round(n * 0.9))
        first = rng.choice(eligible, n_distinct, replace=False, p=w / w.sum())
        firms = first[self.ent[first]]
        extra = rng.choice(firms if len(firms) else first, n - n_distinct)
        cust = np.concatenate([first, extra])
        self.borrower = cust
        is_ent = self.ent[cust]
        overdue = np.zeros(n, dtype=bool)
        overdue[rng.choice(n, self.n_overdue, replace=False)] = True

        # pattern sets: mostly overdue loans, a few current ones; distinct primary pattern per loan
        fracs = {"fast_in_out": 0.08, "split_transfers": 0.06, "back_to_borrower": 0.08, "related_party": 0.07,
                 "restricted_sector": 0.08, "loan_repays_loan": 0.06, "common_payee": 0.08,
                 "multi_account_repayment": 0.06, "cross_border": 0.07}
        base = max(self.n_overdue, 20)
        od_pool = list(rng.permutation(np.flatnonzero(overdue)))
        # a loan that repays another loan must not itself be the only early loan: keep candidates apart
        cur_pool = list(rng.permutation(np.flatnonzero(~overdue)))
        self.pattern = np.full(n, None, dtype=object)
        for p, f in fracs.items():
            k = max(1, round(f * base))
            k_cur = int(round(k * 0.12))
            for pool, kk in ((od_pool, k - k_cur), (cur_pool, k_cur)):
                for _ in range(kk):
                    if pool:
                        self.pattern[pool.pop()] = p
        planted = self.pattern != None  # noqa: E711
        self.planted = planted

        # dates: planted flows need 90 days of data after disbursement; overdue loans need a missed due date
        hi = np.where(planted, self.days - 95, np.where(overdue, self.days - 40, self.days - 3))
        hi = np.where(self.pattern == "multi_account_repayment", self.days - 135, hi)
        # a loan that repays an earlier loan needs earlier loans: it comes in the second third of the period
        lo = np.where(self.pattern == "loan_repays_loan", np.minimum(self.days // 3, hi - 1), 0)
        day = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
        fast = (self.pattern == "fast_in_out") | ((self.pattern == "cross_border") & (rng.random(n) < 0.35))
        self.fast = fast
        t0 = np.where(fast, self.biz(day, 13, 17), self.biz(day, 9, 16.5))
        order = np.argsort(t0, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        width = max(6, len(str(n)))
        self.loan_id = np.array([f"L{r + 1:0{width}d}" for r in rank], dtype=object)
        self.t0 = t0
        self.day0 = t0 // _DAY

        principal_yuan = np.where(is_ent, np.exp(rng.uniform(np.log(3e5), np.log(5e6), n)),
                                  np.exp(rng.uniform(np.log(5e4), np.log(1e6), n)))
        principal_yuan = np.where(is_ent, np.round(principal_yuan, -4), np.round(principal_yuan, -3))
        split = self.pattern == "split_transfers"
        principal_yuan = np.where(split, np.maximum(principal_yuan, np.round(rng.uniform(8e5, 3e6, n), -4)),
                                  principal_yuan)
        self.P = (principal_yuan * 100).astype(np.int64)
        self.term = np.where(is_ent, rng.choice([12, 24, 36], n, p=[0.5, 0.3, 0.2]),
                             rng.choice([12, 24, 36], n, p=[0.3, 0.4, 0.3]))
        self.rate = np.round(rng.uniform(0.0345, 0.09, n), 4) / 12
        r = self.rate
        self.A = np.round(self.P * r / (1 - (1 + r) ** (-self.term.astype(float)))).astype(np.int64)
        prod_e = rng.integers(0, len(_ENT_PRODUCTS), n)
        prod_i = rng.integers(0, len(_IND_PRODUCTS), n)
        self.product = np.where(is_ent, np.array([p for p, _ in _ENT_PRODUCTS], dtype=object)[prod_e],
                                np.array([p for p, _ in _IND_PRODUCTS], dtype=object)[prod_i])
        self.purpose = np.array([
            (_ENT_PRODUCTS[e][1] if ie else _IND_PRODUCTS[i][1])[rng.integers(0, 3) % len(
                (_ENT_PRODUCTS[e][1] if ie else _IND_PRODUCTS[i][1]))]
            for e, i, ie in zip(prod_e, prod_i, is_ent)], dtype=object)
        self.overdue = overdue

        # borrower accounts: planted loans and a quarter of the others get a dedicated account
        dedicated = planted | (rng.random(n) < 0.25)
        self.B = self.primary[cust].copy()
        for i in np.flatnonzero(dedicated):
            recent = rng.random() < 0.5 if planted[i] else False
            opened = t0[i] - (int(rng.integers(3, 60)) if recent else int(rng.integers(60, 2000))) * _DAY
            self.B[i] = self.new_account(int(cust[i]), opened)
        self.dedicated = dedicated
        self.LN = self.acc.add(ids=np.array(["LN" + x for x in self.loan_id], dtype=object), cust=cust, bank=OUR_BANK,
                               name=np.array([f"{nm}贷款账户" for nm in self.name[cust]], dtype=object), type_="loan",
                               opened=t0.astype(np.float64))

        # due dates: month-anniversaries (day capped at 28), as day offsets from start
        d0 = self.start64.astype("datetime64[D]") + self.day0.astype("timedelta64[D]")
        m0 = d0.astype("datetime64[M]")
        dom = np.minimum((d0 - m0.astype("datetime64[D]")).astype(np.int64) + 1, 28)
        k = np.arange(1, 37)
        due = ((m0[:, None] + k[None, :]).astype("datetime64[D]") + (dom[:, None] - 1).astype("timedelta64[D]"))
        self.due = (due - self.start64.astype("datetime64[D]")).astype(np.int64)  # (n, 36) day offsets
        self.n_due = ((k[None, :] <= self.term[:, None]) & (self.due < self.days)).sum(1)

    def balance(self, i: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
        """Outstanding principal after k regular instalments (annuity)."""
        r, P, A = self.rate[i], self.P[i], self.A[i]
        g = (1 + r) ** np.asarray(k, dtype=float)
        return np.maximum(np.round(P * g - A * (g - 1) / r), 0).astype(np.int64)

    # ----------------------------------------------------------------- planted patterns
    def related_target(self, i: int) -> int:
        """A non-borrower customer made related to loan i's borrower (relation and shared attributes)."""
        b = int(self.borrower[i])
        want_ent = self.rng.random() < 0.2
        pool = self.free_ent if want_ent and self.free_ent else self.free_ind if self.free_ind else self.free_ent
        if pool:
            t = int(pool.pop())
        else:  # more planted loans than free customers: reuse someone who is not this borrower
            others = np.flatnonzero(~self.mule & (np.arange(self.n_customers) != b))
            t = int(others[self.rng.integers(0, len(others))])
        self.related_targets.append(t)
        if self.ent[b] and not self.ent[t]:
            rel = "legal_rep" if self.rng.random() < 0.5 else "shareholder"
            if rel == "legal_rep":
                self.legal_rep_cust[b] = t
                self.phone[b] = self.phone[t]
            self.relations.append((t, b, rel, round(float(self.rng.uniform(0.2, 0.9)), 2) if rel == "shareholder" else float("nan")))
        elif self.ent[b] and self.ent[t]:
            self.legal_rep_cust[t] = self.legal_rep_cust[b]
            self.legal_rep_name[t] = self.legal_rep_name[b]
            self.address[t] = self.address[b]
            self.relations.append((b, t, "shareholder", round(float(self.rng.uniform(0.3, 1.0)), 2)))
        elif not self.ent[b] and not self.ent[t]:
            self.address[t] = self.address[b]
            self.relations.append((b, t, "family", float("nan")))
        else:
            self.legal_rep_cust[t] = b
            self.phone[t] = self.phone[b]
            self.relations.append((b, t, "legal_rep", float("nan")))
        return t

    def plant(self) -> None:
        rng = self.rng
        borrowers = set(self.borrower.tolist())
        free = [c for c in rng.permutation(self.n_customers).tolist() if c not in borrowers and not self.mule[c]]
        # a related firm that pays wages or imports would pass the loan money on under fifo: take quiet firms
        employers = set(self.employer.tolist())
        self.free_ent = [c for c in free if self.ent[c] and self.ent_industry[c] not in _RESTRICTED
                         and c not in employers]
        self.related_targets: list[int] = []
        self.free_ind = [c for c in free if not self.ent[c]]
        self.payoff: dict[int, tuple[int, int, int]] = {}  # target loan -> (time, amount, payer account)
        self.extra_payers: dict[int, list[int]] = {}

        idx_common = np.flatnonzero(self.pattern == "common_payee")
        n_groups = max(1, math.ceil(len(idx_common) / 8))
        self.common_payee = {}
        for g, members in enumerate(np.array_split(rng.permutation(idx_common), n_groups)):
            first = int(members[0]) if len(members) else 0
            payee = self.mule_account(int(self.t0[first]) - 30 * _DAY, company=True) if rng.random() < 0.7 \
                else self.new_external_person()
            agent_phone = self.phones(1)[0]
            for i in members:
                self.common_payee[int(i)] = payee
                if rng.random() < 0.5:
                    self.phone[self.borrower[i]] = agent_phone
        self.taken = np.zeros(self.n_loans, dtype=bool)
        for i in np.flatnonzero(self.planted):
            i = int(i)
            p = self.pattern[i]
            used = getattr(self, "_p_" + p)(i)
            if used is None:  # no loan to repay was found: the loan stays benign
                self.pattern[i], self.planted[i] = None, False
                continue
            self.gt.append((i, p))
            if p == "cross_border" and self.fast[i]:
                self.gt.append((i, "fast_in_out"))
            if p != "multi_account_repayment":  # its principal is spent by benign_loan_spending
                self.remainder(i, used)

    def remainder(self, i: int, used: int) -> None:
        """Spend what the pattern left (minus a small float) on ordinary suppliers outside the bank."""
        P, rng = int(self.P[i]), self.rng
        rest = P - used - int(P * rng.uniform(0, 0.02))
        if rest < 100_000:
            return
        parts = _split_amount(rng, rest, int(rng.integers(1, 4)), unit=10_000)
        days = np.sort(rng.integers(2, 40, len(parts))) + self.day0[i]
        pool = self.ext_suppliers if self.ent[self.borrower[i]] else self.merchants
        for d, a in zip(days, parts):
            self.emit(self.biz(d), self.B[i], pool[rng.integers(0, len(pool))], a, "transfer",
                      self.pick((["货款", "采购款", "支付货款", "服务费"])))

    def _p_fast_in_out(self, i: int) -> int:
        rng, B, t0, P = self.rng, int(self.B[i]), int(self.t0[i]), int(self.P[i])
        parts = _split_amount(rng, int(P * rng.uniform(0.9, 0.99)), int(rng.integers(1, 4)))
        if rng.random() < 0.6:  # at night
            base = int(self.day0[i]) * _DAY + 22 * _HOUR
            times = np.sort(base + rng.integers(0, 5 * _HOUR, len(parts)))
        else:
            times = np.sort(t0 + rng.integers(20 * 60, 6 * _HOUR, len(parts)))
        times = np.maximum(times, t0 + 600) + np.arange(len(parts)) * 60
        for t, a in zip(times, parts):
            memo = self.pick((["往来款", "转账", "借款"]))
            if rng.random() < 0.5:
                m = self.mule_account(t0)
                self.emit(t, B, m, a, "transfer", memo)
                t2 = int(t + rng.integers(15 * 60, 3 * _HOUR))
                if rng.random() < 0.3:
                    cash = min(a // 4 // 10_000 * 10_000, 5_000_000)
                    if cash > 0:
                        self.emit(t2, m, self.cash, cash, "cash", "柜面取现")
                        a -= cash
                        t2 += int(rng.integers(60, 1800))
                self.emit(t2, m, self.new_external_person(), a, "transfer", "转账")
            else:
                self.emit(t, B, self.new_external_person(), a, "transfer", memo)
        return sum(parts)

    def _p_split_transfers(self, i: int) -> int:
        rng, B, P = self.rng, int(self.B[i]), int(self.P[i])
        budget = int(P * rng.uniform(0.92, 0.99))
        k = budget // 4_960_000
        amounts = rng.integers(SPLIT_THRESHOLD_CENTS - 100_000, SPLIT_THRESHOLD_CENTS, k)
        while amounts.sum() > budget:
            amounts = amounts[:-1]
        n_dest = int(rng.integers(3, 9))
        dest = [self.mule_account(int(self.t0[i]), company=False) if rng.random() < 0.6 else self.new_external_person()
                for _ in range(n_dest)]
        span = int(rng.integers(2, 7))
        days = self.day0[i] + 1 + rng.integers(0, span, len(amounts))
        times = np.sort(self.biz(days))
        for j, (t, a) in enumerate(zip(times, amounts)):
            self.emit(t, B, dest[j % n_dest], a, "transfer", self.pick((["转账", "往来款", "借款", "货款"])))
        return int(amounts.sum())

    def _p_back_to_borrower(self, i: int) -> int:
        rng, B = self.rng, int(self.B[i])
        amount = int(self.P[i] * rng.uniform(0.6, 0.9)) // 100 * 100
        hops = int(rng.choice([2, 3, 4], p=[0.4, 0.35, 0.25]))
        day = int(self.day0[i]) + int(rng.integers(1, 4))
        cur, amt, t, sent = B, amount, int(self.biz(day)), amount
        for _ in range(hops - 1):
            m = self.mule_account(int(self.t0[i]), company=rng.random() < 0.7)
            self.emit(t, cur, m, amt, "transfer", self.pick((["货款", "往来款", "预付款"])))
            cur = m
            amt = int(amt * (1 - rng.uniform(0, 0.01))) // 100 * 100
            day += int(rng.integers(1, 6))
            t = int(self.biz(day))
        self.emit(t, cur, B, amt, "transfer", self.pick((["往来款", "还借款", "退货款"])))
        return sent

    def _p_related_party(self, i: int) -> int:
        rng, B = self.rng, int(self.B[i])
        targets = [self.related_target(i) for _ in range(int(rng.integers(1, 3)))]
        parts = _split_amount(rng, int(self.P[i] * rng.uniform(0.7, 0.95)), int(rng.integers(1, 4)))
        days = np.sort(rng.integers(1, 15, len(parts))) + self.day0[i]
        for j, (d, a) in enumerate(zip(days, parts)):
            self.emit(self.biz(d), B, self.primary[targets[j % len(targets)]], a, "transfer",
                      self.pick((["借款", "往来款", "投资款", "还款"])))
        return sum(parts)

    def _p_restricted_sector(self, i: int) -> int:
        rng, B = self.rng, int(self.B[i])
        parts = _split_amount(rng, int(self.P[i] * rng.uniform(0.7, 0.95)), int(rng.integers(1, 3)))
        cat = "real_estate" if rng.random() < 0.5 else "securities"
        pool = self.restricted[self.restricted_cat == cat]
        memos = ("购房款", "房款", "购房定金") if cat == "real_estate" else ("银证转账", "证券资金存管", "转入证券账户")
        for a in parts:
            payee = int(pool[rng.integers(0, len(pool))])
            day = int(self.day0[i]) + int(rng.integers(1, 20))
            if rng.random() < 0.4:
                m = self.mule_account(int(self.t0[i]), company=False)
                t = int(self.biz(day))
                self.emit(t, B, m, a, "transfer", "转账")
                self.emit(t + int(rng.integers(_HOUR, 2 * _DAY)), m, payee, a, "transfer", self.pick((memos)), cat)
            else:
                self.emit(self.biz(day), B, payee, a, "transfer", self.pick((memos)), cat)
        return sum(parts)

    def _p_loan_repays_loan(self, i: int) -> int | None:
        rng, P = self.rng, int(self.P[i])
        t = int(self.biz(int(self.day0[i]) + int(rng.integers(1, 11))))
        tday = t // _DAY
        cand = np.flatnonzero(~self.planted & ~self.overdue & ~self.taken & (self.borrower != self.borrower[i])
                              & (self.day0 < tday - 40))
        if len(cand) > 400:  # a sample is plenty and keeps this cheap at benchmark scale
            cand = np.unique(cand[rng.integers(0, len(cand), 400)])
        if len(cand) == 0:
            return None
        n_paid = (self.due[cand] < tday).sum(1)
        bal = self.balance(cand, n_paid)
        ok = n_paid < self.term[cand]
        for lo in (0.6, 0.4, 0.0):
            sel = ok & (bal >= lo * P) & (bal <= 0.95 * P)
            if sel.any():
                break
        if not sel.any():
            return None
        j = int(self.pick(cand[sel]))
        self.taken[j] = True
        amount = int(self.balance(j, int((self.due[j] < tday).sum())))
        self.payoff[j] = (t, amount, int(self.B[i]))
        return amount

    def _p_common_payee(self, i: int) -> int:
        rng, B = self.rng, int(self.B[i])
        parts = _split_amount(rng, int(self.P[i] * rng.uniform(0.5, 0.9)), int(rng.integers(1, 3)))
        days = np.sort(rng.integers(1, 21, len(parts))) + self.day0[i]
        for d, a in zip(days, parts):
            self.emit(self.biz(d), B, self.common_payee[i], a, "transfer",
                      self.pick((["咨询服务费", "投资款", "往来款", "合作款"])))
        return sum(parts)

    def _p_multi_account_repayment(self, i: int) -> int:
        payers = [int(self.primary[self.borrower[i]]), int(self.primary[self.related_target(i)]),
                  self.mule_account(int(self.t0[i]), company=False)]
        self.extra_payers[i] = payers
        return 0

    def _p_cross_border(self, i: int) -> int:
        rng, B, t0 = self.rng, int(self.B[i]), int(self.t0[i])
        parts = _split_amount(rng, int(self.P[i] * rng.uniform(0.7, 0.95)), int(rng.integers(1, 4)))
        payees = self.foreign_payees
        memos = ("境外汇款", "货款", "服务贸易付汇", "咨询费")
        for j, a in enumerate(parts):
            payee = int(payees[rng.integers(0, len(payees))])
            if self.fast[i]:
                t = int(self.day0[i]) * _DAY + 21 * _HOUR + int(rng.integers(0, 4 * _HOUR)) + j * 120
                self.emit(max(t, t0 + 600), B, payee, a, "cross_border", self.pick((memos)))
            elif rng.random() < 0.5:
                self.emit(self.biz(int(self.day0[i]) + int(rng.integers(1, 16))), B, payee, a, "cross_border",
                          self.pick((memos)))
            else:
                m = self.mule_account(t0, company=True)
                t = int(self.biz(int(self.day0[i]) + int(rng.integers(1, 10))))
                self.emit(t, B, m, a, "transfer", "货款")
                self.emit(t + int(rng.integers(2 * _HOUR, 3 * _DAY)), m, payee, a, "cross_border",
                          self.pick((memos)))
        return sum(parts)

    # ----------------------------------------------------------------- benign loan use
    def benign_loan_spending(self) -> None:
        rng = self.rng
        idx = np.flatnonzero(~self.planted | (self.pattern == "multi_account_repayment"))
        k = rng.integers(2, 7, len(idx))
        loan = np.repeat(idx, k)
        w = rng.uniform(0.3, 1.7, len(loan))
        share = np.where(self.dedicated[idx], rng.uniform(0.9, 0.99, len(idx)), rng.uniform(0.6, 1.0, len(idx)))
        total = np.repeat((self.P[idx] * share).astype(np.int64), k)
        wsum = np.repeat(np.bincount(np.repeat(np.arange(len(idx)), k), weights=w), k)
        amount = (np.floor(total * w / wsum / 10_000) * 10_000).astype(np.int64)
        days = self.day0[loan] + np.exp(rng.uniform(0, np.log(60), len(loan))).astype(np.int64)
        days = np.minimum(days, self.days - 1)
        ts = self.biz(days)
        ent = self.ent[self.borrower[loan]]
        inbank_ok = np.flatnonzero(self.ent & ~self.mule & ~np.isin(self.ent_industry, list(_RESTRICTED)))
        inbank = self.primary[inbank_ok[rng.integers(0, len(inbank_ok), len(loan))]]
        ext_sup = self.ext_suppliers[rng.integers(0, len(self.ext_suppliers), len(loan))]
        merch_ok = self.merchants
        merch = merch_ok[rng.integers(0, len(merch_ok), len(loan))]
        to = np.where(ent, np.where(rng.random(len(loan)) < 0.4, inbank, ext_sup),
                      np.where(rng.random(len(loan)) < 0.7, merch, ext_sup))
        frm = self.B[loan]
        keep = (amount > 0) & (to != frm)
        memo = np.where(ent, self.memo_codes(("采购原材料", "支付货款", "设备款", "工程款"), len(loan)),
                        self.memo_codes(("装修款", "购车款", "学费", "进货款", "消费"), len(loan)))
        self.add_chunk(ts[keep], frm[keep], to[keep], amount[keep], "transfer", memo[keep])

    # ----------------------------------------------------------------- repayments
    def repayments(self) -> pd.DataFrame:
        rng, n = self.rng, self.n_loans
        n_due = self.n_due.copy()
        status = np.full(n, "current", dtype=object)
        m = n_due.copy()  # first missed instalment index (n_due = none missed)
        od = self.overdue & (n_due > 0)
        early = self.planted & (self.pattern != "multi_account_repayment")
        m_od = np.where(early, rng.integers(0, 3, n), (rng.random(n) * n_due).astype(np.int64))
        m_od = np.where(self.pattern == "multi_account_repayment", np.maximum(3, (rng.random(n) * n_due).astype(np.int64)), m_od)
        m = np.where(od, np.minimum(m_od, np.maximum(n_due - 1, 0)), m)
        partial = od & (rng.random(n) < 0.3)
        # non-overdue loans: some prepaid (closed), some once late (recovered)
        u = rng.random(n)
        closed = ~self.overdue & ~self.planted & (n_due >= 3) & (u < 0.08)
        recovered = ~self.overdue & (n_due >= 2) & (u >= 0.08) & (u < 0.2)
        close_at = np.where(closed, 1 + (rng.random(n) * (n_due - 2)).astype(np.int64), -1)
        late_row = np.where(recovered, (rng.random(n) * (n_due - 1)).astype(np.int64), -1)
        n_rows = np.where(closed, close_at + 1, n_due)
        payoff_time = np.full(n, -1, dtype=np.int64)
        payoff_amt = np.zeros(n, dtype=np.int64)
        payoff_payer = np.full(n, -1, dtype=np.int64)
        for j, (t, amount, payer) in self.payoff.items():
            c = int((self.due[j] < t // _DAY).sum())
            n_rows[j], close_at[j], closed[j], recovered[j], late_row[j] = c + 1, c, True, False, -1
            payoff_time[j], payoff_amt[j], payoff_payer[j] = t, amount, payer
        status[closed] = "closed"
        status[recovered] = "recovered"

        loan = np.repeat(np.arange(n), n_rows)
        k = np.arange(len(loan)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        due_day = self.due[loan, k]
        A = self.A[loan]
        paid_day = due_day - rng.integers(0, 4, len(loan))
        paid_t = self.biz(paid_day, 8, 21).astype(np.float64)
        amount_paid = A.copy()
        missed = k > m[loan]
        at_m = k == m[loan]
        amount_paid[missed] = 0
        amount_paid[at_m & od[loan]] = 0
        pm = at_m & partial[loan]
        amount_paid[pm] = (A[pm] * rng.uniform(0.2, 0.6, pm.sum())).astype(np.int64) // 100 * 100
        paid_t[pm] = self.biz(np.minimum(due_day[pm] + rng.integers(0, 10, pm.sum()), self.days - 1), 8, 21)
        late = k == late_row[loan]
        paid_t[late] = self.biz(np.minimum(due_day[late] + rng.integers(5, 45, late.sum()), self.days - 1), 8, 21)
        last = k == close_at[loan]
        cl = last & closed[loan]
        amount_paid[cl] = self.balance(loan[cl], k[cl])
        paid_t[cl] = self.biz(np.maximum(due_day[cl] - rng.integers(0, 10, cl.sum()), self.day0[loan[cl]] + 1), 8, 21)
        po = cl & (payoff_time[loan] >= 0)
        amount_paid[po] = payoff_amt[loan[po]]
        paid_t[po] = payoff_time[loan[po]]
        paid_t[amount_paid == 0] = np.nan
        payer = self.B[loan].copy()
        payer[po] = payoff_payer[loan[po]]
        rep = pd.DataFrame({"loan": loan, "k": k, "due_day": due_day, "amount_due": A, "amount_paid": amount_paid,
                            "paid_t": paid_t, "payer": payer, "topup": ~po})

        # multi-account repayment: instalments paid from rotating accounts, often in two or three parts
        if self.extra_payers:
            split_rows: list[dict] = []
            is_multi = rep.loan.isin(list(self.extra_payers))
            for row in rep[is_multi].itertuples(index=False):
                accts = [int(self.B[row.loan])] + self.extra_payers[row.loan]
                if row.amount_paid == 0:
                    split_rows.append(row._asdict())
                    continue
                n_split = int(rng.integers(1, 4))
                who = rng.choice(len(accts), n_split, replace=False)
                w = rng.uniform(0.3, 1.0, n_split)
                due_parts = np.floor(row.amount_due * w / w.sum()).astype(np.int64)
                due_parts[0] += row.amount_due - due_parts.sum()
                paid_parts = np.floor(row.amount_paid * w / w.sum()).astype(np.int64)
                paid_parts[0] += row.amount_paid - paid_parts.sum()
                for s in range(n_split):
                    d = row._asdict()
                    d.update(amount_due=int(due_parts[s]), amount_paid=int(paid_parts[s]),
                             payer=accts[who[s]], topup=who[s] == 0,
                             paid_t=row.paid_t + int(rng.integers(0, 6 * _HOUR)) * (s > 0))
                    split_rows.append(d)
            rep = pd.concat([rep[~is_multi], pd.DataFrame(split_rows, columns=rep.columns)],
                            ignore_index=True).sort_values(["loan", "k", "paid_t"], kind="stable")

        # loan fields from the schedule
        rl, rk = rep.loan.to_numpy(np.int64), rep.k.to_numpy(np.int64)
        owed = (rep.amount_due - rep.amount_paid).to_numpy(np.int64)
        unpaid = np.bincount(rl, weights=owed * (rk >= m[rl]), minlength=n)
        partial_paid = np.bincount(rl, weights=rep.amount_paid.to_numpy(np.int64) * (rk == m[rl]) * od[rl], minlength=n)
        self.overdue_cents = np.where(od, unpaid, 0).astype(np.int64)
        outstanding = np.where(od, self.balance(np.arange(n), m) - partial_paid.astype(np.int64),
                               self.balance(np.arange(n), n_due))
        self.outstanding = np.where(closed, 0, outstanding).astype(np.int64)
        first_missed = self.due[np.arange(n), np.minimum(m, 35)]
        dpd = np.where(od, self.days - first_missed, 0)
        self.dpd = dpd.astype(np.int64)
        v = rng.random(n)
        od_status = np.where(dpd <= 60, "overdue",
                             np.where(dpd <= 180, np.where(v < 0.7, "collection", "overdue"),
                                      np.where(v < 0.5, "written_off", np.where(v < 0.75, "transferred", "collection"))))
        status = np.where(self.overdue, od_status, status)
        self.status = status
        bad = self.overdue & (n_due == 0)
        if bad.any():  # cannot happen with the date bounds above; keep the overdue count honest if it did
            raise AssertionError("an overdue loan has no due instalment")

        # repayment transactions (+ top-ups of dedicated accounts from the borrower's main account)
        paid = rep[rep.amount_paid > 0]
        ts = paid.paid_t.to_numpy().astype(np.int64)
        self.add_chunk(ts, paid.payer.to_numpy(), self.LN[paid.loan.to_numpy()], paid.amount_paid.to_numpy(),
                       "repayment", self.memo_codes(("贷款还款", "还款", "归还贷款本息"), len(paid)))
        lo = paid.loan.to_numpy()
        need = paid.topup.to_numpy().astype(bool) & self.dedicated[lo] & (paid.payer.to_numpy() == self.B[lo])
        tl = lo[need]
        t_top = ts[need] - rng.integers(_HOUR, 3 * _DAY, need.sum())
        t_top = np.maximum(t_top, self.t0[tl] + _HOUR)
        top_amt = (np.ceil(paid.amount_paid.to_numpy()[need] / 10_000) * 10_000).astype(np.int64)
        self.add_chunk(t_top, self.primary[self.borrower[tl]], self.B[tl], top_amt, "transfer",
                       self.memo_codes(("还款资金", "内部转账", "转账"), need.sum()))
        return rep

    # ----------------------------------------------------------------- benign traffic
    def background(self, budget: int) -> None:
        rng, D = self.rng, self.days
        months = math.ceil(D / 30.44)
        # salaries: fixed by the workforce
        n_emp = len(self.employed)
        sal = self.lognormal_cents(7000, 0.5, n_emp, round_to=100)
        pay_day = rng.integers(5, 16, self.n_customers)
        mon = np.tile(np.arange(months), n_emp)
        emp = np.repeat(np.arange(n_emp), months)
        day = (mon * 30.44).astype(np.int64) + pay_day[self.employer[emp]]
        ok = day < D
        emp, day = emp[ok], day[ok]
        budget -= len(emp)
        if budget < 0:
            raise ValueError(f"n_transactions={self.n_transactions} is too small for this many customers and loans; "
                             f"need at least {self.n_transactions - budget}")
        amount = (sal[emp] * rng.uniform(0.95, 1.08, len(emp))).astype(np.int64) // 100 * 100
        self.add_chunk(self.biz(day, 9, 11), self.primary[self.employer[emp]], self.primary[self.employed[emp]],
                       amount, "transfer", self.memo_codes(("工资", "代发工资", "工资奖金"), len(emp)))

        shares = {"revenue": 0.24, "supplier": 0.20, "utilities": 0.09, "card": 0.22, "platform": 0.12,
                  "cash": 0.04, "p2p": 0.06, "invest": 0.015, "fx_in": 0.01, "fx_out": 0.005}
        names = list(shares)
        counts = np.floor(np.array(list(shares.values())) / sum(shares.values()) * budget).astype(np.int64)
        counts[names.index("card")] += budget - counts.sum()
        c = dict(zip(names, counts.tolist()))
        borrowers = np.zeros(self.n_customers, dtype=bool)
        borrowers[self.borrower] = True
        firms = np.flatnonzero(self.ent & ~self.mule)
        people = np.flatnonzero(~self.ent & ~self.mule)
        size = self.size.copy()
        size[self.related_targets] = 0.01  # related firms that received loan money keep a low profile
        fp = size[firms] / size[firms].sum()

        def days(k):
            return rng.integers(0, D, k)

        def person_times(k):
            t = self.biz(days(k), 7, 24)
            night = rng.random(k) < 0.04
            return np.where(night, (t // _DAY) * _DAY + rng.integers(0, 6 * _HOUR, k), t)

        k = c["revenue"]
        to = rng.choice(firms, k, p=fp)
        self.add_chunk(self.biz(days(k)), self.ext_payers[rng.integers(0, len(self.ext_payers), k)], self.primary[to],
                       self.lognormal_cents(25000, 1.0, k) * np.maximum(self.size[to], 0.3).astype(np.int64).clip(1, 5),
                       "transfer", self.memo_codes(("货款", "销售回款", "服务费", "工程款"), k))
        k = c["supplier"]
        frm = rng.choice(firms, k, p=fp)
        ok_firms = firms[~np.isin(self.ent_industry[firms], list(_RESTRICTED))]
        inb = self.primary[ok_firms[rng.integers(0, len(ok_firms), k)]]
        to = np.where(rng.random(k) < 0.35, inb, self.ext_suppliers[rng.integers(0, len(self.ext_suppliers), k)])
        to = np.where(to == self.primary[frm], self.ext_suppliers[0], to)
        self.add_chunk(self.biz(days(k)), self.primary[frm], to, self.lognormal_cents(18000, 1.0, k), "transfer",
                       self.memo_codes(("货款", "采购款", "运费", "服务费", "租金"), k))
        k = c["utilities"]
        to = self.utilities[rng.integers(0, len(self.utilities), k)]
        umemo = np.array([self.memo(m) for m in self.acc.column("memo")[self.utilities]])
        self.add_chunk(person_times(k), self.primary[rng.choice(people, k)], to, self.lognormal_cents(180, 0.7, k),
                       np.where(rng.random(k) < 0.6, _CH["third_party"], _CH["transfer"]),
                       umemo[to - self.utilities[0]])
        k = c["card"]
        self.add_chunk(person_times(k), self.primary[rng.choice(people, k)],
                       self.merchants[rng.integers(0, len(self.merchants), k)], self.lognormal_cents(160, 1.1, k),
                       "card", self.memo_codes(("消费", "POS消费", "刷卡消费"), k))
        k = c["platform"]
        pcats = np.array([self.cat(x) for x in _PLATFORM_CATS])
        self.add_chunk(person_times(k), self.primary[rng.choice(people, k)],
                       self.platforms[rng.integers(0, len(self.platforms), k)], self.lognormal_cents(90, 1.0, k),
                       "third_party", self.memo_codes(("快捷支付", "网上购物", "扫码支付"), k),
                       pcats[rng.integers(0, len(pcats), k)])
        k = c["cash"]
        who = np.where(rng.random(k) < 0.9, rng.choice(people, k), rng.choice(firms, k))
        self.add_chunk(self.biz(days(k), 8, 22), self.primary[who], np.full(k, self.cash),
                       rng.integers(5, 200, k) * 10_000, "cash", self.memo_codes(("ATM取款", "柜面取现"), k))
        k = c["p2p"]
        pf, pt = rng.integers(0, len(people), k), rng.integers(0, len(people), k)
        pt = np.where(pt == pf, (pt + 1) % len(people), pt)
        frm = people[pf]
        fam_of = np.full(self.n_customers, -1)
        fam_of[self.family[:, 0]], fam_of[self.family[:, 1]] = self.family[:, 1], self.family[:, 0]
        to = np.where((fam_of[frm] >= 0) & (rng.random(k) < 0.6), fam_of[frm], people[pt])
        self.add_chunk(person_times(k), self.primary[frm], self.primary[to],
                       self.lognormal_cents(1500, 1.0, k, round_to=10_000), "transfer",
                       self.memo_codes(("转账", "生活费", "还钱", "借款"), k))
        k = c["invest"]
        quiet = np.zeros(self.n_customers, dtype=bool)
        quiet[self.related_targets] = True
        investors = np.flatnonzero(~self.mule & ~borrowers & ~quiet)
        if len(investors) == 0:
            investors = people
        to = self.restricted[rng.integers(0, len(self.restricted), k)]
        self.add_chunk(self.biz(days(k)), self.primary[rng.choice(investors, k)], to,
                       self.lognormal_cents(40000, 0.9, k, round_to=100), "transfer",
                       np.where(self.restricted_cat[to - self.restricted[0]] == "securities", self.memo("银证转账"),
                                self.memo("购房定金")))
        k = c["fx_in"]
        self.add_chunk(self.biz(days(k)), self.foreign_payers[rng.integers(0, len(self.foreign_payers), k)],
                       self.primary[rng.choice(firms, k, p=fp)], self.lognormal_cents(80000, 0.8, k), "cross_border",
                       self.memo_codes(("出口收汇", "货款"), k))
        k = c["fx_out"]
        importers = np.flatnonzero(self.ent & ~self.mule & ~borrowers & ~quiet)
        if len(importers) == 0:
            importers = firms
        self.add_chunk(self.biz(days(k)), self.primary[rng.choice(importers, k)],
                       self.foreign_benign[rng.integers(0, len(self.foreign_benign), k)],
                       self.lognormal_cents(60000, 0.8, k), "cross_border", self.memo_codes(("进口付汇", "货款"), k))

    # ----------------------------------------------------------------- assembly
    def run(self) -> dict[str, pd.DataFrame]:
        self.customers()
        self.base_accounts()
        self.loans()
        self.plant()
        self.benign_loan_spending()
        rep = self.repayments()
        if self.rows:
            r = np.array(self.rows, dtype=np.int64)
            self.tx.append(tuple(r[:, j] for j in range(7)))
        fixed = sum(len(c[0]) for c in self.tx)
        self.background(self.n_transactions - fixed)
        return self.frames(rep)

    def frames(self, rep: pd.DataFrame) -> dict[str, pd.DataFrame]:
        acc = self.acc
        ids, cust = acc.column("id"), acc.column("cust")
        cust_ids = np.array([f"C{c + 1:07d}" for c in range(self.n_customers)], dtype=object)
        s = self.start64
        n = self.n_customers
        legal_rep = np.where(self.legal_rep_cust >= 0, self.person_names[np.maximum(self.legal_rep_cust, 0)],
                             self.legal_rep_name)
        customers = _frame("customers", {
            "customer_id": cust_ids, "name": self.name, "customer_type": np.where(self.ent, "enterprise", "individual"),
            "industry": self.industry, "region": self.region, "id_number": self.id_number, "phone": self.phone,
            "address": self.address, "email": self.email, "legal_rep": np.where(self.ent, legal_rep, None),
            "registered_at": _iso(self.registered, s)})
        accounts = _frame("accounts", {
            "account_id": ids, "customer_id": np.where(cust >= 0, cust_ids[np.maximum(cust, 0)], None),
            "bank": acc.column("bank"), "account_number": ids, "account_name": acc.column("name"),
            "account_type": acc.column("type"), "country": acc.column("country"),
            "currency": acc.column("currency"), "opened_at": _iso(acc.column("opened"), s)})
        order = np.argsort(self.loan_id)
        maturity = self.due[np.arange(self.n_loans), self.term - 1]
        loans = _frame("loans", {
            "loan_id": self.loan_id, "customer_id": cust_ids[self.borrower], "account_id": ids[self.B],
            "principal_cents": self.P, "currency": "CNY", "disbursed_at": _iso(self.t0, s),
            "maturity": _iso(maturity * _DAY, s), "product": self.product, "declared_purpose": self.purpose,
            "status": self.status, "dpd": self.dpd, "overdue_cents": self.overdue_cents,
            "outstanding_cents": self.outstanding}).iloc[order].reset_index(drop=True)
        repayments = _frame("repayments", {
            "loan_id": self.loan_id[rep.loan.to_numpy()], "due_date": _iso(rep.due_day.to_numpy() * _DAY, s),
            "paid_at": _iso(rep.paid_t.to_numpy(), s), "amount_due_cents": rep.amount_due.to_numpy(),
            "amount_paid_cents": rep.amount_paid.to_numpy(),
            "payer_account": np.where(rep.amount_paid.to_numpy() > 0, ids[rep.payer.to_numpy()], None)})
        repayments = repayments.sort_values(["loan_id", "due_date", "paid_at"], kind="stable",
                                            na_position="last").reset_index(drop=True)
        rel = pd.DataFrame(self.relations, columns=["src", "dst", "relation", "share"]).drop_duplicates(
            ["src", "dst", "relation"])
        rel_legal = [(int(p), int(f)) for f, p in enumerate(self.legal_rep_cust) if p >= 0 and self.ent[f]]
        rel = pd.concat([rel[rel.relation != "legal_rep"],
                         pd.DataFrame([(p, f, "legal_rep", np.nan) for p, f in rel_legal],
                                      columns=["src", "dst", "relation", "share"])], ignore_index=True)
        # guarantors: a third of firm loans are guaranteed by the legal rep, plus a few guarantee circles
        g = []
        ent_loans = np.flatnonzero(self.ent[self.borrower])
        for i in ent_loans[self.rng.random(len(ent_loans)) < 0.3]:
            b = int(self.borrower[i])
            if self.legal_rep_cust[b] >= 0:
                g.append((int(self.legal_rep_cust[b]), b, "guarantor", np.nan))
        ent_b = np.unique(self.borrower[ent_loans])
        circles = self.rng.permutation(ent_b)[: max(3, len(ent_b) // 15) // 3 * 3].reshape(-1, 3)
        for circle in circles:
            for a, b in zip(circle, np.roll(circle, -1)):
                g.append((int(a), int(b), "guarantor", np.nan))
        rel = pd.concat([rel, pd.DataFrame(g, columns=rel.columns)], ignore_index=True).drop_duplicates(
            ["src", "dst", "relation"])
        relations = _frame("relations", {"src_id": cust_ids[rel.src.to_numpy(np.int64)],
                                         "dst_id": cust_ids[rel.dst.to_numpy(np.int64)],
                                         "relation": rel.relation.to_numpy(), "share": rel.share.to_numpy(float)})
        transactions = self.transactions(ids, cust)
        gt = pd.DataFrame({"loan_id": pd.Series([self.loan_id[i] for i, _ in self.gt], dtype="str"),
                           "pattern": pd.Series([p for _, p in self.gt], dtype="str")})
        gt = gt.sort_values(["loan_id", "pattern"]).reset_index(drop=True)
        return {"customers": customers, "accounts": accounts, "loans": loans, "transactions": transactions,
                "repayments": repayments, "relations": relations, "ground_truth": gt}

    def transactions(self, ids: np.ndarray, cust: np.ndarray) -> pd.DataFrame:
        cols = [np.concatenate([c[j] for c in self.tx]) for j in range(7)]
        ts, frm, to, amount, ch, memo, cat = cols
        order = np.argsort(ts, kind="stable")
        ts, frm, to, amount, ch, memo, cat = (a[order] for a in (ts, frm, to, amount, ch, memo, cat))
        n = len(ts)
        in_bank = cust >= 0
        # counterparty as a bank statement of our customer shows it: the payee, or the payer for money coming in
        cp = np.where(in_bank[frm], to, frm)
        names, country, acat = self.acc.column("name"), self.acc.column("country"), self.acc.column("cat")
        cats = self.cat.array()
        mcat = np.where(cat >= 0, cat, len(cats) + cp)
        width = max(8, len(str(n)))
        txn_id = pc.binary_join_element_wise("T", pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width, "0"), "")
        return _frame("transactions", {
            "txn_id": pd.Series(txn_id, dtype="str"), "seq": np.arange(n), "ts": _iso_text(ts, self.start64),
            "from_account": _text(ids, frm), "to_account": _text(ids, to), "amount_cents": amount, "currency": "CNY",
            "received_cents": None, "received_currency": None, "channel": _text(np.array(schema.CHANNELS, dtype=object), ch),
            "counterparty_name": _text(names, cp), "counterparty_country": _text(country, cp),
            "merchant_category": _text(np.concatenate([cats, acat]), mcat),
            "memo": _text(self.memo.array(), memo), "balance_after_cents": None, "is_reversal": 0, "reverses_txn_id": None})


def _frame(table: str, data: dict[str, object]) -> pd.DataFrame:
    """A frame with exactly the canonical columns of `table` in canonical order and storage types."""
    n = max(len(v) for v in data.values() if v is not None and np.ndim(v) > 0)
    out: dict[str, pd.Series] = {}
    for col, typ in schema.TABLES[table].items():
        v = data.get(col)
        if isinstance(v, pd.Series):
            out[col] = v.reset_index(drop=True)
            continue
        if v is None or np.ndim(v) == 0:
            v = np.full(n, v, dtype=object)
        if typ == "TEXT":
            out[col] = pd.Series(np.asarray(v, dtype=object), dtype="str")
        elif typ == "INTEGER":
            out[col] = pd.Series(pd.array(np.asarray(v, dtype=object) if np.asarray(v).dtype == object else v,
                                          dtype="Int64"))
        else:
            out[col] = pd.Series(np.asarray(v, dtype=np.float64))
    return pd.DataFrame(out)


def generate(*, seed: int = 7, n_customers: int = 400, n_loans: int = 300, n_transactions: int | None = None,
             overdue_share: float = 0.35, start: str = "2024-01-01", months: int = 12) -> dict[str, pd.DataFrame]:
    """Return the demo tables (canonical frames keyed by table name) plus ``ground_truth`` (loan_id, pattern)."""
    if not 0 <= overdue_share <= 1:
        raise ValueError("overdue_share must lie between 0 and 1")
    return _Gen(seed=seed, n_customers=n_customers, n_loans=n_loans, n_overdue=round(n_loans * overdue_share),
                n_transactions=n_transactions, start=start, months=months).run()


def scaled(*, n_transactions: int, n_overdue_loans: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Return benchmark-sized tables with exactly `n_transactions` transactions and `n_overdue_loans` overdue loans."""
    n_loans = max(20, math.ceil(n_overdue_loans / 0.35))
    n_customers = max(40, math.ceil(n_loans * 4 / 3))
    return _Gen(seed=seed, n_customers=n_customers, n_loans=n_loans, n_overdue=n_overdue_loans,
                n_transactions=n_transactions, start="2024-01-01", months=12).run()


def _cents_to_units(s: pd.Series) -> pd.Series:
    """Exact 'units.cc' text for integer cents; missing stays missing."""
    na = s.isna().to_numpy()
    v = s.fillna(0).astype("int64").to_numpy()
    a = np.abs(v)
    txt = np.char.add(np.char.add((a // 100).astype(str), "."), np.char.zfill((a % 100).astype(str), 2))
    txt = np.where(v < 0, np.char.add("-", txt), txt).astype(object)
    txt[na] = None
    return pd.Series(txt, index=s.index, dtype="str")


def write_demo_csvs(frames: dict[str, pd.DataFrame], directory: Path) -> list[Path]:
    """Write the user-facing demo CSVs (money in currency units, 2 decimals) and return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in DEMO_TABLES:
        frame = frames[table].copy()
        for col in [c for c in frame.columns if c in CSV_MONEY_COLUMNS]:
            frame[col] = _cents_to_units(frame[col])
        frame = frame.rename(columns=CSV_MONEY_COLUMNS)
        path = directory / f"{table}.csv"
        try:  # Arrow writes a million rows in about a second; pandas takes twenty
            with pa.OSFile(str(path), "wb") as sink:
                sink.write((",".join(frame.columns) + "\n").encode("utf-8"))  # Arrow would quote the header
                pcsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sink,
                               pcsv.WriteOptions(include_header=False, quoting_style="none"))
        except pa.ArrowInvalid:  # a value needs quoting (comma, quote, line break): let pandas quote it
            frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        paths.append(path)
    return paths


def read_demo_csvs(directory: Path) -> dict[str, pd.DataFrame]:
    """Return the canonical frames from CSVs written by `write_demo_csvs` (the inverse, exact to the cent)."""
    directory = Path(directory)
    back = {v: k for k, v in CSV_MONEY_COLUMNS.items()}
    frames = {}
    for table in DEMO_TABLES:
        raw = pd.read_csv(directory / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8")
        raw = raw.replace("", None).rename(columns=back)
        if table == "ground_truth":
            frames[table] = raw.astype("str")
            continue
        data: dict[str, object] = {}
        for col, typ in schema.TABLES[table].items():
            s = raw[col]
            if col in CSV_MONEY_COLUMNS:
                sign = np.where(s.fillna("").str.startswith("-"), -1, 1)
                whole_frac = s.fillna("0.00").str.lstrip("-").str.split(".", n=1, expand=True)
                cents = whole_frac[0].astype("int64") * 100 + whole_frac[1].str.ljust(2, "0").astype("int64")
                data[col] = np.where(s.isna(), None, (sign * cents.to_numpy()).astype(object))
            elif typ == "INTEGER":
                data[col] = np.where(s.isna(), None, s.fillna("0").astype("int64").to_numpy().astype(object))
            elif typ == "REAL":
                data[col] = pd.to_numeric(s).to_numpy(np.float64)
            else:
                data[col] = s.to_numpy(dtype=object)
        frames[table] = _frame(table, data)
    return frames


def main(argv: list[str] | None = None) -> int:
    """CLI: write the demo CSVs (or a benchmark-sized data set with --scale)."""
    parser = argparse.ArgumentParser(prog="python -m analysis.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="directory for the CSVs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=int, default=None, metavar="N",
                        help="generate N transactions and N/100 overdue loans (benchmark size) instead of the demo")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    if args.scale is not None:
        if args.scale < 20_000:
            parser.error("--scale must be at least 20000")
        frames = scaled(n_transactions=args.scale, n_overdue_loans=max(1, args.scale // 100), seed=args.seed)
    else:
        frames = generate(seed=args.seed)
    paths = write_demo_csvs(frames, args.out)
    took = time.perf_counter() - began
    for p in paths:
        print(f"{p}  {sum(1 for _ in p.open(encoding='utf-8')) - 1} rows")
    print(f"done in {took:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
