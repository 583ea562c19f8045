"""The map: the collection's UMAP layout as an interactive plotly scatter, hover previews, and the query on it."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from revsearch import clusters, labels, map_labels, projection, thumbnails
from revsearch.search import Hit
from revsearch.workspace import CollectionInfo
from ui import jobs, state

HOVER = 96  # px of the hover previews (their own thumbnail size, cached in the collection)
HOVER_LIMIT = 5000  # beyond this many points the map shows names only on hover (keeps the page light)
SVG_LIMIT = 3000  # up to this many points plain SVG (crisp, quick to draw); WebGL beyond
MAP_LIMIT = 20_000  # points drawn at most: a fixed sample beyond (the browser and the page stay quick at any size)
# 36 colours kept apart by hue and lightness (Kelly's colours of maximum contrast, then Tableau's and a few more),
# none close to the grey of "no cluster / unlabelled"; past 36 groups the symbol changes too, so 100+ stay apart.
PALETTE = ["#0067a5", "#e25822", "#008856", "#f3c300", "#875692", "#be0032", "#a1caf1", "#8db600", "#e68fac",
           "#654522", "#f99379", "#604e97", "#f6a600", "#b3446c", "#2b3d26", "#dcd300", "#882d17", "#00a6a6",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "star"]
UNLABELLED = "#c9ced6"
MARGIN = {"l": 10, "r": 10, "t": 36, "b": 10}
NAMES_WIDTH = 520  # px: the narrowest plot area the names are placed for (a 1100-px window with the sidebar open)


def ensure_map(info: CollectionInfo) -> bool:
    """Have a background job bring the stored map up to date when it is not (a fit takes a while); True when there
    is a map to draw meanwhile (the stored one), False when there is none yet (its progress is shown instead)."""
    coll = state.collection(info)
    if projection.is_current(coll):
        return True
    jobs.start(info, "map")
    jobs.progress(info, "map")
    if projection.map_size(coll):
        st.caption("The map is being updated in the background: this is its previous layout until it is done.")
        return True
    st.caption("Laying out the map in the background: it shows here when it is done.")
    return False


def state_key(info: CollectionInfo) -> str:
    """Changes whenever what the map shows changes: the stored map, labels, cluster names or membership."""
    coll = state.collection(info)
    return f"{coll.generation}/{projection.version(coll)}/{labels.version(coll)}/{clusters.version(coll)}"


@st.cache_data(show_spinner=False, max_entries=16)
def _points(directory: str, key: str, include: tuple[int, ...], _info: CollectionInfo) -> dict:
    coll = state.collection(_info)
    pts = projection.map_points(coll, update=False, limit=MAP_LIMIT, include=include)
    return {"id": [p.id for p in pts], "x": [p.x for p in pts], "y": [p.y for p in pts],
            "cluster": [p.cluster for p in pts], "label": [p.label for p in pts],
            "name": [Path(p.path).name for p in pts], "total": projection.map_size(coll)}


def points(info: CollectionInfo, include: Sequence[int] = ()) -> dict | None:
    """The map's points: every one, or a fixed sample of MAP_LIMIT plus `include` (e.g. a query's results);
    "total" says how many the whole map has. None while there is no map yet (it is being laid out)."""
    if not ensure_map(info):
        return None
    return _points(str(info.directory), state_key(info), tuple(sorted(set(include))), info)


def sampled_caption(pts: dict) -> None:
    if pts["total"] > len(pts["id"]):
        st.caption(f"Showing a fixed sample of {len(pts['id']):,} of the {pts['total']:,} images, so the map stays "
                   "quick; select a region to see and label the images there.")


@st.cache_data(show_spinner=False, max_entries=8)
def _hover_uris(directory: str, generation: int, ids: tuple[int, ...], _info: CollectionInfo) -> dict[int, str]:
    """Hover previews of the points shown (none beyond HOVER_LIMIT: names only, and no thumbnail is made)."""
    coll = state.collection(_info)
    if len(ids) > HOVER_LIMIT:
        return {}
    thumbs = thumbnails.thumbnails(coll, list(ids), HOVER)
    return {i: "data:image/jpeg;base64," + base64.b64encode(_lighter(data)).decode() for i, data in thumbs.items()}


def _lighter(jpeg: bytes, quality: int = 65) -> bytes:
    """Re-encode a hover preview at a lower JPEG quality: it is shown small, and the map's page weight halves."""
    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
        return buf.getvalue() if buf.tell() < len(jpeg) else jpeg
    except Exception:  # noqa: BLE001 - a damaged cached thumbnail: send it as it is
        return jpeg


def hover_uris(info: CollectionInfo, ids: Sequence[int]) -> dict[int, str]:
    if len(ids) > HOVER_LIMIT:
        return {}
    return _hover_uris(str(info.directory), state.collection(info).generation, tuple(ids), info)


def cluster_names(info: CollectionInfo) -> dict[int, str]:
    return {c: f"cluster {c} · {name}" if name else f"cluster {c}"
            for c, name in clusters.names(state.collection(info)).items()}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hover_text(pts: dict, n: int, names: dict[int, str]) -> str:
    cluster = pts["cluster"][n]
    label = pts["label"][n]
    parts = [f"<b>{_esc(pts['name'][n])}</b>"]
    if cluster is not None:
        parts.append(_esc(names.get(cluster, f"cluster {cluster}")))
    parts.append(f"label: {_esc(label)}" if label else "unlabelled")
    return "<br>".join(parts)


def figure(pts: dict, color_by: str, names: dict[int, str], uris: dict[int, str], height: int = 620,
           size: int | None = None, opacity: float = 0.9, show_names: bool = True) -> go.Figure:
    """One trace per cluster (or label); customdata = image id; the hover previews ride in each trace's meta.

    Each group's name is written near its centre (the median of its points) without overlapping another name, and
    the view is fitted to the points."""
    groups: dict[object, list[int]] = {}
    for n in range(len(pts["id"])):
        key = pts["cluster"][n] if color_by == "cluster" else pts["label"][n]
        groups.setdefault(key, []).append(n)

    def order(key: object) -> tuple:
        return (key is None, str(key) if color_by == "label" else (key if key is not None else 0))

    fig = go.Figure()
    size = size or marker_size(len(pts["id"]))
    named: list[tuple[str, str, tuple[float, float], int]] = []  # (name, colour, centre, size) of each group
    for g, key in enumerate(sorted(groups, key=order)):
        rows = groups[key]
        color, symbol = group_style(g, key is None)
        if key is None:
            name = "unlabelled" if color_by == "label" else "no cluster"
        else:
            name = names.get(key, str(key)) if color_by == "cluster" else str(key)
        fig.add_trace(scatter_type(len(pts["id"]))(
            x=[pts["x"][n] for n in rows], y=[pts["y"][n] for n in rows], mode="markers", name=name,
            marker={"size": size, "color": color, "symbol": symbol, "line": {"width": 0.5, "color": "white"},
                    "opacity": opacity},
            customdata=[[pts["id"][n]] for n in rows],
            hovertext=[_hover_text(pts, n, names) for n in rows], hovertemplate="%{hovertext}<extra></extra>",
            meta={"thumbs": [uris.get(pts["id"][n], "") for n in rows], "names": [pts["name"][n] for n in rows]},
        ))
        if show_names and key is not None:
            centre = (float(np.median([pts["x"][n] for n in rows])), float(np.median([pts["y"][n] for n in rows])))
            named.append((name.split(" · ", 1)[-1] if color_by == "cluster" else name, color, centre, len(rows)))
    _style(fig, height)
    ranges = fit(fig, pts["x"], pts["y"])
    if named and ranges is not None:
        write_names(fig, named, ranges, np.column_stack([pts["x"], pts["y"]]), height)
    fig.update_layout(dragmode="lasso", legend={"itemsizing": "constant", "y": 0.98, "yanchor": "top"})
    return fig


def write_names(fig: go.Figure, named: Sequence[tuple[str, str, tuple[float, float], int]],
                ranges: tuple[tuple[float, float], tuple[float, float]], points: np.ndarray, height: int) -> None:
    """Each group's name near its centre, where it overlaps no other name and covers few points (a leader line
    joins a name moved away; stacked groups may share one box): see revsearch.map_labels."""
    placed = map_labels.place_names([n for n, _, _, _ in named], [c for _, _, c, _ in named],
                                    [s for _, _, _, s in named], points, ranges[0], ranges[1], NAMES_WIDTH,
                                    height - MARGIN["t"] - MARGIN["b"])
    for p in placed:
        colour = named[p.groups[0]][1]
        box = {"x": p.x, "y": p.y, "text": _esc(p.text), "font": {"size": 12, "color": "#1d2433"},
               "bgcolor": "rgba(255,255,255,0.75)", "bordercolor": colour, "borderwidth": 1.5, "borderpad": 2}
        if p.leader:
            fig.add_annotation(**box, showarrow=True, ax=p.dx, ay=p.dy, arrowhead=0, arrowwidth=1.2,
                               arrowcolor=colour, standoff=2)
        else:
            fig.add_annotation(**box, showarrow=False, xshift=p.dx, yshift=-p.dy)


def group_style(g: int, missing: bool) -> tuple[str, str]:
    """(colour, marker symbol) of the g-th group: distinct colours first, then the symbol changes."""
    if missing:
        return UNLABELLED, "circle"
    return PALETTE[g % len(PALETTE)], SYMBOLS[(g // len(PALETTE)) % len(SYMBOLS)]


def fit(fig: go.Figure, xs: Sequence[float], ys: Sequence[float],
        pad: float = 0.06) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Fit the view to the points (a small margin around them), filling the canvas instead of keeping 1:1 units:
    only nearness matters on a UMAP map, and a square layout in a wide canvas left most of it empty. Returns the
    (x, y) ranges shown."""
    if not len(xs):
        return None
    ranges = []
    for axis, values in (("xaxis", xs), ("yaxis", ys)):
        lo, hi = float(min(values)), float(max(values))
        margin = (hi - lo) * pad or 1.0
        ranges.append((lo - margin, hi + margin))
        fig.update_layout({axis: {"range": list(ranges[-1])}})
    return ranges[0], ranges[1]


def marker_size(n: int) -> int:
    return 11 if n < 100 else 8 if n < 1500 else 5


def scatter_type(n: int) -> type:
    return go.Scatter if n <= SVG_LIMIT else go.Scattergl


def _style(fig: go.Figure, height: int) -> None:
    fig.update_layout(height=height, margin=MARGIN, plot_bgcolor="#fbfcfe",
                      paper_bgcolor="rgba(0,0,0,0)",
                      hoverlabel={"bgcolor": "white", "font": {"size": 12, "color": "#1d2433"}, "bordercolor": "#d5dae3"},
                      uirevision="map")
    fig.update_xaxes(visible=False, showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False, showgrid=False, zeroline=False)


def selected_ids(event: object) -> list[int]:
    """Image ids of the points picked with box / lasso / click."""
    try:
        chosen = event.selection.points  # type: ignore[attr-defined]
    except AttributeError:
        return []
    out: list[int] = []
    for point in chosen or []:
        data = point.get("customdata")
        if data:
            out.append(int(data[0] if isinstance(data, (list, tuple)) else data))
    return list(dict.fromkeys(out))


HOVER_JS = """
<script>
(function () {
  if (window.__revsearchHover) return;
  window.__revsearchHover = true;
  const panel = document.createElement('div');
  panel.id = 'revsearch-hover';
  panel.style.cssText = 'position:fixed;z-index:100000;display:none;pointer-events:none;background:#fff;' +
    'border:1px solid #d5dae3;border-radius:10px;padding:6px;box-shadow:0 6px 20px rgba(20,30,60,.18);' +
    'font:12px sans-serif;color:#1d2433;max-width:150px;text-align:center';
  const img = document.createElement('img');
  img.style.cssText = 'display:block;max-width:136px;max-height:136px;margin:0 auto 4px;border-radius:6px';
  const caption = document.createElement('div');
  caption.style.cssText = 'overflow:hidden;text-overflow:ellipsis;white-space:nowrap';
  panel.appendChild(img); panel.appendChild(caption);
  document.body.appendChild(panel);
  function place(e) {
    if (!e) return;
    const w = 160, h = 175;
    let x = e.clientX - w - 22, y = e.clientY - h / 2;
    if (x < 0) x = e.clientX + 22;
    if (y < 0) y = 8;
    if (y + h > window.innerHeight) y = e.clientY - h - 18;
    panel.style.left = x + 'px'; panel.style.top = y + 'px';
  }
  function hook() {
    document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
      if (gd.__revsearchHooked || typeof gd.on !== 'function') return;
      gd.__revsearchHooked = true;
      gd.on('plotly_hover', function (ev) {
        const p = ev && ev.points && ev.points[0];
        if (!p || !p.data || !p.data.meta || !p.data.meta.thumbs) return;
        const uri = p.data.meta.thumbs[p.pointNumber];
        if (!uri) return;
        img.src = uri;
        caption.textContent = (p.data.meta.names && p.data.meta.names[p.pointNumber]) || '';
        place(ev.event);
        panel.style.display = 'block';
      });
      gd.on('plotly_unhover', function () { panel.style.display = 'none'; });
      gd.on('plotly_selecting', function () { panel.style.display = 'none'; });
    });
  }
  hook();
  setInterval(hook, 600);
})();
</script>
"""


def hover_previews() -> None:
    """Show a thumbnail beside the mouse when hovering a point of any map on the page (plotly hover events)."""
    st.html(HOVER_JS, unsafe_allow_javascript=True)


def collection_map(info: CollectionInfo, color_by: str, key: str, height: int = 620, size: int | None = None,
                   opacity: float = 0.9, show_names: bool = True) -> list[int]:
    """The interactive map; returns the ids of the images picked by the last box, lasso or click."""
    pts = points(info)
    if pts is None:
        return []
    if not pts["id"]:
        st.info("The map is empty: the collection has no indexed images yet.")
        return []
    fig = figure(pts, color_by, cluster_names(info), hover_uris(info, pts["id"]), height, size, opacity, show_names)
    sampled_caption(pts)
    hover_previews()
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key=key,
                            config={"displaylogo": False, "scrollZoom": True,
                                    "modeBarButtonsToRemove": ["toImage", "autoScale2d"]})
    return selected_ids(event)


def query_position(pts: dict, hits: Sequence[Hit]) -> tuple[float, float] | None:
    """Where the query sits on the map: the similarity-weighted centre of its closest results' positions."""
    where = {i: n for n, i in enumerate(pts["id"])}
    near = [(h, where[h.id]) for h in hits[:5] if h.id in where]
    if not near:
        return None
    weights = np.array([max(h.score, 1e-3) ** 4 for h, _ in near])
    xs = np.array([pts["x"][n] for _, n in near])
    ys = np.array([pts["y"][n] for _, n in near])
    return float((weights * xs).sum() / weights.sum()), float((weights * ys).sum() / weights.sum())


def query_map(info: CollectionInfo, query_name: str, hits: Sequence[Hit], height: int = 560) -> None:
    """The whole collection in grey, the results highlighted with their rank, lines from the query to each."""
    pts = points(info, include=[h.id for h in hits])
    if pts is None:
        return
    where = {i: n for n, i in enumerate(pts["id"])}
    names = cluster_names(info)
    uris = hover_uris(info, pts["id"])
    fig = go.Figure()
    fig.add_trace(scatter_type(len(pts["id"]))(
        x=pts["x"], y=pts["y"], mode="markers", name="collection",
        marker={"size": 7, "color": UNLABELLED, "opacity": 0.7},
        customdata=[[i] for i in pts["id"]],
        hovertext=[_hover_text(pts, n, names) for n in range(len(pts["id"]))],
        hovertemplate="%{hovertext}<extra></extra>",
        meta={"thumbs": [uris.get(i, "") for i in pts["id"]], "names": pts["name"]}))
    shown = [(rank, h, where[h.id]) for rank, h in enumerate(hits, 1) if h.id in where]
    origin = query_position(pts, hits)
    if origin is not None:
        lx, ly = [], []
        for _, _, n in shown:
            lx += [origin[0], pts["x"][n], None]
            ly += [origin[1], pts["y"][n], None]
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line={"color": "rgba(47,111,222,0.35)", "width": 1.5},
                                 hoverinfo="skip", showlegend=False))
    if shown:
        fig.add_trace(go.Scatter(
            x=[pts["x"][n] for _, _, n in shown], y=[pts["y"][n] for _, _, n in shown], mode="markers+text",
            name="results", text=[str(r) for r, _, _ in shown], textposition="top center",
            textfont={"size": 11, "color": "#1d2433"},
            marker={"size": 12, "color": [h.score for _, h, _ in shown], "colorscale": "Blues", "cmin": 0,
                    "cmax": 1, "line": {"width": 1, "color": "#1d2433"}},
            customdata=[[h.id] for _, h, _ in shown],
            hovertext=[f"<b>#{r} · score {h.score:.3f}</b><br>{_hover_text(pts, n, names)}" for r, h, n in shown],
            hovertemplate="%{hovertext}<extra></extra>",
            meta={"thumbs": [uris.get(h.id, "") for _, h, _ in shown],
                  "names": [f"#{r} · score {h.score:.3f} · {pts['name'][n]}" for r, h, n in shown]}))
    if origin is not None:
        fig.add_trace(go.Scatter(x=[origin[0]], y=[origin[1]], mode="markers", name="query",
                                 marker={"symbol": "star", "size": 22, "color": "#e4572e",
                                         "line": {"width": 1.5, "color": "white"}},
                                 hovertext=[f"<b>query</b><br>{_esc(query_name)}"],
                                 hovertemplate="%{hovertext}<extra></extra>"))
    _style(fig, height)
    around = [origin] if origin is not None else []
    view = neighbourhood(around + [(pts["x"][n], pts["y"][n]) for _, _, n in shown], pts["x"], pts["y"])
    if view is None:
        fit(fig, pts["x"], pts["y"])
    else:
        fig.update_layout(xaxis={"range": list(view[0])}, yaxis={"range": list(view[1])})
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": 1.02, "x": 0})
    hover_previews()
    st.plotly_chart(fig, key="query_map", config={"displaylogo": False, "scrollZoom": True})
    sampled_caption(pts)
    st.caption("The star is placed among its closest results; lines join it to every result shown, numbered by "
               "rank. Hover a point to preview it; a result's hover shows its score."
               + (" The view is zoomed to the query's neighbourhood: double-click the map to see the whole "
                  "collection." if view is not None else ""))


def neighbourhood(near: Sequence[tuple[float, float]], xs: Sequence[float], ys: Sequence[float],
                  pad: float = 0.25, least: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """(x, y) ranges around the points `near` (the query and its results), padded by `pad` of their span and at
    least `least` of the whole map's span on each axis; None when that would show (almost) the whole map anyway."""
    if not near or not len(xs):
        return None
    ranges = []
    for values, whole in ((np.array([p[0] for p in near]), xs), (np.array([p[1] for p in near]), ys)):
        lo, hi = float(values.min()), float(values.max())
        full = float(max(whole)) - float(min(whole)) or 1.0
        half = max((hi - lo) * (1 + 2 * pad), least * full) / 2
        ranges.append(((lo + hi) / 2 - half, (lo + hi) / 2 + half, 2 * half / full))
    if all(share >= 0.9 for _, _, share in ranges):
        return None
    return (ranges[0][0], ranges[0][1]), (ranges[1][0], ranges[1][1])
