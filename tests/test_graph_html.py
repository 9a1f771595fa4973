"""graph_html: pyvis HTML that works offline, escapes data, caps big graphs; loan path frames from trace edges."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis import graph_html

EDGE_COLS = ["src", "dst", "label", "value", "title"]
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?https?:""", re.I)


def nodes(ids, kinds=None, labels=None, titles=None):
    ids = list(ids)
    return pd.DataFrame({"id": ids, "label": labels or ids, "kind": kinds or ["account"] * len(ids),
                         "title": titles or ids})


def edges(rows):
    return pd.DataFrame(rows, columns=EDGE_COLS)


def dataset_json(html: str, name: str) -> list[dict]:
    """The JSON list pyvis passes to `new vis.DataSet(...)` for nodes or edges."""
    match = re.search(rf"{name} = new vis\.DataSet\((\[.*?\])\);", html, re.S)
    assert match, f"no {name} DataSet in the HTML"
    return json.loads(match.group(1))


def test_node_ids_present_and_no_external_reference():
    html, capped = graph_html.render(nodes(["B", "X", "Y"], kinds=["borrower", "account", "terminal"]),
                                     edges([("B", "X", "hop 1", 10.0, "t"), ("X", "Y", "hop 2", 4.0, "t")]))
    assert capped is False
    assert [n["id"] for n in dataset_json(html, "nodes")] == ["B", "X", "Y"]
    assert [(e["from"], e["to"]) for e in dataset_json(html, "edges")] == [("B", "X"), ("X", "Y")]
    # vis-network is inlined; bootstrap (and any other CDN tag) is gone
    assert "new vis.Network(" in html
    assert "bootstrap" not in html
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html
    # 'http' itself still occurs inside the inlined library (licence comments, the SVG namespace string),
    # so what is checked is that nothing is *loaded* from http(s)
    assert not EXTERNAL.search(html)


def test_html_in_labels_and_titles_is_escaped():
    html, _ = graph_html.render(
        nodes(["a", "b"], labels=["<script>alert(1)</script>", "b"], titles=["<b>bold</b> & co", "line 1\nline 2"]),
        edges([("a", "b", "<img src=x onerror=alert(2)>", 1.0, "<i>t</i>")]))
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "<b>bold</b>" not in html
    node_a, node_b = dataset_json(html, "nodes")
    assert node_a["label"] == "<script>alert(1)</script>"  # shown as canvas text by vis, never parsed as HTML
    assert node_a["title"] == "&lt;b&gt;bold&lt;/b&gt; &amp; co"
    assert node_b["title"] == "line 1\nline 2"  # plain-text tooltips keep their line breaks
    assert dataset_json(html, "edges")[0]["title"] == "&lt;i&gt;t&lt;/i&gt;"


def test_numpy_ids_and_values_become_python_scalars():
    html, _ = graph_html.render(
        pd.DataFrame({"id": np.array([1, 2], dtype=np.int64), "label": ["one", "two"], "kind": ["borrower", "account"],
                      "title": ["", ""]}),
        pd.DataFrame({"src": np.array([1], dtype=np.int64), "dst": np.array([2], dtype=np.int64), "label": ["x"],
                      "value": np.array([2500000.0]), "title": ["x"]}))
    assert [n["id"] for n in dataset_json(html, "nodes")] == ["1", "2"]
    assert dataset_json(html, "edges")[0]["value"] == 2500000.0


def test_cap_keeps_the_nodes_carrying_most_money_and_says_so():
    # money through each node: B 100+50=150, X 100+10=110, Y 50+5=55, Z 10, W 5 -> keep B, X, Y
    graph_nodes = nodes(["B", "X", "Y", "Z", "W"], kinds=["borrower", "account", "account", "terminal", "terminal"])
    graph_edges = edges([("B", "X", "", 100.0, ""), ("B", "Y", "", 50.0, ""), ("X", "Z", "", 10.0, ""),
                         ("Y", "W", "", 5.0, "")])
    html, capped = graph_html.render(graph_nodes, graph_edges, max_nodes=3)
    assert capped is True
    assert [n["id"] for n in dataset_json(html, "nodes")] == ["B", "X", "Y"]
    assert [(e["from"], e["to"]) for e in dataset_json(html, "edges")] == [("B", "X"), ("B", "Y")]


def test_cap_always_keeps_the_borrower():
    graph_nodes = nodes(["X", "Y", "B"], kinds=["account", "account", "borrower"])
    graph_edges = edges([("X", "Y", "", 1000.0, ""), ("B", "X", "", 1.0, "")])
    kept, kept_edges, capped = graph_html.cap_graph(graph_nodes, graph_edges, max_nodes=2)
    assert capped is True
    assert kept["id"].tolist() == ["X", "B"]
    assert list(zip(kept_edges["src"], kept_edges["dst"])) == [("B", "X")]


def test_no_cap_at_the_limit():
    graph_nodes = nodes(["B", "X"], kinds=["borrower", "account"])
    _, capped = graph_html.render(graph_nodes, edges([("B", "X", "", 1.0, "")]), max_nodes=2)
    assert capped is False


def test_loan_path_graph_aggregates_pairs_and_labels_hops():
    trace_edges = pd.DataFrame({
        "loan_id": ["L1"] * 4,
        "hop": [1, 2, 2, 3],
        "txn_id": ["t1", "t2", "t3", "t4"],
        "from_account": ["B", "X", "X", "Y"],
        "to_account": ["X", "Y", "Y", "Z"],
        "ts": ["2024-01-02T10:00:00", "2024-01-03T10:00:00", "2024-01-04T10:00:00", "2024-01-05T10:00:00"],
        "amount_cents": [100000, 30000, 20000, 50000],
        "channel": ["transfer"] * 4,
    })
    graph_nodes, graph_edges = graph_html.loan_path_graph(trace_edges, borrower_account="B")
    assert graph_nodes[["id", "kind", "level"]].values.tolist() == [
        ["B", "borrower", 0], ["X", "account", 1], ["Y", "account", 2], ["Z", "terminal", 3]]
    assert graph_edges[["src", "dst", "label", "value"]].values.tolist() == [
        ["B", "X", "hop 1: 1,000.00", 1000.0],
        ["X", "Y", "hop 2: 500.00", 500.0],  # two transfers of 300 and 200 become one edge
        ["Y", "Z", "hop 3: 500.00", 500.0],
    ]
    assert "2 transfer(s)" in graph_edges.loc[1, "title"]
    html, capped = graph_html.render(graph_nodes, graph_edges)
    assert capped is False
    assert '"level": 3' in html  # laid out left to right by hop


def test_loan_path_graph_without_edges_is_just_the_borrower():
    empty = pd.DataFrame(columns=["loan_id", "hop", "txn_id", "from_account", "to_account", "ts", "amount_cents",
                                  "channel"])
    graph_nodes, graph_edges = graph_html.loan_path_graph(empty, borrower_account="B")
    assert graph_nodes[["id", "kind"]].values.tolist() == [["B", "borrower"]]
    assert graph_edges.empty
    html, _ = graph_html.render(graph_nodes, graph_edges)
    assert [n["id"] for n in dataset_json(html, "nodes")] == ["B"]


def test_render_rejects_frames_without_the_columns():
    with pytest.raises(ValueError, match="missing columns"):
        graph_html.render(pd.DataFrame({"id": ["a"]}), edges([]))


def test_loan_path_graph_short_labels_keep_the_full_id_in_tooltips():
    trace_edges = pd.DataFrame({
        "loan_id": ["L1"], "hop": [1], "txn_id": ["t1"], "from_account": ["1202652136210228628"],
        "to_account": ["3100243668316981174"], "ts": ["2024-01-02T10:00:00"], "amount_cents": [250000],
        "channel": ["transfer"],
    })
    graph_nodes, graph_edges = graph_html.loan_path_graph(
        trace_edges, borrower_account="1202652136210228628",
        label_of={"1202652136210228628": "…228628", "3100243668316981174": "…981174"},
        title_of={"1202652136210228628": "1202652136210228628", "3100243668316981174": "3100243668316981174"})
    assert graph_nodes["label"].tolist() == ["…228628", "…981174"]
    assert graph_nodes["title"].tolist() == [
        "1202652136210228628\nborrower\nin: 0.00\nout: 2,500.00",
        "3100243668316981174\nend of the traced path\nin: 2,500.00\nout: 0.00"]
    assert graph_edges.loc[0, "title"].startswith("1202652136210228628 -> 3100243668316981174\nhop 1\n2,500.00\n")


def test_loan_path_graph_tooltips_follow_the_labels_by_default():
    empty = pd.DataFrame(columns=["loan_id", "hop", "txn_id", "from_account", "to_account", "ts", "amount_cents",
                                  "channel"])
    graph_nodes, _ = graph_html.loan_path_graph(empty, borrower_account="B", label_of={"B": "masked"})
    assert graph_nodes[["label", "title"]].values.tolist() == [["masked", "masked\nborrower"]]
