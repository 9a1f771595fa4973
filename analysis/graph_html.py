"""Self-contained pyvis network HTML (the only module that imports pyvis): JavaScript inlined, no CDN tag."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Mapping

import pandas as pd
from pyvis.network import Network

NODE_COLUMNS = ("id", "label", "kind", "title")  # optional: level (int, for a left-to-right layout)
EDGE_COLUMNS = ("src", "dst", "label", "value", "title")

# Node colours by kind; anything else is drawn as a plain account.
KIND_COLORS: dict[str, str] = {
    "lender": "#7f7f7f",
    "borrower": "#d62728",
    "account": "#1f77b4",
    "terminal": "#ff7f0e",
    "back_to_borrower": "#9467bd",
}
KIND_SHAPES: dict[str, str] = {"lender": "box", "borrower": "star"}

# pyvis 0.3.2's template links Bootstrap from cdn.jsdelivr.net even with cdn_resources="in_line", and keeps
# a commented-out vis.js block; the graph needs neither, and an offline browser must not request them.
_STRIP = (
    re.compile(r"<!--\s*<link[^>]*node_modules.*?-->", re.S),
    re.compile(r"<link[^>]*bootstrap[^>]*/?>", re.S),
    re.compile(r"<script[^>]*bootstrap[^>]*>\s*</script>", re.S),
    re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>", re.S),
)
_EXTERNAL_REF = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _text(value: object) -> str:
    """Return a value as display text (empty for missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _title(value: object) -> str:
    """Return a tooltip: HTML-escaped, lines separated by "\\n" (vis-network 9 shows titles as plain text)."""
    return html_lib.escape(_text(value).replace("<br>", "\n"), quote=True)


def cap_graph(nodes: pd.DataFrame, edges: pd.DataFrame, *, max_nodes: int) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """Return (nodes, edges, capped) keeping at most `max_nodes` nodes, those carrying the most money."""
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    if len(nodes) <= max_nodes:
        return nodes, edges, False
    ids = nodes["id"].astype(str)
    values = pd.to_numeric(edges["value"], errors="coerce").fillna(0.0) if len(edges) else pd.Series(dtype=float)
    weight = pd.concat(
        [values.groupby(edges["src"].astype(str)).sum(), values.groupby(edges["dst"].astype(str)).sum()]
    ).groupby(level=0).sum() if len(edges) else pd.Series(dtype=float)
    rank = pd.DataFrame({"id": ids, "weight": ids.map(weight).fillna(0.0).to_numpy(),
                         # the borrower (and lender) are the graph's anchors: always kept
                         "anchor": nodes["kind"].isin(["borrower", "lender"]).to_numpy(),
                         "order": range(len(nodes))})
    keep = set(rank.sort_values(["anchor", "weight", "order"], ascending=[False, False, True])
               .head(max_nodes)["id"])
    kept_nodes = nodes[ids.isin(keep).to_numpy()]
    kept_edges = edges[edges["src"].astype(str).isin(keep) & edges["dst"].astype(str).isin(keep)] if len(edges) else edges
    return kept_nodes, kept_edges, True


def render(nodes: pd.DataFrame, edges: pd.DataFrame, *, height_px: int = 600, max_nodes: int = 150,
           directed: bool = True) -> tuple[str, bool]:
    """Return (HTML document of the network, whether it was capped to `max_nodes` nodes)."""
    missing = [c for c in NODE_COLUMNS if c not in nodes.columns] + [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise ValueError(f"missing columns: {missing}")
    nodes, edges, capped = cap_graph(nodes, edges, max_nodes=max_nodes)
    net = Network(height=f"{int(height_px)}px", width="100%", directed=directed, cdn_resources="in_line")
    values = pd.to_numeric(edges["value"], errors="coerce").fillna(0.0)
    # an optional integer `level` column (e.g. the hop) lays the graph out left to right by level
    levels = (pd.to_numeric(nodes["level"], errors="coerce") if "level" in nodes.columns
              else pd.Series([float("nan")] * len(nodes), index=nodes.index))
    hierarchical = bool(len(nodes)) and bool(levels.notna().all())
    for row, level in zip(nodes.itertuples(index=False), levels.tolist()):
        kind = _text(row.kind) or "account"
        extra = {"level": int(level)} if hierarchical else {}
        net.add_node(
            str(row.id),  # ids are text in our model; pyvis rejects numpy scalars
            label=_text(row.label) or str(row.id),
            title=_title(row.title),
            color=KIND_COLORS.get(kind, KIND_COLORS["account"]),
            shape=KIND_SHAPES.get(kind, "dot"),
            **extra,
        )
    for row, value in zip(edges.itertuples(index=False), values.tolist()):
        net.add_edge(str(row.src), str(row.dst), label=_text(row.label), title=_title(row.title),
                     value=float(value))
    options: dict[str, object] = {
        "edges": {"arrows": {"to": {"enabled": True, "scaleFactor": 0.5}}, "color": {"color": "#6b7b8c", "inherit": False},
                  "font": {"size": 10, "align": "top", "strokeWidth": 3},
                  "scaling": {"min": 1, "max": 8, "label": {"enabled": False}},
                  "smooth": {"enabled": True, "type": "curvedCW", "roundness": 0.15}},
        "nodes": {"font": {"size": 11}, "size": 14},
        "interaction": {"hover": True, "tooltipDelay": 100, "navigationButtons": False},
    }
    if hierarchical:
        options["layout"] = {"hierarchical": {"enabled": True, "direction": "LR", "sortMethod": "directed",
                                              "levelSeparation": 260, "nodeSpacing": 70, "shakeTowards": "roots"}}
        options["physics"] = {"enabled": False}
    else:
        options["physics"] = {"solver": "forceAtlas2Based", "stabilization": {"iterations": 300}}
    net.set_options(json.dumps(options))
    page = net.generate_html(notebook=False)
    for pattern in _STRIP:
        page = pattern.sub("", page)
    if _EXTERNAL_REF.search(page):
        raise RuntimeError("pyvis output still references an external resource")
    return page, capped


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


# The words of labels and tooltips (format templates); callers pass translations.
GRAPH_WORDS: dict[str, str] = {
    "hop": "hop {lo}", "hops": "hops {lo}-{hi}", "transfers": "{n} transfer(s)", "in": "in", "out": "out",
    "borrower": "borrower", "account": "account", "terminal": "end of the traced path", "lender": "lender",
}


def loan_path_graph(edges: pd.DataFrame, *, borrower_account: str, label_of: Mapping[str, str] | None = None,
                    title_of: Mapping[str, str] | None = None,
                    words: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (nodes, edges) frames for one loan's traced flow edges, one edge per from->to pair.

    `label_of` maps account ids to the node labels (masking goes there), `title_of` to the names in tooltips
    (default: `label_of`, so a short label can keep the full id on hover); `words` overrides GRAPH_WORDS.
    """
    label_of = label_of or {}
    title_of = title_of if title_of is not None else label_of
    word = {**GRAPH_WORDS, **(words or {})}
    node_cols = list(NODE_COLUMNS)
    edge_cols = list(EDGE_COLUMNS)
    if edges.empty:
        borrower = str(borrower_account)
        return (pd.DataFrame([{"id": borrower, "label": label_of.get(borrower, borrower), "kind": "borrower",
                               "title": f"{title_of.get(borrower, borrower)}\n{word['borrower']}", "level": 0}],
                             columns=[*node_cols, "level"]),
                pd.DataFrame(columns=edge_cols))
    frame = edges.assign(
        src=edges["from_account"].astype("string").fillna("(lender)").astype(str),
        dst=edges["to_account"].astype("string").fillna("(unknown)").astype(str),
        amount=pd.to_numeric(edges["amount_cents"]).fillna(0).astype("int64"),
        hop=pd.to_numeric(edges["hop"]).fillna(0).astype("int64"),
    )
    pairs = (frame.groupby(["src", "dst"], sort=False)
             .agg(amount=("amount", "sum"), n=("amount", "size"), hop_min=("hop", "min"), hop_max=("hop", "max"),
                  first=("ts", "min"), last=("ts", "max"))
             .reset_index())

    def hops(lo: int, hi: int) -> str:
        return word["hop"].format(lo=lo) if lo == hi else word["hops"].format(lo=lo, hi=hi)

    out_edges = pd.DataFrame({
        "src": pairs["src"],
        "dst": pairs["dst"],
        "label": [f"{hops(lo, hi)}: {_money(a)}" for lo, hi, a in
                  zip(pairs["hop_min"], pairs["hop_max"], pairs["amount"])],
        "value": (pairs["amount"] / 100).astype(float),
        "title": [f"{title_of.get(s, s)} -> {title_of.get(d, d)}\n{hops(lo, hi)}\n{_money(a)}\n"
                  f"{word['transfers'].format(n=n)}\n{_text(f)[:16]} .. {_text(la)[:16]}"
                  for s, d, lo, hi, a, n, f, la in zip(pairs["src"], pairs["dst"], pairs["hop_min"], pairs["hop_max"],
                                                       pairs["amount"], pairs["n"], pairs["first"], pairs["last"])],
    }, columns=edge_cols)
    inflow = pairs.groupby("dst")["amount"].sum()
    outflow = pairs.groupby("src")["amount"].sum()
    borrower = str(borrower_account)
    ids = list(dict.fromkeys([borrower, *pairs["src"].tolist(), *pairs["dst"].tolist()]))
    # a node's level is the first hop at which the loan's money reached it (borrower 0, lender -1)
    first_hop = pairs.groupby("dst")["hop_min"].min()
    rows = []
    for node in ids:
        if node == borrower:
            kind = "borrower"
        elif node == "(lender)" or (node not in inflow.index and node in outflow.index):
            kind = "lender"
        elif node not in outflow.index:
            kind = "terminal"
        else:
            kind = "account"
        label = label_of.get(node, node)
        level = 0 if node == borrower else (-1 if kind == "lender" else int(first_hop.get(node, 1)))
        rows.append({"id": node, "label": label, "kind": kind, "level": level,
                     "title": f"{title_of.get(node, node)}\n{word.get(kind, kind)}\n"
                              f"{word['in']}: {_money(int(inflow.get(node, 0)))}\n"
                              f"{word['out']}: {_money(int(outflow.get(node, 0)))}"})
    return pd.DataFrame(rows, columns=[*node_cols, "level"]), out_edges
