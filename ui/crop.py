"""A region picker for region search: draw a box on the picture (Plotly's box select), or type its numbers.

The picture is a Plotly image in the pixel units of the original, so the box drawn comes back as x, y, width and
height in pixels of the original — the same numbers the CLI's `search --crop x,y,w,h` takes. Four number boxes show
them and accept typed values (keyboard, exact edits). The region is held in session_state under the picker's key
and clamped to the image, so no state is ever stuck or empty; a new drag replaces it, "Whole image" resets it.
Each change starts a new chart (its key has a round number), so the box Plotly drew gives way to the region's own
outline, with the outside dimmed.
"""

from __future__ import annotations

import base64
import io
from functools import partial

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from revsearch.regions import Box

PREVIEW = 480  # longest side of the picture drawn, in pixels
HEIGHT = 380  # px of the chart
FIELDS = ("x", "y", "w", "h")
DIM = "rgba(15,18,28,0.55)"


def clamp(box: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    """A box (x, y, w, h, any floats, possibly past the edges) as whole pixels inside the image, at least 1 × 1."""
    width, height = size
    x0 = min(max(0, round(box[0])), width - 1)
    y0 = min(max(0, round(box[1])), height - 1)
    x1 = min(max(x0 + 1, round(box[0] + box[2])), width)
    y1 = min(max(y0 + 1, round(box[1] + box[3])), height)
    return x0, y0, x1 - x0, y1 - y0


def from_selection(selection: object, size: tuple[int, int]) -> Box | None:
    """The last box drawn in a plotly_chart selection state ({"selection": {"box": [{"x": [..], "y": [..]}]}})."""
    try:
        drawn = selection["selection"]["box"]  # type: ignore[index]
        xs, ys = drawn[-1]["x"], drawn[-1]["y"]
    except (KeyError, IndexError, TypeError):
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return clamp((x0, y0, x1 - x0, y1 - y0), size)


def _set(key: str, box: Box) -> None:
    """Make `box` the region: its number boxes follow, and the chart starts afresh (its drawn box goes)."""
    st.session_state[f"{key}_box"] = box
    for name, value in zip(FIELDS, box):
        st.session_state[f"{key}_{name}"] = value
    st.session_state[f"{key}_round"] = st.session_state.get(f"{key}_round", 0) + 1


def _drawn(key: str, chart_key: str, size: tuple[int, int]) -> None:
    box = from_selection(st.session_state.get(chart_key), size)
    if box is not None:
        _set(key, box)


def _typed(key: str, size: tuple[int, int]) -> None:
    values = [st.session_state.get(f"{key}_{name}") or 0 for name in FIELDS]
    _set(key, clamp(tuple(float(v) for v in values), size))  # type: ignore[arg-type]


def figure(uri: str, size: tuple[int, int], scale: float, box: Box) -> go.Figure:
    """The picture in original-pixel units (y down), the region outlined and the rest dimmed; box select on."""
    width, height = size
    x, y, w, h = box
    fig = go.Figure(go.Image(source=uri, x0=scale / 2, y0=scale / 2, dx=scale, dy=scale, hoverinfo="skip"))
    if box != (0, 0, width, height):
        for x0, y0, x1, y1 in ((0, 0, width, y), (0, y + h, width, height), (0, y, x, y + h),
                               (x + w, y, width, y + h)):
            if x1 > x0 and y1 > y0:
                fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, fillcolor=DIM, line={"width": 0})
        fig.add_shape(type="rect", x0=x, y0=y, x1=x + w, y1=y + h, line={"color": "#ff4b4b", "width": 2.5})
    fig.update_layout(dragmode="select", height=HEIGHT, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      newselection={"line": {"color": "#ff4b4b", "width": 2, "dash": "dot"}})
    fig.update_xaxes(visible=False, range=[0, width], fixedrange=True)
    fig.update_yaxes(visible=False, range=[height, 0], fixedrange=True, scaleanchor="x")
    return fig


def _jpeg_uri(img: Image.Image) -> tuple[str, float]:
    small = img.convert("RGB")
    small.thumbnail((PREVIEW, PREVIEW))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), small.width


def region_picker(img: Image.Image, size: tuple[int, int], key: str, initial: Box | None = None) -> Box:
    """Draw or type the region of an image of `size` (w, h); `img` is a display copy of any scale. Returns the
    region in pixels of the original (the whole image until one is drawn)."""
    width, height = size
    if f"{key}_box" not in st.session_state:
        _set(key, clamp(initial, size) if initial is not None else (0, 0, width, height))
    box: Box = st.session_state[f"{key}_box"]
    uri, shown_width = _jpeg_uri(img)
    chart_key = f"{key}_chart_{st.session_state.get(f'{key}_round', 0)}"
    left, right = st.columns([3, 2], vertical_alignment="top")
    with left:
        st.plotly_chart(figure(uri, size, width / shown_width, box), key=chart_key,
                        on_select=partial(_drawn, key, chart_key, size), selection_mode="box", width="stretch",
                        config={"displayModeBar": False, "displaylogo": False, "scrollZoom": False},
                        alt="the picture: drag on it to draw the region to search with")
    with right:
        st.caption("Drag on the picture to draw the region, or type it in pixels of the original:")
        cols = st.columns(2)
        labels = ("Left (x)", "Top (y)", "Width", "Height")
        limits = ((0, width - 1), (0, height - 1), (1, width), (1, height))
        for n, (name, label, (lo, hi)) in enumerate(zip(FIELDS, labels, limits)):
            cols[n % 2].number_input(label, min_value=lo, max_value=hi, step=1, key=f"{key}_{name}",
                                     on_change=_typed, args=(key, size))
        st.caption(f"Region x {box[0]}, y {box[1]}, {box[2]} × {box[3]} px of {width} × {height} "
                   f"(CLI: `--crop {box[0]},{box[1]},{box[2]},{box[3]}`)")
        st.button("Whole image", key=f"{key}_whole", icon=":material/fit_screen:", on_click=_set,
                  args=(key, (0, 0, width, height)), disabled=box == (0, 0, width, height),
                  help="search with the whole picture again")
    return box
